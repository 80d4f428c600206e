//! Which client commands load shedding may refuse. Connection handling, health checks,
//! administration and cluster-internal traffic (replication, slot migration) always run:
//! an overloaded node must stay observable, and shedding a migration or a replica's stream
//! would turn overload into data movement failures.

use resp::Args;

/// Commands never shed (lowercase).
const NEVER_SHED: &[&str] = &[
    "ping",
    "echo",
    "auth",
    "hello",
    "quit",
    "reset",
    "select",
    "client",
    "info",
    "config",
    "cluster",
    "asking",
    "readonly",
    "readwrite",
    "replconf",
    "psync",
    "sync",
    "restore-asking",
    "command",
    "shutdown",
    "failover",
    "replicaof",
    "slaveof",
    "wait",
    "waitaof",
    "latency",
    "slowlog",
    "debug",
    "monitor",
    "acl",
    "role",
    "time",
    "lastsave",
    "save",
    "bgsave",
    "multi",
    "exec",
    "discard",
    "unwatch",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "script",
    "function",
];

/// Whether shedding may refuse `args` (a client command, not from this node's primary).
pub fn sheddable(args: Args<'_>, from_primary: bool) -> bool {
    if from_primary {
        return false;
    }
    let name = args.get(0);
    !NEVER_SHED
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}
