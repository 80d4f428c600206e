//! COPY source destination [DB destination-db] [REPLACE]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Copies the value and its TTL; 1 if copied, 0 if the source is missing or the destination
/// exists without REPLACE. Only database 0 exists.
pub fn copy(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "replace") {
            replace = true;
        } else if is(a, "db") && i + 1 < args.len() {
            if super::dbs::db_index(args.get(i + 1))? != 0 {
                return Err(CmdError::DbIndexOutOfRange);
            }
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if src == dst {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let ks = &ctx.shared.keyspace;
    let (hs, hd) = (ks.hash(src), ks.hash(dst));
    let mut set = ks.lock_many(&[hs, hd]);
    let Some(source) = set.shard(hs).get_mut(hs, src, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let (value, deadline) = (source.value().to_owned(), source.expire_at());
    if !replace && set.shard(hd).get_mut(hd, dst, ctx.now).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let ttl = deadline.map_or(store::shard::Ttl::Clear, store::shard::Ttl::At);
    let target = set.shard(hd);
    // A copy is a new key: fresh access data, not the overwritten key's.
    target.remove(hd, dst, ctx.now);
    target.set(hd, dst, value, ttl, ctx.now);
    ctx.out.int(1);
    Ok(())
}
