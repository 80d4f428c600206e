//! GET key
use resp::Args;

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Replies with the value, or a null bulk when the key does not exist.
pub fn get(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    match shard.get(h, key, ctx.now) {
        None => ctx.out.null(),
        Some(e) => as_str(e.value())?.with_bytes(|b| ctx.out.bulk(b)),
    }
    Ok(())
}
