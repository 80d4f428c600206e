//! INCR / DECR / INCRBY / DECRBY
use resp::Args;
use store::{Str, Ttl, Value};

use crate::cmd::{as_str, int_arg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Adds `by` to the integer at `key` (0 if absent), keeping its TTL. An int-encoded value
/// is updated in place.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let new = match shard.get_mut(h, key, ctx.now) {
        Some(mut e) => {
            let current = as_str(e.value())?.as_i64().ok_or(CmdError::NotInteger)?;
            let new = current.checked_add(by).ok_or(CmdError::Overflow)?;
            if e.set_int_in_place(new) {
                shard.modified(key);
                ctx.out.int(new);
                return Ok(());
            }
            new
        }
        None => by,
    };
    shard.set(h, key, Value::Str(Str::Int(new)), Ttl::Keep, ctx.now);
    ctx.out.int(new);
    Ok(())
}

pub fn incr(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    incr_by(ctx, args.get(1), 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    incr_by(ctx, args.get(1), -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let by = int_arg(args.get(2))?;
    incr_by(ctx, args.get(1), by)
}

pub fn decrby(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let by = int_arg(args.get(2))?;
    if by == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, args.get(1), -by)
}
