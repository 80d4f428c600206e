//! PING [message]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// In RESP2 subscribed mode the reply is `["pong", message]`, as Redis answers there.
pub fn ping(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() <= 2 && crate::cmd::pubsub::subscribed(ctx.client) && !ctx.out.is_resp3() {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out
            .bulk(if args.len() == 2 { args.get(1) } else { b"" });
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(args.get(1)),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}
