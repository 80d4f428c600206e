//! SELECT index
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Only database 0 exists (a cache node, and cluster mode allows no other), so any other
/// index gets Redis's out-of-range error.
pub fn select(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let index = resp::number::parse_i64(args.get(1)).ok_or(CmdError::NotInteger)?;
    if i32::try_from(index).is_err() {
        return Err(CmdError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if index != 0 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.out.ok();
    Ok(())
}
