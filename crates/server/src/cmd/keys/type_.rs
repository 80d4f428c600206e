//! TYPE key
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn type_(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let name = ks
        .lock(h)
        .peek(h, key, ctx.now)
        .map_or("none", |e| e.value().type_name());
    ctx.out.simple(name);
    Ok(())
}
