//! ZSCORE / ZMSCORE / ZCARD / ZRANK / ZREVRANK
use resp::Args;

use super::read_zset;
use crate::command::Ctx;
use crate::error::CmdResult;

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

fn rank(ctx: &mut Ctx<'_>, args: Args<'_>, reverse: bool) -> CmdResult {
    let member = args.get(2);
    let found = read_zset(ctx, args.get(1), |z, out| match z.rank(member) {
        Some(r) if reverse => out.int((z.len() - 1 - r) as i64),
        Some(r) => out.int(r as i64),
        None => out.null(),
    })?;
    if found.is_none() {
        ctx.out.null();
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    rank(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    rank(ctx, args, true)
}
