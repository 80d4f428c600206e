//! EXISTS key [key ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Counts the given keys that exist; a key named twice counts twice.
pub fn exists(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let n = args
        .tail(1)
        .iter()
        .filter(|key| {
            let h = ks.hash(key);
            ks.lock(h).exists(h, key, ctx.now)
        })
        .count();
    ctx.out.int(n as i64);
    Ok(())
}
