//! SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Stops the node gracefully: no new connections, in-flight commands finish, replies are
/// flushed. There is no reply on success (the connection closes), as in Redis. This node
/// keeps no data on disk, so SAVE is refused rather than silently ignored.
pub fn shutdown(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut abort = false;
    for a in args.tail(1).iter() {
        if is(a, "nosave") || is(a, "now") || is(a, "force") {
        } else if is(a, "save") {
            return Err(CmdError::err(
                "SAVE is not supported: this node keeps no data on disk (use SHUTDOWN NOSAVE)",
            ));
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    tracing::warn!(client = %ctx.client.info.addr, "SHUTDOWN requested by a client");
    ctx.shared.shutdown.cancel();
    ctx.client.close_after_reply = true;
    Ok(())
}
