//! SETNX key value
use resp::Args;
use store::Ttl;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Sets the key only if it does not exist; replies 1 if set, 0 if not.
pub fn setnx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    if shard.get_mut(h, key, ctx.now).is_some() {
        ctx.out.int(0);
    } else {
        shard.set_str(h, key, args.get(2), Ttl::Clear, ctx.now);
        ctx.out.int(1);
    }
    Ok(())
}
