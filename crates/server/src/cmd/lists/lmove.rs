//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT / RPOPLPUSH source destination
use resp::Args;

use super::{parse_end, End};
use crate::command::Ctx;
use crate::error::CmdResult;
pub(crate) use crate::listops::move_element;

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
