//! Sorted-set commands.

mod zadd;
mod zcount;
mod zmpop;
mod zpop;
mod zrandmember;
mod zrange;
mod zrem;
mod zscan;
mod zscore;
mod zsetops;

use resp::ReplyWriter;
use store::ZSet;

use crate::command::{Ctx, Handler};
use crate::error::CmdError;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("zadd", zadd::zadd),
    ("zincrby", zadd::zincrby),
    ("zrem", zrem::zrem),
    ("zremrangebyrank", zrem::zremrangebyrank),
    ("zremrangebyscore", zrem::zremrangebyscore),
    ("zremrangebylex", zrem::zremrangebylex),
    ("zscore", zscore::zscore),
    ("zmscore", zscore::zmscore),
    ("zcard", zscore::zcard),
    ("zrank", zscore::zrank),
    ("zrevrank", zscore::zrevrank),
    ("zcount", zcount::zcount),
    ("zlexcount", zcount::zlexcount),
    ("zrange", zrange::zrange),
    ("zrangestore", zrange::zrangestore),
    ("zrevrange", zrange::zrevrange),
    ("zrangebyscore", zrange::zrangebyscore),
    ("zrevrangebyscore", zrange::zrevrangebyscore),
    ("zrangebylex", zrange::zrangebylex),
    ("zrevrangebylex", zrange::zrevrangebylex),
    ("zpopmin", zpop::zpopmin),
    ("zpopmax", zpop::zpopmax),
    ("zmpop", zmpop::zmpop),
    ("bzmpop", zmpop::bzmpop),
    ("bzpopmin", zmpop::bzpopmin),
    ("bzpopmax", zmpop::bzpopmax),
    ("zrandmember", zrandmember::zrandmember),
    ("zscan", zscan::zscan),
    ("zunionstore", zsetops::zunionstore),
    ("zinterstore", zsetops::zinterstore),
    ("zdiffstore", zsetops::zdiffstore),
    ("zunion", zsetops::zunion),
    ("zinter", zsetops::zinter),
    ("zdiff", zsetops::zdiff),
    ("zintercard", zsetops::zintercard),
];

/// ZADD itself, for GEOADD (which is a ZADD of geohash scores).
pub(crate) use zadd::zadd as zadd_command;

pub(crate) fn read_zset<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&ZSet, &mut ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::read_collection(ctx, key, |v| v.as_zset(), f)
}

/// Writes (member, score) pairs: flat in RESP2, `[member, score]` pairs in RESP3 when
/// `withscores`; members only otherwise.
pub(crate) fn reply_scored(out: &mut ReplyWriter, items: &[(&[u8], f64)], withscores: bool) {
    if withscores && out.is_resp3() {
        out.array(items.len());
        for (m, s) in items {
            out.array(2);
            out.bulk(m);
            out.double(*s);
        }
    } else {
        out.array(items.len() * if withscores { 2 } else { 1 });
        for (m, s) in items {
            out.bulk(m);
            if withscores {
                out.double(*s);
            }
        }
    }
}

/// One end of a score range (`zslParseRange`): `(` makes it exclusive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreBound {
    value: f64,
    exclusive: bool,
}

/// A score interval `min..max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreRange {
    min: ScoreBound,
    max: ScoreBound,
}

fn score_bound(a: &[u8]) -> Option<ScoreBound> {
    let (text, exclusive) = match a.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (a, false),
    };
    store::float::parse_range_double(text).map(|value| ScoreBound { value, exclusive })
}

impl ScoreRange {
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        match (score_bound(min), score_bound(max)) {
            (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
            _ => Err(CmdError::err("min or max is not a float")),
        }
    }

    fn below_min(&self, s: f64) -> bool {
        if self.min.exclusive {
            s <= self.min.value
        } else {
            s < self.min.value
        }
    }

    fn within_max(&self, s: f64) -> bool {
        if self.max.exclusive {
            s < self.max.value
        } else {
            s <= self.max.value
        }
    }

    /// Positions `lo..hi` of the entries in range (empty when `hi <= lo`).
    pub(crate) fn positions(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.partition_point(|s, _| self.below_min(s));
        let hi = z.partition_point(|s, _| self.within_max(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lex range (`zslParseLexRangeItem`).
#[derive(Debug, Clone, Copy)]
enum LexBound<'a> {
    Min,
    Max,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

fn lex_bound(a: &[u8]) -> Option<LexBound<'_>> {
    match a.first() {
        Some(b'+') if a.len() == 1 => Some(LexBound::Max),
        Some(b'-') if a.len() == 1 => Some(LexBound::Min),
        Some(b'[') => Some(LexBound::Inclusive(&a[1..])),
        Some(b'(') => Some(LexBound::Exclusive(&a[1..])),
        _ => None,
    }
}

/// A member interval for the BYLEX forms (meaningful when all scores are equal).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    pub(crate) fn parse(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
        match (lex_bound(min), lex_bound(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(CmdError::err("min or max not valid string range item")),
        }
    }

    fn below_min(&self, m: &[u8]) -> bool {
        match self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(x) => m < x,
            LexBound::Exclusive(x) => m <= x,
        }
    }

    fn within_max(&self, m: &[u8]) -> bool {
        match self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Inclusive(x) => m <= x,
            LexBound::Exclusive(x) => m < x,
        }
    }

    /// A range no member can fall in (`zslIsInLexRange`'s first test).
    fn always_empty(&self) -> bool {
        use LexBound::*;
        match (self.min, self.max) {
            (Max, _) | (_, Min) => true,
            (Min, _) | (_, Max) => false,
            (Inclusive(a), Inclusive(b)) => a > b,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a >= b,
        }
    }

    /// Positions `lo..hi` of the entries in range, as for [`ScoreRange::positions`], found as
    /// Redis finds them: nothing unless the last member is not below the minimum and the
    /// first not above the maximum, then from the first member not below the minimum for as
    /// long as members stay within the maximum. With equal scores (the only case where lex
    /// ranges mean something) that is the members in range; with mixed scores it is Redis's
    /// answer too.
    pub(crate) fn positions(&self, z: &ZSet) -> (usize, usize) {
        let n = z.len();
        if n == 0 || self.always_empty() {
            return (0, 0);
        }
        let first = z.range(0, 1)[0].0;
        let last = z.range(n - 1, n)[0].0;
        if self.below_min(last) || !self.within_max(first) {
            return (0, 0);
        }
        let lo = z.partition_point(|_, m| self.below_min(m));
        let taken = z
            .iter_from(lo)
            .take_while(|(m, _)| self.within_max(m))
            .count();
        (lo, lo + taken)
    }
}

/// A score argument (ZADD, ZINCRBY): Redis's "value is not a valid float" otherwise.
pub(crate) fn score_arg(a: &[u8]) -> Result<f64, CmdError> {
    store::float::parse_double(a).ok_or(CmdError::NotFloat)
}

/// Resolves a rank range as Redis's `zrangeGenericCommand`/ZREMRANGEBYRANK: negative
/// indexes count from the end; `None` when empty. Returns inclusive `start..=end`.
pub(crate) fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}
