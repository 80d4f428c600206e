//! GETDEL key
use resp::Args;

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Replies with the value and deletes the key (only if it holds a string).
pub fn getdel(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    match shard.get(h, key, ctx.now) {
        None => ctx.out.null(),
        Some(e) => {
            as_str(e.value())?.with_bytes(|b| ctx.out.bulk(b));
            shard.remove(h, key, ctx.now);
            // Replicas delete it (Redis rewrites GETDEL as DEL).
            crate::replication::log::rewrite_parts(&[b"DEL", key]);
        }
    }
    Ok(())
}
