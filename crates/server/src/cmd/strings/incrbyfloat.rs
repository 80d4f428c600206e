//! INCRBYFLOAT key increment
use resp::Args;
use store::float::{incr_by_float, FloatError};
use store::{Str, Ttl, Value};

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Adds a float with Redis's 80-bit arithmetic and formatting (see `store::float`); the
/// result is stored as a string (never int-encoded) and the TTL is kept.
pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let current = match shard.get_mut(h, key, ctx.now) {
        Some(e) => as_str(e.value())?.to_vec(),
        None => b"0".to_vec(),
    };
    let result = incr_by_float(&current, args.get(2)).map_err(|e| match e {
        FloatError::NotAFloat => CmdError::NotFloat,
        FloatError::NanOrInfinity => CmdError::err("increment would produce NaN or Infinity"),
    })?;
    shard.set(
        h,
        key,
        Value::Str(Str::from_bytes_no_int(result.as_bytes())),
        Ttl::Keep,
        ctx.now,
    );
    // Replicas store the result rather than redo the arithmetic (as Redis).
    crate::replication::log::rewrite_parts(&[b"SET", key, result.as_bytes(), b"KEEPTTL"]);
    ctx.out.bulk(result.as_bytes());
    Ok(())
}
