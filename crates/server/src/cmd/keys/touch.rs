//! TOUCH key [key ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Records an access on each existing key; replies with how many exist.
pub fn touch(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let n = args
        .tail(1)
        .iter()
        .filter(|key| {
            let h = ks.hash(key);
            ks.lock(h).get_mut(h, key, ctx.now).is_some()
        })
        .count();
    ctx.out.int(n as i64);
    Ok(())
}
