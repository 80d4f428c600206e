//! Server commands.

mod acl;
mod bgrewriteaof;
mod command;
pub(crate) mod config;
mod config_rewrite;
pub(crate) mod debug;
mod failover;
mod info;
mod latency;
mod lolwut;
mod memory;
mod monitor;
mod psync;
mod replicaof;
mod save;
mod shutdown;
mod slowlog;
mod time;
mod wait;

use crate::command::Handler;

pub use acl::HANDLERS as ACL_HANDLERS;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("monitor", monitor::monitor),
    ("debug", debug::debug),
    ("command", command::command),
    ("command|count", command::count),
    ("command|info", command::info),
    ("command|docs", command::docs),
    ("command|list", command::list),
    ("command|getkeys", command::getkeys),
    ("command|getkeysandflags", command::getkeysandflags),
    ("command|help", command::help),
    ("config|get", config::get),
    ("config|set", config::set),
    ("config|resetstat", config::resetstat),
    ("config|help", config::help),
    ("config|rewrite", config_rewrite::rewrite),
    ("info", info::info),
    ("lolwut", lolwut::lolwut),
    ("latency|latest", latency::latest),
    ("latency|history", latency::history),
    ("latency|reset", latency::reset),
    ("latency|graph", latency::graph),
    ("latency|doctor", latency::doctor),
    ("latency|histogram", latency::histogram),
    ("latency|help", latency::help),
    ("time", time::time),
    ("save", save::save),
    ("bgsave", save::bgsave),
    ("bgrewriteaof", bgrewriteaof::bgrewriteaof),
    ("lastsave", save::lastsave),
    ("memory|usage", memory::usage),
    ("memory|stats", memory::stats),
    ("memory|help", memory::help),
    ("memory|doctor", memory::doctor),
    ("memory|purge", memory::purge),
    ("memory|malloc-stats", memory::malloc_stats),
    ("slowlog|get", slowlog::get),
    ("slowlog|len", slowlog::len),
    ("slowlog|reset", slowlog::reset),
    ("slowlog|help", slowlog::help),
    ("shutdown", shutdown::shutdown),
    ("replicaof", replicaof::replicaof),
    ("slaveof", replicaof::replicaof),
    ("role", replicaof::role),
    ("replconf", psync::replconf),
    ("psync", psync::psync),
    ("sync", psync::sync),
    ("wait", wait::wait),
    ("failover", failover::failover),
];
