//! ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES], its
//! ZRANGESTORE form, and the older ZREVRANGE, Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX, which
//! are the same command with the range kind and direction fixed (Redis's
//! `zrangeGenericCommand`, whose parsing and checks this follows step by step).
use resp::Args;
use store::{Ttl, Value, ZSet};

use super::{rank_range, reply_scored, LexRange, ScoreRange};
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

struct Request<'a> {
    range: Range<'a>,
    rev: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
    withscores: bool,
}

/// Parses from the source key at `src` (`min max` follow it); `by`/`rev` are fixed by the
/// older commands and chosen by keywords in ZRANGE and ZRANGESTORE.
fn parse<'a>(
    args: Args<'a>,
    src: usize,
    mut by: Option<By>,
    mut rev: Option<bool>,
    store: bool,
) -> Result<Request<'a>, CmdError> {
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src + 3;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(args.get(j + 1))?;
            limit = int_arg(args.get(j + 2))?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(a, "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(a, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let by = by.unwrap_or(By::Rank);
    if limit != -1 && by == By::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (args.get(src + 1), args.get(src + 2));
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match by {
        By::Rank => Range::Rank(int_arg(min)?, int_arg(max)?),
        By::Score => Range::Score(ScoreRange::parse(min, max)?),
        By::Lex => Range::Lex(LexRange::parse(min, max)?),
    };
    Ok(Request {
        range,
        rev,
        offset,
        limit,
        withscores,
    })
}

/// The entries a request selects, in reply order.
fn select<'z>(z: &'z ZSet, req: &Request<'_>) -> Vec<(&'z [u8], f64)> {
    let (lo, hi) = match &req.range {
        Range::Rank(start, end) => {
            let len = z.len();
            let Some((s, e)) = rank_range(*start, *end, len) else {
                return Vec::new();
            };
            return if req.rev {
                let mut v = z.range(len - 1 - e, len - s);
                v.reverse();
                v
            } else {
                z.range(s, e + 1)
            };
        }
        Range::Score(r) => r.positions(z),
        Range::Lex(r) => r.positions(z),
    };
    // Redis skips `offset` entries whatever its sign, so a negative one skips them all.
    if req.offset < 0 {
        return Vec::new();
    }
    let available = hi - lo;
    let skip = (req.offset as usize).min(available);
    let take = if req.limit < 0 {
        available - skip
    } else {
        (req.limit as usize).min(available - skip)
    };
    if req.rev {
        let mut v = z.range(hi - skip - take, hi - skip);
        v.reverse();
        v
    } else {
        z.range(lo + skip, lo + skip + take)
    }
}

fn reply(ctx: &mut Ctx<'_>, args: Args<'_>, by: Option<By>, rev: Option<bool>) -> CmdResult {
    let req = parse(args, 1, by, rev, false)?;
    let found = super::read_zset(ctx, args.get(1), |z, out| {
        reply_scored(out, &select(z, &req), req.withscores)
    })?;
    if found.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}

pub fn zrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, None, None)
}

pub fn zrevrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Some(By::Rank), Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Some(By::Score), Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Some(By::Score), Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Some(By::Lex), Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Some(By::Lex), Some(true))
}

/// ZRANGESTORE dst src min max [...]: the selection replaces `dst` (deleted when empty).
pub fn zrangestore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let req = parse(args, 2, None, None, true)?;
    let (dst, src) = (args.get(1), args.get(2));
    let ks = &ctx.shared.keyspace;
    let (hd, hs) = (ks.hash(dst), ks.hash(src));
    let mut shards = ks.lock_many(&[hd, hs]);
    let selected: Option<ZSet> = match shards.shard(hs).peek(hs, src, ctx.now) {
        None => None,
        Some(e) => {
            let z = e.value().as_zset().ok_or(CmdError::WrongType)?;
            Some(ZSet::from_pairs(select(z, &req)))
        }
    };
    let stored = selected.filter(|z| !z.is_empty());
    let n = stored.as_ref().map_or(0, |z| z.len());
    let shard = shards.shard(hd);
    shard.remove(hd, dst, ctx.now);
    if let Some(z) = stored {
        shard.set(hd, dst, Value::ZSet(Box::new(z)), Ttl::Clear, ctx.now);
    }
    ctx.out.int(n as i64);
    Ok(())
}
