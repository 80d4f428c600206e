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
    let Some(opts) = crate::cmd::collection_scan_options(ctx, args, "set")? else {
        return Ok(());
    };
    read_set(ctx, args, |set, out| {
        // An intset or a packed set comes back whole (Redis answers an intset so); a table
        // is walked COUNT members at a time with the cursor of `store::cursor`.
        let (items, next): (Vec<&[u8]>, u64) = match set.cursor_len() {
            None => (
                set.members()
                    .into_iter()
                    .filter(|m| opts.matches(m))
                    .collect(),
                0,
            ),
            Some(len) => {
                let (range, next) = store::cursor::window(len, opts.cursor, opts.count);
                let items = range
                    .rev()
                    .filter_map(|i| set.get_index(i))
                    .filter(|m| opts.matches(m))
                    .collect();
                (items, next)
            }
        };
        crate::cmd::reply_scan(out, next, items.len(), |out| {
            items.iter().for_each(|m| out.bulk(m))
        });
    })?;
    Ok(())
}
