//! PERSIST key
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes the TTL; 1 if there was one, 0 otherwise.
pub fn persist(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let had_ttl = shard
        .get_mut(h, key, ctx.now)
        .is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        shard.set_expire(h, key, None, ctx.now);
    }
    ctx.out.int(had_ttl as i64);
    Ok(())
}
