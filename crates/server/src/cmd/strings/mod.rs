//! String commands.

mod append;
mod get;
mod getdel;
mod getex;
mod getrange;
mod getset;
mod incr;
mod incrbyfloat;
mod lcs;
mod mget;
mod mset;
mod set;
mod setex;
mod setnx;
mod setrange;
mod strlen;

use crate::command::Handler;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("get", get::get),
    ("set", set::set),
    ("setnx", setnx::setnx),
    ("setex", setex::setex),
    ("psetex", setex::psetex),
    ("mget", mget::mget),
    ("mset", mset::mset),
    ("msetnx", mset::msetnx),
    ("getset", getset::getset),
    ("getdel", getdel::getdel),
    ("getex", getex::getex),
    ("incr", incr::incr),
    ("decr", incr::decr),
    ("incrby", incr::incrby),
    ("decrby", incr::decrby),
    ("incrbyfloat", incrbyfloat::incrbyfloat),
    ("append", append::append),
    ("strlen", strlen::strlen),
    ("getrange", getrange::getrange),
    ("substr", getrange::getrange),
    ("lcs", lcs::lcs),
    ("setrange", setrange::setrange),
];

/// Redis's `checkStringLength`: a string may not grow past `proto-max-bulk-len`.
pub(crate) fn check_length(
    ctx: &crate::command::Ctx<'_>,
    size: u64,
    append: u64,
) -> Result<(), crate::error::CmdError> {
    let max = ctx
        .shared
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err(crate::error::CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}
