//! GETSET key value
use resp::Args;
use store::Ttl;

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Sets a new value (clearing the TTL) and replies with the old one.
pub fn getset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let old = match shard.get(h, key, ctx.now) {
        Some(e) => Some(as_str(e.value())?.to_vec()),
        None => None,
    };
    shard.set_str(h, key, args.get(2), Ttl::Clear, ctx.now);
    match old {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}
