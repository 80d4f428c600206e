//! MSET key value [key value ...] / MSETNX key value [key value ...]
use resp::Args;
use store::Ttl;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Sets every pair atomically (all shards involved locked together). With `only_if_none`,
/// sets nothing if any key exists.
fn mset_generic(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    only_if_none: bool,
    name: &str,
) -> Result<bool, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    let ks = &ctx.shared.keyspace;
    let pairs = (args.len() - 1) / 2;
    let hashes: Vec<u64> = (0..pairs).map(|i| ks.hash(args.get(1 + 2 * i))).collect();
    let mut set = ks.lock_many(&hashes);
    if only_if_none {
        for (i, &h) in hashes.iter().enumerate() {
            let key = args.get(1 + 2 * i);
            if set.shard(h).get_mut(h, key, ctx.now).is_some() {
                return Ok(false);
            }
        }
    }
    for (i, &h) in hashes.iter().enumerate() {
        let key = args.get(1 + 2 * i);
        set.shard(h)
            .set_str(h, key, args.get(2 + 2 * i), Ttl::Clear, ctx.now);
        crate::notify::event(ctx.shared, crate::notify::STRING, "set", key);
    }
    Ok(true)
}

pub fn mset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    mset_generic(ctx, args, false, "mset")?;
    ctx.out.ok();
    Ok(())
}

pub fn msetnx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let done = mset_generic(ctx, args, true, "msetnx")?;
    ctx.out.int(done as i64);
    Ok(())
}
