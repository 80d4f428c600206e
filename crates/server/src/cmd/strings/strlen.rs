//! STRLEN key
use resp::Args;

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn strlen(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let len = match shard.get(h, key, ctx.now) {
        Some(e) => as_str(e.value())?.len(),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}
