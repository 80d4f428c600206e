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
    ("hmset", hset::hmset),
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

/// [`crate::cmd::read_collection`] for the hash at `args[1]`.
pub(crate) fn read_hash<R>(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    f: impl FnOnce(&Hash, &mut resp::ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::read_collection(ctx, args.get(1), |v| v.as_hash(), f)
}

/// [`crate::cmd::write_collection`] for hashes.
pub(crate) fn write_hash<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::write_collection(ctx, key, create, f)
}
