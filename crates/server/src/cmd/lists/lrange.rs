//! LLEN / LRANGE / LINDEX
use resp::Args;

use super::{index_range, read_list};
use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn llen(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = read_list(ctx, args, |l, _| l.len())?.unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// Elements between two inclusive indexes; negative ones count from the end.
pub fn lrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    let found = read_list(ctx, args, |list, out| {
        match index_range(start, end, list.len()) {
            None => out.array(0),
            Some((from, to)) => {
                out.array(to - from + 1);
                for e in list.iter().skip(from).take(to - from + 1) {
                    out.bulk(e);
                }
            }
        }
    })?;
    if found.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}

/// Redis checks the key (missing: nil; wrong type) before the index.
pub fn lindex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = read_list(ctx, args, |list, out| {
        let index = int_arg(args.get(2))?;
        let i = if index < 0 {
            index + list.len() as i64
        } else {
            index
        };
        match usize::try_from(i).ok().and_then(|i| list.get(i)) {
            Some(e) => out.bulk(e),
            None => out.null(),
        }
        Ok::<(), crate::error::CmdError>(())
    })?;
    match found {
        None => ctx.out.null(),
        Some(result) => result?,
    }
    Ok(())
}
