//! MGET key [key ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Values in order; a missing key or a non-string gives a null. Atomic: every shard involved
/// is locked for the whole read.
pub fn mget(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let keys = args.tail(1);
    let hashes: Vec<u64> = keys.iter().map(|k| ks.hash(k)).collect();
    let mut set = ks.lock_many(&hashes);
    ctx.out.array(keys.len());
    for (key, &h) in keys.iter().zip(&hashes) {
        match set.shard(h).get(h, key, ctx.now) {
            Some(e) => match e.value().as_str() {
                Some(s) => s.with_bytes(|b| ctx.out.bulk(b)),
                None => ctx.out.null(),
            },
            None => ctx.out.null(),
        }
    }
    Ok(())
}
