//! DUMP key
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// The key's value in Redis 7.0's DUMP format (RDB encoding, version 10, CRC64), which any
/// Redis >= 7.0 RESTOREs; nil when the key does not exist.
pub fn dump(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let payload = match ks.lock(h).peek(h, key, ctx.now) {
        Some(e) => crate::rdbconv::with_view(e.value(), rdb::dump::encode_view),
        None => {
            ctx.out.null();
            return Ok(());
        }
    };
    ctx.out.bulk(&payload);
    Ok(())
}
