//! Set commands.

mod sadd;
mod setops;
mod smembers;
mod smove;
mod spop;

use resp::{Args, ReplyWriter};
use store::Set;

use crate::command::{Ctx, Handler};
use crate::error::CmdError;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("sadd", sadd::sadd),
    ("srem", sadd::srem),
    ("smembers", smembers::smembers),
    ("sismember", smembers::sismember),
    ("smismember", smembers::smismember),
    ("scard", smembers::scard),
    ("sscan", smembers::sscan),
    ("spop", spop::spop),
    ("srandmember", spop::srandmember),
    ("smove", smove::smove),
    ("sinter", setops::sinter),
    ("sunion", setops::sunion),
    ("sdiff", setops::sdiff),
    ("sinterstore", setops::sinterstore),
    ("sunionstore", setops::sunionstore),
    ("sdiffstore", setops::sdiffstore),
    ("sintercard", setops::sintercard),
];

pub(crate) fn read_set<R>(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    f: impl FnOnce(&Set, &mut ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::read_collection(ctx, args.get(1), |v| v.as_set(), f)
}

/// Writes members as a RESP3 set (an array in RESP2).
pub(crate) fn reply_members<'a>(
    out: &mut ReplyWriter,
    members: impl ExactSizeIterator<Item = &'a [u8]>,
) {
    out.set(members.len());
    members.for_each(|m| out.bulk(m));
}
