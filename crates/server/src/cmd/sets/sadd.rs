//! SADD / SREM key member [member ...]
use resp::Args;

use super::write_set;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn sadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let added = write_set(ctx, args.get(1), true, |set| {
        args.tail(2).iter().filter(|m| set.insert(m)).count()
    })?
    .unwrap_or(0);
    ctx.out.int(added as i64);
    Ok(())
}

/// Removing the last member deletes the key.
pub fn srem(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let removed = write_set(ctx, args.get(1), false, |set| {
        args.tail(2).iter().filter(|m| set.remove(m)).count()
    })?
    .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
