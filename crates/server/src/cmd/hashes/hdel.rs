//! HDEL key field [field ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes fields; replies with how many existed. Removing the last field deletes the key.
pub fn hdel(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let fields = args.tail(2);
    let removed =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |hash: &mut store::Hash| {
            let n = fields.iter().filter(|f| hash.remove(f)).count();
            (n, n > 0)
        })?
        .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
