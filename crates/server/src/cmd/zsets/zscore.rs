//! ZSCORE / ZMSCORE / ZCARD / ZRANK / ZREVRANK
use resp::Args;

use super::read_zset;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn zscore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let member = args.get(2);
    let found = read_zset(ctx, args.get(1), |z, out| match z.score(member) {
        Some(s) => out.double(s),
        None => out.null(),
    })?;
    if found.is_none() {
        ctx.out.null();
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let members = args.tail(2);
    let found = read_zset(ctx, args.get(1), |z, out| {
        out.array(members.len());
        for m in members.iter() {
            match z.score(m) {
                Some(s) => out.double(s),
                None => out.null(),
            }
        }
    })?;
    if found.is_none() {
        ctx.out.array(members.len());
        members.iter().for_each(|_| ctx.out.null());
    }
    Ok(())
}

pub fn zcard(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = read_zset(ctx, args.get(1), |z, _| z.len())?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// ZRANK / ZREVRANK key member [WITHSCORE] (WITHSCORE is Redis 7.2's: under an older
/// `compat-version` the command takes exactly three arguments, as in 7.0).
fn rank(ctx: &mut Ctx<'_>, args: Args<'_>, reverse: bool) -> CmdResult {
    let name = if reverse { "zrevrank" } else { "zrank" };
    if args.len() > 4 || (args.len() > 3 && !ctx.shared.live.redis_7_2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    let with_score = args.len() == 4;
    if with_score && !args.get(3).eq_ignore_ascii_case(b"withscore") {
        return Err(CmdError::Syntax);
    }
    let member = args.get(2);
    let found = read_zset(ctx, args.get(1), |z, out| match z.rank(member) {
        Some(r) => {
            if with_score {
                out.array(2);
            }
            out.int(if reverse { z.len() - 1 - r } else { r } as i64);
            if with_score {
                out.double(z.score(member).expect("a ranked member has a score"));
            }
        }
        None if with_score => out.null_array(),
        None => out.null(),
    })?;
    if found.is_none() {
        if with_score {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    rank(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    rank(ctx, args, true)
}
