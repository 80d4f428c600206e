//! LPUSH / RPUSH / LPUSHX / RPUSHX key element [element ...]
use resp::Args;

use super::{write_list, End};
use crate::command::Ctx;
use crate::error::CmdResult;

/// Pushes every element in order (LPUSH a b c leaves c first); replies with the new length.
/// The X forms push only onto an existing list (0 otherwise).
fn push(ctx: &mut Ctx<'_>, args: Args<'_>, end: End, create: bool) -> CmdResult {
    let len = write_list(ctx, args.get(1), create, |list| {
        for e in args.tail(2).iter() {
            match end {
                End::Left => list.push_front(e),
                End::Right => list.push_back(e),
            }
        }
        list.len()
    })?
    .unwrap_or(0);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn lpush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    push(ctx, args, End::Left, true)
}

pub fn rpush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    push(ctx, args, End::Right, true)
}

pub fn lpushx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    push(ctx, args, End::Left, false)
}

pub fn rpushx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    push(ctx, args, End::Right, false)
}
