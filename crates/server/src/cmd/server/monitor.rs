//! MONITOR: stream every command the node runs to this client.
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::pubsub::ClientSubs;

/// Turns the connection into a monitor: `+OK`, then one status line per command run by any
/// client (see [`crate::pubsub::monitor_line`]). A second MONITOR answers nothing, as Redis.
pub fn monitor(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    let shared = ctx.shared;
    let subs = ClientSubs::of(ctx.client);
    if subs.monitoring {
        return Ok(());
    }
    subs.monitoring = true;
    shared.pubsub.monitor(&subs.subscriber);
    ctx.out.ok();
    Ok(())
}
