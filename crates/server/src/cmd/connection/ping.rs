//! PING [message]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn ping(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(args.get(1)),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}
