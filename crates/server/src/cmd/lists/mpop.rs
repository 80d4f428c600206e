//! LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
//! BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
use resp::Args;

use super::parse_end;
use crate::blocking::BlockOp;
use crate::cmd::blocking_pop::{parse_mpop, parse_timeout, pop_or_block};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Pops up to `count` elements from the first non-empty list; `[key, [elements]]`.
pub fn lmpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 1, ["left", "right"])?;
    let end = parse_end(end).map_err(|_| CmdError::Syntax)?;
    pop_or_block(ctx, keys, BlockOp::PopMany { end, count }, None)
}

/// LMPOP that waits for a list to pop from.
pub fn blmpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 2, ["left", "right"])?;
    let end = parse_end(end).map_err(|_| CmdError::Syntax)?;
    let deadline = parse_timeout(args.get(1))?;
    pop_or_block(ctx, keys, BlockOp::PopMany { end, count }, Some(deadline))
}
