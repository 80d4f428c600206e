//! APPEND key value
use resp::Args;
use store::shard::Ttl;
use store::{Str, Value};

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Appends to the string (creating it, encoded like SET would, if absent); replies with the
/// new length.
pub fn append(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, tail) = (args.get(1), args.get(2));
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get_mut(h, key, ctx.now) else {
        let value = Str::from_bytes(tail);
        let len = value.len();
        shard.set(h, key, Value::Str(value), Ttl::Clear, ctx.now);
        ctx.out.int(len as i64);
        return Ok(());
    };
    let len = as_str(&e.value)?.len();
    super::check_length(ctx, len as u64, tail.len() as u64)?;
    let Value::Str(s) = &mut e.value;
    let raw = s.make_raw();
    raw.extend_from_slice(tail);
    ctx.out.int(raw.len() as i64);
    Ok(())
}
