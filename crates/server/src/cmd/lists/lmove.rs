//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT / RPOPLPUSH source destination
use resp::Args;
use store::List;

use super::{parse_end, End};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Pops from one end of `source` and pushes onto one end of `destination` atomically (both
/// shards locked together); the same key rotates the list. `None` when `source` is missing.
/// Shared with BLMOVE, also when it serves a blocked client.
pub(crate) fn move_element(
    ks: &store::Keyspace,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now: u64,
) -> Result<Option<Vec<u8>>, CmdError> {
    let (hs, hd) = (ks.hash(src), ks.hash(dst));
    let mut set = ks.lock_many(&[hs, hd]);
    match set.shard(hs).peek(hs, src, now) {
        None => return Ok(None),
        Some(e) if e.value().as_list().is_none() => return Err(CmdError::WrongType),
        Some(_) => {}
    }
    if let Some(e) = set.shard(hd).peek(hd, dst, now) {
        if e.value().as_list().is_none() {
            return Err(CmdError::WrongType);
        }
    }
    let element = set
        .shard(hs)
        .modify::<List, _>(hs, src, now, false, |l| match from {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        })
        .map_err(|()| CmdError::WrongType)?
        .flatten()
        .expect("source list is not empty");
    set.shard(hd)
        .modify::<List, _>(hd, dst, now, true, |l| match to {
            End::Left => l.push_front(&element),
            End::Right => l.push_back(&element),
        })
        .map_err(|()| CmdError::WrongType)?;
    Ok(Some(element))
}

fn lmove_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    match move_element(&ctx.shared.keyspace, src, dst, from, to, ctx.now)? {
        Some(element) => ctx.out.bulk(&element),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn lmove(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (from, to) = (parse_end(args.get(3))?, parse_end(args.get(4))?);
    lmove_generic(ctx, args.get(1), args.get(2), from, to)
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    lmove_generic(ctx, args.get(1), args.get(2), End::Right, End::Left)
}
