//! ZREM key member [member ...] / ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX
use resp::Args;
use store::ZSet;

use super::{rank_range, LexRange, ScoreRange};
use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn zrem(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let removed = crate::cmd::write_collection_if(ctx, args.get(1), false, |z: &mut ZSet| {
        let n = args.tail(2).iter().filter(|m| z.remove(m)).count();
        (n, n > 0)
    })?
    .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}

/// Removes the positions `pick` chooses; the key goes when emptied.
fn remove_positions(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    pick: impl FnOnce(&ZSet) -> Option<(usize, usize)>,
) -> CmdResult {
    let removed = crate::cmd::write_collection_if(ctx, key, false, |z: &mut ZSet| match pick(z) {
        Some((lo, hi)) if lo < hi => (z.remove_range(lo, hi).len(), true),
        _ => (0, false),
    })?
    .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    remove_positions(ctx, args.get(1), |z| {
        rank_range(start, end, z.len()).map(|(s, e)| (s, e + 1))
    })
}

pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = ScoreRange::parse(args.get(2), args.get(3))?;
    remove_positions(ctx, args.get(1), |z| Some(range.positions(z)))
}

pub fn zremrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = LexRange::parse(args.get(2), args.get(3))?;
    remove_positions(ctx, args.get(1), |z| Some(range.positions(z)))
}
