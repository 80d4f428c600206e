//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT / RPOPLPUSH source destination
use resp::Args;

use super::{parse_end, End};
use crate::command::Ctx;
use crate::error::CmdResult;
pub(crate) use crate::listops::move_element;

fn lmove_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    match move_element(&ctx.shared.keyspace, src, dst, from, to, ctx.now)? {
        Some(element) => {
            moved_events(ctx.shared, src, dst, from, to);
            ctx.out.bulk(&element)
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// Redis's events for a move between lists: the push on the destination, the pop on the
/// source (then `del` if that emptied it).
pub(crate) fn moved_events(shared: &crate::Shared, src: &[u8], dst: &[u8], from: End, to: End) {
    let push = if to == End::Left { "lpush" } else { "rpush" };
    let pop = if from == End::Left { "lpop" } else { "rpop" };
    crate::notify::event(shared, crate::notify::LIST, push, dst);
    crate::notify::event(shared, crate::notify::LIST, pop, src);
}

pub fn lmove(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (from, to) = (parse_end(args.get(3))?, parse_end(args.get(4))?);
    lmove_generic(ctx, args.get(1), args.get(2), from, to)
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    lmove_generic(ctx, args.get(1), args.get(2), End::Right, End::Left)
}
