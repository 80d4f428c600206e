//! HINCRBY key field increment / HINCRBYFLOAT key field increment
use resp::Args;
use store::float::{incr_by_float, FloatError};

use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn hincrby(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let by = int_arg(args.get(3))?;
    let field = args.get(2);
    // A refused increment changes nothing, so it breaks no WATCH (as in Redis).
    let result =
        crate::cmd::write_collection_if(ctx, args.get(1), true, |hash: &mut store::Hash| {
            let new = (|| {
                let current = match hash.get(field) {
                    Some(v) => resp::number::parse_i64(v)
                        .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
                    None => 0,
                };
                let new = current.checked_add(by).ok_or(CmdError::Overflow)?;
                hash.insert(field, itoa::Buffer::new().format(new).as_bytes());
                Ok::<i64, CmdError>(new)
            })();
            let changed = new.is_ok();
            (new, changed)
        })?
        .expect("created");
    ctx.out.int(result?);
    Ok(())
}

/// Same 80-bit arithmetic and formatting as INCRBYFLOAT.
pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let increment = args.get(3);
    // Redis validates the increment before touching the hash.
    store::float::check_increment(increment).map_err(|e| match e {
        FloatError::NotAFloat => CmdError::NotFloat,
        FloatError::NanOrInfinity => CmdError::err("value is NaN or Infinity"),
    })?;
    let field = args.get(2);
    let result =
        crate::cmd::write_collection_if(ctx, args.get(1), true, |hash: &mut store::Hash| {
            let current = hash.get(field).unwrap_or(b"0").to_vec();
            let new = incr_by_float(&current, increment).map_err(|e| match e {
                FloatError::NotAFloat => CmdError::err("hash value is not a float"),
                FloatError::NanOrInfinity => {
                    CmdError::err("increment would produce NaN or Infinity")
                }
            });
            if let Ok(new) = &new {
                hash.insert(field, new.as_bytes());
            }
            let changed = new.is_ok();
            (new, changed)
        })?
        .expect("created");
    let result = result?;
    crate::replication::log::rewrite_parts(&[b"HSET", args.get(1), field, result.as_bytes()]);
    ctx.out.bulk(result.as_bytes());
    Ok(())
}
