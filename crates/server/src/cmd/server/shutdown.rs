//! SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Stops the node gracefully: no new connections, in-flight commands finish, replies are
/// flushed. There is no reply on success (the connection closes), as in Redis. With SAVE,
/// a snapshot is written first (no save points are configured, so without it none is); a
/// failed save cancels the shutdown with Redis's error.
pub fn shutdown(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut abort = false;
    let (mut save, mut nosave) = (false, false);
    for a in args.tail(1).iter() {
        if is(a, "now") || is(a, "force") {
        } else if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    if save && nosave {
        return Err(CmdError::Syntax);
    }
    // Past busy-reply-threshold, only SHUTDOWN NOSAVE ends a script (even one that wrote:
    // nothing is saved), as on Redis.
    let script = &ctx.shared.script;
    if script.busy() {
        if !nosave {
            return Err(script.busy_error());
        }
        script.force_kill();
    }
    if save {
        // Saved after this batch of commands has let go of the EXEC gate the save needs.
        ctx.client.pending = Some(crate::Pending::Then(Box::pin(async {
            Box::new(|shared: &crate::Shared, out: &mut resp::ReplyWriter| {
                match crate::persist::save(shared) {
                    Ok(_) => {
                        tracing::warn!("SHUTDOWN SAVE: saved; shutting down");
                        shared.shutdown.cancel();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SHUTDOWN SAVE: the save failed; not shutting down");
                        shared.stats.count_error("ERR");
                        out.error("ERR Errors trying to SHUTDOWN. Check logs.");
                    }
                }
            }) as crate::Finish
        })));
        return Ok(());
    }
    tracing::warn!(client = %ctx.client.info.addr, "SHUTDOWN requested by a client");
    ctx.shared.shutdown.cancel();
    ctx.client.close_after_reply = true;
    Ok(())
}
