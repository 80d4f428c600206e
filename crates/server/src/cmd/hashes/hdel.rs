//! HDEL key field [field ...]
use resp::Args;

use super::write_hash;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes fields; replies with how many existed. Removing the last field deletes the key.
pub fn hdel(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let fields = args.tail(2);
    let removed = write_hash(ctx, args.get(1), false, |hash| {
        fields.iter().filter(|f| hash.remove(f)).count()
    })?
    .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
