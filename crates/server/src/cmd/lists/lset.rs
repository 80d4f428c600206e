//! LSET key index element / LTRIM key start stop
use resp::Args;

use super::{index_range, write_list};
use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Redis checks the key (missing: no such key; wrong type) before the index.
pub fn lset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let element = args.get(3);
    // Out of range changes nothing, so it breaks no WATCH (as in Redis).
    let done =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |list: &mut store::List| {
            let result = (|| {
                let index = int_arg(args.get(2))?;
                let i = if index < 0 {
                    index + list.len() as i64
                } else {
                    index
                };
                match usize::try_from(i) {
                    Ok(i) if list.set(i, element) => Ok(()),
                    _ => Err(CmdError::err("index out of range")),
                }
            })();
            let changed = result.is_ok();
            (result, changed)
        })?;
    match done {
        None => Err(CmdError::NoSuchKey),
        Some(result) => {
            result?;
            ctx.out.ok();
            Ok(())
        }
    }
}

/// Keeps only the elements between two inclusive indexes (an empty range deletes the key).
pub fn ltrim(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    write_list(ctx, args.get(1), false, |list| {
        match index_range(start, end, list.len()) {
            None => list.clear(),
            Some((from, to)) => list.keep_range(from, to),
        }
    })?;
    ctx.out.ok();
    Ok(())
}
