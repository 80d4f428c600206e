//! KEYS pattern
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn keys(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let keys = ctx.shared.keyspace.keys(args.get(1), ctx.now);
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}
