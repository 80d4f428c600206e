//! HGETALL / HKEYS / HVALS
use resp::Args;

use super::read_hash;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Fields and values in insertion order (a map in RESP3).
pub fn hgetall(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = read_hash(ctx, args, |hash, out| {
        out.map(hash.len());
        for (f, v) in hash.iter() {
            out.bulk(f);
            out.bulk(v);
        }
    })?;
    if found.is_none() {
        ctx.out.map(0);
    }
    Ok(())
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = read_hash(ctx, args, |hash, out| {
        out.array(hash.len());
        hash.iter().for_each(|(f, _)| out.bulk(f));
    })?;
    if found.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}

pub fn hvals(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = read_hash(ctx, args, |hash, out| {
        out.array(hash.len());
        hash.iter().for_each(|(_, v)| out.bulk(v));
    })?;
    if found.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}
