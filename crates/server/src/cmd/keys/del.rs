//! DEL key [key ...] / UNLINK key [key ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes the keys; replies with how many existed. UNLINK is the same here: values are freed
/// outside the shard lock either way (the removed entry is dropped after the lock is released).
pub fn del(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let mut removed = 0;
    for key in args.tail(1).iter() {
        let h = ks.hash(key);
        let entry = ks.lock(h).remove(h, key, ctx.now);
        removed += entry.is_some() as i64;
        drop(entry);
    }
    ctx.out.int(removed);
    Ok(())
}

pub fn unlink(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    del(ctx, args)
}
