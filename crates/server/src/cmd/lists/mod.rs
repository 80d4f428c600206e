//! List commands, blocking ones included.

mod blocking;
mod linsert;
pub(crate) mod lmove;
mod lpop;
mod lpos;
mod lpush;
mod lrange;
mod lrem;
mod lset;
mod mpop;

use resp::Args;
use store::List;

use crate::command::{Ctx, Handler};
use crate::error::CmdError;
pub(crate) use crate::listops::End;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("lpush", lpush::lpush),
    ("rpush", lpush::rpush),
    ("lpushx", lpush::lpushx),
    ("rpushx", lpush::rpushx),
    ("lpop", lpop::lpop),
    ("rpop", lpop::rpop),
    ("llen", lrange::llen),
    ("lrange", lrange::lrange),
    ("lindex", lrange::lindex),
    ("lset", lset::lset),
    ("ltrim", lset::ltrim),
    ("linsert", linsert::linsert),
    ("lrem", lrem::lrem),
    ("lpos", lpos::lpos),
    ("lmove", lmove::lmove),
    ("rpoplpush", lmove::rpoplpush),
    ("blpop", blocking::blpop),
    ("brpop", blocking::brpop),
    ("blmove", blocking::blmove),
    ("brpoplpush", blocking::brpoplpush),
    ("lmpop", mpop::lmpop),
    ("blmpop", mpop::blmpop),
];

pub(crate) fn read_list<R>(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    f: impl FnOnce(&List, &mut resp::ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::read_collection(ctx, args.get(1), |v| v.as_list(), f)
}

pub(crate) fn write_list<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut List) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::write_collection(ctx, key, create, f)
}

/// Resolves an inclusive index range as LRANGE and LTRIM do (negative indexes count from the
/// end, the start clamps to 0, the end to the last element); `None` when it selects nothing.
pub(crate) fn index_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

pub(crate) fn parse_end(a: &[u8]) -> Result<End, CmdError> {
    if crate::cmd::is(a, "left") {
        Ok(End::Left)
    } else if crate::cmd::is(a, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}
