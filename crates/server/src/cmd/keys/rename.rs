//! RENAME key newkey / RENAMENX key newkey
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Moves the value (with its TTL) to `newkey`, replacing it unless `nx`. Both shards are
/// locked together, so no client sees the key in both places or in neither.
fn rename_generic(ctx: &mut Ctx<'_>, args: Args<'_>, nx: bool) -> Result<bool, CmdError> {
    let (src, dst) = (args.get(1), args.get(2));
    let ks = &ctx.shared.keyspace;
    let (hs, hd) = (ks.hash(src), ks.hash(dst));
    let mut set = ks.lock_many(&[hs, hd]);
    if set.shard(hs).get_mut(hs, src, ctx.now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && set.shard(hd).get_mut(hd, dst, ctx.now).is_some() {
        return Ok(false);
    }
    let entry = set
        .shard(hs)
        .remove(hs, src, ctx.now)
        .expect("checked above");
    set.shard(hd).insert_entry(hd, dst, entry, ctx.now);
    drop(set);
    crate::notify::forget_del(src);
    crate::notify::event(ctx.shared, crate::notify::GENERIC, "rename_from", src);
    crate::notify::event(ctx.shared, crate::notify::GENERIC, "rename_to", dst);
    Ok(true)
}

pub fn rename(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    rename_generic(ctx, args, false)?;
    ctx.out.ok();
    Ok(())
}

pub fn renamenx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let done = rename_generic(ctx, args, true)?;
    ctx.out.int(done as i64);
    Ok(())
}
