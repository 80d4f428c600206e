//! XRANGE key start end [COUNT n], XREVRANGE key end start [COUNT n], XLEN key.
use resp::Args;

use super::{parse_range, write_item};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

fn range(ctx: &mut Ctx<'_>, args: Args<'_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let (start, end) = parse_range(start_arg, end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if crate::cmd::is(args.get(j), "count") && j + 1 < args.len() {
            count = crate::cmd::int_arg(args.get(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let found = super::read_stream(ctx, args.get(1), |s, out| {
        if count == 0 {
            out.null_array();
            return;
        }
        let limit = if count < 0 {
            usize::MAX
        } else {
            count as usize
        };
        let mut items = Vec::new();
        s.visit(start, end, rev, |it| {
            items.push(it);
            items.len() < limit
        });
        out.array(items.len());
        for it in items {
            write_item(out, it);
        }
    })?;
    if found.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}

pub fn xrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    range(ctx, args, false)
}

pub fn xrevrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    range(ctx, args, true)
}

pub fn xlen(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = super::read_stream(ctx, args.get(1), |s, _| s.len())?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}
