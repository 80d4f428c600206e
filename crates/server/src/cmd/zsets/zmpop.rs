//! ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
//! BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
//! BZPOPMIN / BZPOPMAX key [key ...] timeout
use resp::Args;

use crate::blocking::BlockOp;
use crate::cmd::blocking_pop::{parse_mpop, parse_timeout, pop_or_block};
use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

fn parse_min_max(a: &[u8]) -> Result<bool, CmdError> {
    if is(a, "min") {
        Ok(false)
    } else if is(a, "max") {
        Ok(true)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Pops up to `count` members from the first non-empty sorted set:
/// `[key, [[member, score], ...]]`.
pub fn zmpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 1, ["min", "max"])?;
    let max = parse_min_max(end)?;
    let op = BlockOp::ZPop {
        max,
        count: Some(count),
    };
    pop_or_block(ctx, keys, op, None)
}

/// ZMPOP that waits for a sorted set to pop from.
pub fn bzmpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 2, ["min", "max"])?;
    let max = parse_min_max(end)?;
    let deadline = parse_timeout(args.get(1))?;
    let op = BlockOp::ZPop {
        max,
        count: Some(count),
    };
    pop_or_block(ctx, keys, op, Some(deadline))
}

fn bzpop(ctx: &mut Ctx<'_>, args: Args<'_>, max: bool) -> CmdResult {
    let deadline = parse_timeout(args.get(args.len() - 1))?;
    let keys = (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect();
    pop_or_block(
        ctx,
        keys,
        BlockOp::ZPop { max, count: None },
        Some(deadline),
    )
}

/// The lowest member of the first non-empty sorted set, waiting for one: `[key, member,
/// score]`.
pub fn bzpopmin(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    bzpop(ctx, args, false)
}

pub fn bzpopmax(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    bzpop(ctx, args, true)
}
