//! BGREWRITEAOF
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Rewrites the append-only file on a thread of its own (see `aof::rewrite`): a new base
/// holding the data now, the changes from now in a new INCR file. Works with the file off
/// too, as in Redis (it writes a base and a manifest that `appendonly yes` then loads).
pub fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(crate::error::CmdError::err(crate::aof::CLUSTER_REFUSAL));
    }
    let reply = crate::aof::rewrite::bgrewriteaof(&ctx.shared.arc(), ctx.client.in_exec)?;
    ctx.out.simple(reply);
    Ok(())
}
