//! SMOVE source destination member
use resp::Args;
use store::Set;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Moves a member between sets atomically (both shards locked); 1 if moved. Both keys are
/// type-checked first, as Redis does, and moving within one set is a membership test.
pub fn smove(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    let ks = &ctx.shared.keyspace;
    let (hs, hd) = (ks.hash(src), ks.hash(dst));
    let mut set = ks.lock_many(&[hs, hd]);
    let src_is_member = match set.shard(hs).peek(hs, src, ctx.now) {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(e) => e
            .value()
            .as_set()
            .ok_or(CmdError::WrongType)?
            .contains(member),
    };
    if let Some(e) = set.shard(hd).peek(hd, dst, ctx.now) {
        e.value().as_set().ok_or(CmdError::WrongType)?;
    }
    if src == dst || !src_is_member {
        ctx.out.int(src_is_member as i64);
        return Ok(());
    }
    set.shard(hs)
        .modify::<Set, _>(hs, src, ctx.now, false, |s| s.remove(member))
        .map_err(|()| CmdError::WrongType)?;
    // Redis's order: the removal (and `del` of an emptied source), then `new`, `sadd`.
    crate::notify::event(ctx.shared, crate::notify::SET, "srem", src);
    let added = set
        .shard(hd)
        .modify::<Set, _>(hd, dst, ctx.now, true, |s| s.insert(member))
        .map_err(|()| CmdError::WrongType)?;
    drop(set);
    if added == Some(true) {
        crate::notify::event(ctx.shared, crate::notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}
