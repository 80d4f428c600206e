//! ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...] / ZINCRBY
use resp::Args;
use store::ZSet;

use super::score_arg;
use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Default, Clone, Copy)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What `add` did to one element (Redis's `ZADD_OUT_*`).
enum Outcome {
    Added(f64),
    Updated(f64),
    /// Present with the same score: counts as processed, changes nothing.
    Same(f64),
    Skipped,
}

const NAN_ERROR: &str = "resulting score is not a number (NaN)";

/// Redis's `zsetAdd`.
fn add(z: &mut ZSet, member: &[u8], score: f64, f: Flags) -> Result<Outcome, CmdError> {
    match z.score(member) {
        Some(current) => {
            if f.nx {
                return Ok(Outcome::Skipped);
            }
            let new = if f.incr { current + score } else { score };
            if new.is_nan() {
                return Err(CmdError::err(NAN_ERROR));
            }
            if (f.lt && new >= current) || (f.gt && new <= current) {
                return Ok(Outcome::Skipped);
            }
            if new != current {
                z.insert(member, new);
                Ok(Outcome::Updated(new))
            } else {
                Ok(Outcome::Same(new))
            }
        }
        None if f.xx => Ok(Outcome::Skipped),
        None => {
            z.insert(member, score);
            Ok(Outcome::Added(score))
        }
    }
}

fn generic(ctx: &mut Ctx<'_>, args: Args<'_>, mut flags: Flags) -> CmdResult {
    let mut at = 2;
    while at < args.len() {
        let a = args.get(at);
        if is(a, "nx") {
            flags.nx = true;
        } else if is(a, "xx") {
            flags.xx = true;
        } else if is(a, "ch") {
            flags.ch = true;
        } else if is(a, "incr") {
            flags.incr = true;
        } else if is(a, "gt") {
            flags.gt = true;
        } else if is(a, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        at += 1;
    }
    let pairs = args.tail(at);
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && pairs.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let scores = (0..pairs.len() / 2)
        .map(|i| score_arg(pairs.get(2 * i)))
        .collect::<Result<Vec<f64>, _>>()?;
    let (mut added, mut updated, mut last) = (0i64, 0i64, None);
    let outcome = crate::cmd::write_collection_if(ctx, args.get(1), !flags.xx, |z: &mut ZSet| {
        let r = (|| {
            for (i, score) in scores.iter().enumerate() {
                match add(z, pairs.get(2 * i + 1), *score, flags)? {
                    Outcome::Added(s) => {
                        added += 1;
                        last = Some(s);
                    }
                    Outcome::Updated(s) => {
                        updated += 1;
                        last = Some(s);
                    }
                    Outcome::Same(s) => last = Some(s),
                    Outcome::Skipped => last = None,
                }
            }
            Ok::<(), CmdError>(())
        })();
        (r, added + updated > 0)
    })?;
    if let Some(result) = outcome {
        result?;
    }
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        crate::notify::event(ctx.shared, crate::notify::ZSET, event, args.get(1));
    }
    if flags.incr {
        match last {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if flags.ch { added + updated } else { added });
    }
    Ok(())
}

pub fn zadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Flags::default())
}

/// ZINCRBY key increment member: ZADD INCR without options.
pub fn zincrby(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    // Redis runs ZINCRBY through ZADD's parser: a ZADD flag where the increment goes leaves
    // an odd number of arguments, a syntax error.
    if ["nx", "xx", "ch", "incr", "gt", "lt"]
        .iter()
        .any(|f| crate::cmd::is(args.get(2), f))
    {
        return Err(CmdError::Syntax);
    }
    let increment = score_arg(args.get(2))?;
    let member = args.get(3);
    let flags = Flags {
        incr: true,
        ..Flags::default()
    };
    // An increment that leaves the score as it was is no change (no WATCH broken), as Redis.
    let score = crate::cmd::write_collection_if(ctx, args.get(1), true, |z: &mut ZSet| {
        let r = add(z, member, increment, flags);
        let changed = matches!(r, Ok(Outcome::Added(_) | Outcome::Updated(_)));
        (r, changed)
    })?
    .expect("created")?;
    if matches!(score, Outcome::Added(_) | Outcome::Updated(_)) {
        crate::notify::event(ctx.shared, crate::notify::ZSET, "zincr", args.get(1));
    }
    match score {
        Outcome::Added(s) | Outcome::Updated(s) | Outcome::Same(s) => ctx.out.double(s),
        Outcome::Skipped => ctx.out.null(),
    }
    Ok(())
}
