//! SADD / SREM key member [member ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn sadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let added = crate::cmd::write_collection_if(ctx, args.get(1), true, |set: &mut store::Set| {
        let n = args.tail(2).iter().filter(|m| set.insert(m)).count();
        (n, n > 0)
    })?
    .unwrap_or(0);
    ctx.out.int(added as i64);
    Ok(())
}

/// Removing the last member deletes the key.
pub fn srem(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let removed =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |set: &mut store::Set| {
            let n = args.tail(2).iter().filter(|m| set.remove(m)).count();
            (n, n > 0)
        })?
        .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
