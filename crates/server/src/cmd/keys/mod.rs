//! Generic key commands.

mod copy;
pub(crate) mod dbs;
mod dbsize;
pub(crate) mod del;
mod dump;
mod exists;
mod expire;
mod flush;
mod keys_cmd;
mod migrate;
mod object;
mod persist;
mod randomkey;
mod rename;
mod restore;
mod scan;
mod sort;
mod touch;
mod ttl;
mod type_;

use crate::command::Handler;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("del", del::del),
    ("unlink", del::unlink),
    ("exists", exists::exists),
    ("touch", touch::touch),
    ("type", type_::type_),
    ("expire", expire::expire),
    ("pexpire", expire::pexpire),
    ("expireat", expire::expireat),
    ("pexpireat", expire::pexpireat),
    ("ttl", ttl::ttl),
    ("pttl", ttl::pttl),
    ("expiretime", ttl::expiretime),
    ("pexpiretime", ttl::pexpiretime),
    ("persist", persist::persist),
    ("rename", rename::rename),
    ("renamenx", rename::renamenx),
    ("keys", keys_cmd::keys),
    ("scan", scan::scan),
    ("randomkey", randomkey::randomkey),
    ("dbsize", dbsize::dbsize),
    ("flushdb", flush::flushdb),
    ("flushall", flush::flushall),
    ("copy", copy::copy),
    ("dump", dump::dump),
    ("restore", restore::restore),
    ("restore-asking", restore::restore),
    ("migrate", migrate::migrate),
    ("object|encoding", object::encoding),
    ("object|freq", object::freq),
    ("object|idletime", object::idletime),
    ("object|refcount", object::refcount),
    ("swapdb", dbs::swapdb),
    ("sort", sort::sort),
    ("sort_ro", sort::sort_ro),
    ("move", dbs::move_key),
    ("object|help", object::help),
];
