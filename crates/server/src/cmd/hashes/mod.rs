//! Hash commands.

mod hdel;
mod hget;
mod hgetall;
mod hincrby;
mod hrandfield;
mod hscan;
mod hset;

use resp::Args;
use store::Hash;

use crate::command::{Ctx, Handler};
use crate::error::CmdError;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("hset", hset::hset),
    ("hsetnx", hset::hsetnx),
    ("hget", hget::hget),
    ("hmget", hget::hmget),
    ("hexists", hget::hexists),
    ("hstrlen", hget::hstrlen),
    ("hlen", hget::hlen),
    ("hgetall", hgetall::hgetall),
    ("hkeys", hgetall::hkeys),
    ("hvals", hgetall::hvals),
    ("hdel", hdel::hdel),
    ("hincrby", hincrby::hincrby),
    ("hincrbyfloat", hincrby::hincrbyfloat),
    ("hrandfield", hrandfield::hrandfield),
    ("hscan", hscan::hscan),
];

/// Runs `f` on the hash at `args[1]` for reading: `None` when the key is absent,
/// WRONGTYPE when it holds something else. The shard stays locked while `f` runs, so `f`
/// can write its reply straight from the hash.
pub(crate) fn read_hash<R>(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    f: impl FnOnce(&Hash, &mut resp::ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    match shard.get(h, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value().as_hash() {
            Some(hash) => Ok(Some(f(hash, ctx.out))),
            None => Err(CmdError::WrongType),
        },
    }
}

/// Runs `f` on the hash at `key` for writing (created when `create`); WRONGTYPE for other
/// types; `None` when absent and not created.
pub(crate) fn write_hash<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> R,
) -> Result<Option<R>, CmdError> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    ks.lock(h)
        .modify_hash(h, key, ctx.now, create, f)
        .map_err(|()| CmdError::WrongType)
}
