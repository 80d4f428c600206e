//! ZCOUNT key min max / ZLEXCOUNT key min max
use resp::Args;
use store::ZSet;

use super::{read_zset, LexRange, ScoreRange};
use crate::command::Ctx;
use crate::error::CmdResult;

/// Replies with how many entries `positions` selects (0 for a missing key).
fn count(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    positions: impl FnOnce(&ZSet) -> (usize, usize),
) -> CmdResult {
    let n = read_zset(ctx, key, |z, _| {
        let (lo, hi) = positions(z);
        hi - lo
    })?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

pub fn zcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = ScoreRange::parse(args.get(2), args.get(3))?;
    count(ctx, args.get(1), |z| range.positions(z))
}

pub fn zlexcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = LexRange::parse(args.get(2), args.get(3))?;
    count(ctx, args.get(1), |z| range.positions(z))
}
