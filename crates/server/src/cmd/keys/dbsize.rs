//! DBSIZE
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn dbsize(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.keyspace.len() as i64);
    Ok(())
}
