//! ZCOUNT key min max / ZLEXCOUNT key min max
use resp::Args;

use super::{read_zset, LexRange, ScoreRange};
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn zcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = ScoreRange::parse(args.get(2), args.get(3))?;
    let n = read_zset(ctx, args.get(1), |z, _| {
        let (lo, hi) = range.positions(z);
        hi - lo
    })?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let range = LexRange::parse(args.get(2), args.get(3))?;
    let n = read_zset(ctx, args.get(1), |z, _| {
        let (lo, hi) = range.positions(z);
        hi - lo
    })?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}
