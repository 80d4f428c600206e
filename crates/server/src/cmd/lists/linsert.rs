//! LINSERT key BEFORE | AFTER pivot element
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The new length, -1 when the pivot is not found, 0 when the key does not exist.
pub fn linsert(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let after = if is(args.get(2), "after") {
        true
    } else if is(args.get(2), "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (pivot, element) = (args.get(3), args.get(4));
    let n = crate::cmd::write_collection_if(ctx, args.get(1), false, |list: &mut store::List| {
        let at = list.iter().position(|e| e == pivot);
        match at {
            Some(i) => {
                list.insert(if after { i + 1 } else { i }, element);
                (list.len() as i64, true)
            }
            None => (-1, false),
        }
    })?
    .unwrap_or(0);
    ctx.out.int(n);
    Ok(())
}
