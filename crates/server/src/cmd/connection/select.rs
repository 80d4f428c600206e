//! SELECT index
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Only database 0 exists (a cache node, and cluster mode allows no other), so any other
/// index gets Redis's out-of-range error.
pub fn select(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if crate::cmd::keys::dbs::db_index(args.get(1))? != 0 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.out.ok();
    Ok(())
}
