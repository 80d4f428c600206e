//! ECHO message
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn echo(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ctx.out.bulk(args.get(1));
    Ok(())
}
