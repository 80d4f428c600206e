//! WATCH key [key ...] / UNWATCH

use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::transaction::unwatch_all;

pub fn watch(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let watching = ctx.client.watching.get_or_insert_with(Default::default);
    let ks = &ctx.shared.keyspace;
    for key in args.tail(1).iter() {
        if watching.keys.iter().any(|(k, _)| k == key) {
            continue;
        }
        let h = ks.hash(key);
        let mut shard = ks.lock(h);
        let exists = shard.peek(h, key, ctx.now).is_some();
        shard.watch(key, &watching.flag);
        watching.keys.push((key.to_vec(), exists));
    }
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}
