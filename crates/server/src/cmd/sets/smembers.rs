//! SMEMBERS / SISMEMBER / SMISMEMBER / SCARD / SSCAN
use resp::Args;

use super::{read_set, reply_members};
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn smembers(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = read_set(ctx, args, |set, out| {
        reply_members(out, set.members().into_iter())
    })?;
    if found.is_none() {
        ctx.out.set(0);
    }
    Ok(())
}

pub fn sismember(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let m = args.get(2);
    let n = read_set(ctx, args, |set, _| set.contains(m) as i64)?.unwrap_or(0);
    ctx.out.int(n);
    Ok(())
}

pub fn smismember(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let members = args.tail(2);
    let flags: Vec<i64> = read_set(ctx, args, |set, _| {
        members.iter().map(|m| set.contains(m) as i64).collect()
    })?
    .unwrap_or_else(|| vec![0; members.len()]);
    ctx.out.array(flags.len());
    flags.into_iter().for_each(|f| ctx.out.int(f));
    Ok(())
}

pub fn scard(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = read_set(ctx, args, |set, _| set.len())?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: every matching member with cursor 0, in
/// one reply (COUNT is a hint).
pub fn sscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(pattern) = crate::cmd::collection_scan_options(ctx, args)? else {
        return Ok(());
    };
    read_set(ctx, args, |set, out| {
        let items: Vec<&[u8]> = set
            .members()
            .into_iter()
            .filter(|m| pattern.is_none_or(|p| store::glob::matches(p, m, false)))
            .collect();
        out.array(2);
        out.bulk(b"0");
        out.array(items.len());
        items.iter().for_each(|m| out.bulk(m));
    })?;
    Ok(())
}
