//! RANDOMKEY
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn randomkey(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    match ctx.shared.keyspace.random_key(ctx.now) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}
