//! QUIT
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Replies OK, then the connection closes once the reply is flushed.
pub fn quit(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}
