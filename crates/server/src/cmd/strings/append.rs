//! APPEND key value
use resp::Args;
use store::Ttl;

use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Appends to the string (creating it, encoded like SET would, if absent); replies with the
/// new length. The string becomes `raw` and grows in place, amortized O(1) per append.
pub fn append(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, tail) = (args.get(1), args.get(2));
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get_mut(h, key, ctx.now) else {
        shard.set_str(h, key, tail, Ttl::Clear, ctx.now);
        let len = shard
            .peek(h, key, ctx.now)
            .map_or(0, |e| e.value().as_str().map_or(0, |s| s.len()));
        ctx.out.int(len as i64);
        return Ok(());
    };
    let len = as_str(e.value())?.len();
    super::check_length(ctx, len as u64, tail.len() as u64)?;
    let new_len = shard
        .modify_raw(h, key, ctx.now, |v| {
            v.extend_from_slice(tail);
            v.len()
        })
        .expect("key exists");
    ctx.out.int(new_len as i64);
    Ok(())
}
