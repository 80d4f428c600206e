//! HGET / HMGET / HEXISTS / HSTRLEN / HLEN
use resp::Args;

use super::read_hash;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn hget(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let field = args.get(2);
    let found = read_hash(ctx, args, |hash, out| match hash.get(field) {
        Some(v) => out.bulk(v),
        None => out.null(),
    })?;
    if found.is_none() {
        ctx.out.null();
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let fields = args.tail(2);
    let found = read_hash(ctx, args, |hash, out| {
        out.array(fields.len());
        for f in fields.iter() {
            match hash.get(f) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
    })?;
    if found.is_none() {
        ctx.out.array(fields.len());
        for _ in 0..fields.len() {
            ctx.out.null();
        }
    }
    Ok(())
}

pub fn hexists(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let field = args.get(2);
    let n = read_hash(ctx, args, |hash, _| hash.get(field).is_some() as i64)?.unwrap_or(0);
    ctx.out.int(n);
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let field = args.get(2);
    let n = read_hash(ctx, args, |hash, _| hash.get(field).map_or(0, |v| v.len()))?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hlen(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = read_hash(ctx, args, |hash, _| hash.len())?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}
