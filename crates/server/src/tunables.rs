//! The Redis 7.0 parameters beyond those the node acts on itself (`config::PARAMS`): each is
//! accepted by CONFIG GET/SET with Redis's validation, errors and normalised values, so
//! tools and test suites that tune a server find every name they know.
//!
//! Three kinds of parameter, and what setting one does:
//! - [`Effect::Kept`]: a tuning knob for machinery this node does differently or does not
//!   need (lazy freeing, rehashing, defragmentation cycles, replication timeouts, ...). The
//!   value is validated and kept, and CONFIG GET answers it; nothing else changes.
//! - [`Effect::Only`]: a switch for a feature this node does not have (active
//!   defragmentation, some TLS files). The value meaning "off" is accepted; any other is refused
//!   with an error that says why, never a silent OK.
//! - [`Effect::Immutable`]: fixed at start in Redis too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

/// How a value is read and normalised.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer within bounds (inclusive).
    Int(i64, i64),
    /// A byte count (`1gb`, `64kb`, ...) within bounds, answered in bytes.
    Memory(i64, i64),
    /// `repl-backlog-size`: a byte count of at least 1, raised to Redis's 16 KiB minimum.
    Backlog,
    /// A byte count or a percentage of maxmemory (`maxmemory-clients`).
    MemoryOrPercent,
    /// One of these words (case-insensitive, answered in lower case).
    Enum(&'static [&'static str]),
    Text,
    /// `default`, or any of `save`/`nosave` (not both), `now`, `force`.
    Shutdown,
    /// Three integers, each -2000..=2000 (`oom-score-adj-values`).
    OomValues,
    /// Numbers from 0 to 100 (`latency-tracking-info-percentiles`).
    Percentiles,
    /// `notify-keyspace-events` classes, answered in Redis's canonical order.
    NotifyClasses,
}

#[derive(Debug, Clone, Copy)]
pub enum Effect {
    Kept,
    Immutable,
    /// Only this value is accepted; others are refused with the reason.
    Only(&'static str, &'static str),
}

pub struct Tunable {
    pub name: &'static str,
    /// Redis's older name, answered by CONFIG GET as a parameter of its own.
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub effect: Effect,
}

const fn t(
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    effect: Effect,
) -> Tunable {
    Tunable {
        name,
        alias,
        kind,
        default,
        effect,
    }
}

/// Redis 7.0's parameters (names, bounds, defaults from its `config.c` and a default
/// `CONFIG GET *`), except those in `config::PARAMS`.
pub static TUNABLES: &[Tunable] = &[
    t("acl-pubsub-default", None, Kind::Enum(&["allchannels", "resetchannels"]), "resetchannels", Effect::Kept),
    t("aclfile", None, Kind::Text, "", Effect::Immutable),
    t("acllog-max-len", None, Kind::Int(0, 9223372036854775807), "128", Effect::Kept),
    t("active-defrag-cycle-max", None, Kind::Int(1, 99), "25", Effect::Kept),
    t("active-defrag-cycle-min", None, Kind::Int(1, 99), "1", Effect::Kept),
    t("active-defrag-ignore-bytes", None, Kind::Memory(1, 9223372036854775807), "104857600", Effect::Kept),
    t("active-defrag-max-scan-fields", None, Kind::Int(1, 9223372036854775807), "1000", Effect::Kept),
    t("active-defrag-threshold-lower", None, Kind::Int(0, 1000), "10", Effect::Kept),
    t("active-defrag-threshold-upper", None, Kind::Int(0, 1000), "100", Effect::Kept),
    t("active-expire-effort", None, Kind::Int(1, 10), "1", Effect::Kept),
    t("activedefrag", None, Kind::Bool, "no", Effect::Only("no", "active defragmentation is not available (jemalloc returns freed memory in the background instead)")),
    t("activerehashing", None, Kind::Bool, "yes", Effect::Kept),
    t("always-show-logo", None, Kind::Bool, "no", Effect::Immutable),
    t("aof-disable-auto-gc", None, Kind::Bool, "no", Effect::Kept),
    t("aof-load-truncated", None, Kind::Bool, "yes", Effect::Kept),
    t("aof-rewrite-incremental-fsync", None, Kind::Bool, "yes", Effect::Kept),
    t("aof-timestamp-enabled", None, Kind::Bool, "no", Effect::Kept),
    t("aof-use-rdb-preamble", None, Kind::Bool, "yes", Effect::Kept),
    t("aof_rewrite_cpulist", None, Kind::Text, "", Effect::Immutable),
    t("appenddirname", None, Kind::Text, "appendonlydir", Effect::Immutable),
    t("appendfilename", None, Kind::Text, "appendonly.aof", Effect::Immutable),
    t("appendfsync", None, Kind::Enum(&["everysec", "always", "no"]), "everysec", Effect::Kept),
    t("appendonly", None, Kind::Bool, "no", Effect::Kept),
    t("auto-aof-rewrite-min-size", None, Kind::Memory(0, 9223372036854775807), "67108864", Effect::Kept),
    t("auto-aof-rewrite-percentage", None, Kind::Int(0, 2147483647), "100", Effect::Kept),
    t("bgsave_cpulist", None, Kind::Text, "", Effect::Immutable),
    t("bind-source-addr", None, Kind::Text, "", Effect::Kept),
    t("bio_cpulist", None, Kind::Text, "", Effect::Immutable),
    t("busy-reply-threshold", Some("lua-time-limit"), Kind::Int(0, 9223372036854775807), "5000", Effect::Kept),
    t("cluster-allow-pubsubshard-when-down", None, Kind::Bool, "yes", Effect::Kept),
    t("cluster-allow-reads-when-down", None, Kind::Bool, "no", Effect::Kept),
    t("cluster-allow-replica-migration", None, Kind::Bool, "yes", Effect::Kept),
    t("cluster-announce-bus-port", None, Kind::Int(0, 65535), "0", Effect::Kept),
    t("cluster-announce-hostname", None, Kind::Text, "", Effect::Kept),
    t("cluster-announce-ip", None, Kind::Text, "", Effect::Kept),
    t("cluster-announce-port", None, Kind::Int(0, 65535), "0", Effect::Kept),
    t("cluster-announce-tls-port", None, Kind::Int(0, 65535), "0", Effect::Kept),
    t("cluster-config-file", None, Kind::Text, "nodes.conf", Effect::Immutable),
    t("cluster-enabled", None, Kind::Bool, "no", Effect::Immutable),
    t("cluster-link-sendbuf-limit", None, Kind::Memory(0, 9223372036854775807), "0", Effect::Kept),
    t("cluster-migration-barrier", None, Kind::Int(0, 2147483647), "1", Effect::Kept),
    t("cluster-node-timeout", None, Kind::Int(0, 9223372036854775807), "15000", Effect::Kept),
    t("cluster-port", None, Kind::Int(0, 65535), "0", Effect::Immutable),
    t("cluster-preferred-endpoint-type", None, Kind::Enum(&["ip", "hostname", "unknown-endpoint"]), "ip", Effect::Kept),
    t("cluster-replica-no-failover", Some("cluster-slave-no-failover"), Kind::Bool, "no", Effect::Kept),
    t("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), Kind::Int(0, 2147483647), "10", Effect::Kept),
    t("cluster-require-full-coverage", None, Kind::Bool, "yes", Effect::Kept),
    t("crash-log-enabled", None, Kind::Bool, "yes", Effect::Kept),
    t("crash-memcheck-enabled", None, Kind::Bool, "yes", Effect::Kept),
    t("daemonize", None, Kind::Bool, "no", Effect::Immutable),
    t("disable-thp", None, Kind::Bool, "yes", Effect::Immutable),
    t("dynamic-hz", None, Kind::Bool, "yes", Effect::Kept),
    // "local" rather than Redis's "no": DEBUG (DIGEST, RELOAD, OBJECT ...) from this machine.
    t("enable-debug-command", None, Kind::Enum(&["no", "yes", "local"]), "local", Effect::Immutable),
    t("enable-module-command", None, Kind::Enum(&["no", "yes", "local"]), "no", Effect::Immutable),
    t("enable-protected-configs", None, Kind::Enum(&["no", "yes", "local"]), "no", Effect::Immutable),
    t("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), Kind::Int(0, 9223372036854775807), "512", Effect::Kept),
    t("hash-max-listpack-value", Some("hash-max-ziplist-value"), Kind::Memory(0, 9223372036854775807), "64", Effect::Kept),
    t("hll-sparse-max-bytes", None, Kind::Memory(0, 9223372036854775807), "3000", Effect::Kept),
    t("ignore-warnings", None, Kind::Text, "", Effect::Kept),
    t("io-threads", None, Kind::Int(1, 128), "1", Effect::Immutable),
    t("io-threads-do-reads", None, Kind::Bool, "no", Effect::Immutable),
    t("jemalloc-bg-thread", None, Kind::Bool, "yes", Effect::Kept),
    t("latency-monitor-threshold", None, Kind::Int(0, 9223372036854775807), "0", Effect::Kept),
    t("latency-tracking", None, Kind::Bool, "yes", Effect::Kept),
    t("latency-tracking-info-percentiles", None, Kind::Percentiles, "50 99 99.9", Effect::Kept),
    t("lazyfree-lazy-eviction", None, Kind::Bool, "no", Effect::Kept),
    t("lazyfree-lazy-expire", None, Kind::Bool, "no", Effect::Kept),
    t("lazyfree-lazy-server-del", None, Kind::Bool, "no", Effect::Kept),
    t("lazyfree-lazy-user-del", None, Kind::Bool, "no", Effect::Kept),
    t("lazyfree-lazy-user-flush", None, Kind::Bool, "no", Effect::Kept),
    t("lfu-decay-time", None, Kind::Int(0, 2147483647), "1", Effect::Kept),
    t("lfu-log-factor", None, Kind::Int(0, 2147483647), "10", Effect::Kept),
    t("list-compress-depth", None, Kind::Int(0, 2147483647), "0", Effect::Kept),
    t("list-max-listpack-size", Some("list-max-ziplist-size"), Kind::Int(-2147483648, 2147483647), "-2", Effect::Kept),
    t("logfile", None, Kind::Text, "", Effect::Immutable),
    t("loglevel", None, Kind::Enum(&["debug", "verbose", "notice", "warning"]), "notice", Effect::Kept),
    t("masterauth", None, Kind::Text, "", Effect::Kept),
    t("masteruser", None, Kind::Text, "", Effect::Kept),
    t("maxmemory-clients", None, Kind::MemoryOrPercent, "0", Effect::Kept),
    t("maxmemory-eviction-tenacity", None, Kind::Int(0, 100), "10", Effect::Kept),
    t("maxmemory-samples", None, Kind::Int(1, 2147483647), "5", Effect::Kept),
    t("min-replicas-max-lag", Some("min-slaves-max-lag"), Kind::Int(0, 2147483647), "10", Effect::Kept),
    t("min-replicas-to-write", Some("min-slaves-to-write"), Kind::Int(0, 2147483647), "0", Effect::Kept),
    t("no-appendfsync-on-rewrite", None, Kind::Bool, "no", Effect::Kept),
    t("notify-keyspace-events", None, Kind::NotifyClasses, "", Effect::Kept),
    t("oom-score-adj", None, Kind::Enum(&["no", "yes", "relative", "absolute"]), "no", Effect::Kept),
    t("oom-score-adj-values", None, Kind::OomValues, "0 200 800", Effect::Kept),
    t("pidfile", None, Kind::Text, "", Effect::Immutable),
    t("proc-title-template", None, Kind::Text, "{title} {listen-addr} {server-mode}", Effect::Kept),
    t("propagation-error-behavior", None, Kind::Enum(&["ignore", "panic", "panic-on-replicas"]), "ignore", Effect::Kept),
    t("protected-mode", None, Kind::Bool, "yes", Effect::Kept),
    t("rdb-del-sync-files", None, Kind::Bool, "no", Effect::Kept),
    t("rdb-save-incremental-fsync", None, Kind::Bool, "yes", Effect::Kept),
    t("rdbchecksum", None, Kind::Bool, "yes", Effect::Immutable),
    t("rdbcompression", None, Kind::Bool, "yes", Effect::Kept),
    t("repl-backlog-size", None, Kind::Backlog, "1048576", Effect::Kept),
    t("repl-backlog-ttl", None, Kind::Int(0, 9223372036854775807), "3600", Effect::Kept),
    t("repl-disable-tcp-nodelay", None, Kind::Bool, "no", Effect::Kept),
    t("repl-diskless-load", None, Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", Effect::Kept),
    t("repl-diskless-sync", None, Kind::Bool, "yes", Effect::Kept),
    t("repl-diskless-sync-delay", None, Kind::Int(0, 2147483647), "5", Effect::Kept),
    t("repl-diskless-sync-max-replicas", None, Kind::Int(0, 2147483647), "0", Effect::Kept),
    t("repl-ping-replica-period", Some("repl-ping-slave-period"), Kind::Int(1, 2147483647), "10", Effect::Kept),
    t("repl-timeout", None, Kind::Int(1, 2147483647), "60", Effect::Kept),
    t("replica-announce-ip", Some("slave-announce-ip"), Kind::Text, "", Effect::Kept),
    t("replica-announce-port", Some("slave-announce-port"), Kind::Int(0, 65535), "0", Effect::Kept),
    t("replica-announced", None, Kind::Bool, "yes", Effect::Kept),
    t("replica-ignore-disk-write-errors", None, Kind::Bool, "no", Effect::Kept),
    t("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), Kind::Bool, "yes", Effect::Kept),
    t("replica-lazy-flush", Some("slave-lazy-flush"), Kind::Bool, "no", Effect::Kept),
    t("replica-priority", Some("slave-priority"), Kind::Int(0, 2147483647), "100", Effect::Kept),
    t("replica-read-only", Some("slave-read-only"), Kind::Bool, "yes", Effect::Kept),
    t("replica-serve-stale-data", Some("slave-serve-stale-data"), Kind::Bool, "yes", Effect::Kept),
    t("replicaof", Some("slaveof"), Kind::Text, "", Effect::Immutable),
    t("sanitize-dump-payload", None, Kind::Enum(&["no", "yes", "clients"]), "no", Effect::Kept),
    t("server_cpulist", None, Kind::Text, "", Effect::Immutable),
    t("set-max-intset-entries", None, Kind::Int(0, 9223372036854775807), "512", Effect::Kept),
    t("set-proc-title", None, Kind::Bool, "yes", Effect::Immutable),
    t("shutdown-on-sigint", None, Kind::Shutdown, "default", Effect::Kept),
    t("shutdown-on-sigterm", None, Kind::Shutdown, "default", Effect::Kept),
    t("shutdown-timeout", None, Kind::Int(0, 2147483647), "10", Effect::Kept),
    t("socket-mark-id", None, Kind::Int(0, 4294967295), "0", Effect::Immutable),
    t("stop-writes-on-bgsave-error", None, Kind::Bool, "yes", Effect::Kept),
    t("stream-node-max-bytes", None, Kind::Memory(0, 9223372036854775807), "4096", Effect::Kept),
    t("stream-node-max-entries", None, Kind::Int(0, 9223372036854775807), "100", Effect::Kept),
    t("supervised", None, Kind::Enum(&["upstart", "systemd", "auto", "no"]), "no", Effect::Immutable),
    t("syslog-enabled", None, Kind::Bool, "no", Effect::Immutable),
    t("syslog-facility", None, Kind::Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), "local0", Effect::Immutable),
    t("syslog-ident", None, Kind::Text, "redis", Effect::Immutable),
    t("tcp-backlog", None, Kind::Int(0, 2147483647), "511", Effect::Immutable),
    t("tcp-keepalive", None, Kind::Int(0, 2147483647), "300", Effect::Kept),
    t("tls-auth-clients", None, Kind::Enum(&["no", "yes", "optional"]), "yes", Effect::Kept),
    t("tls-ca-cert-dir", None, Kind::Text, "", Effect::Only("", "a CA directory is not supported: give the CA certificates in one file (tls-ca-cert-file)")),
    t("tls-ca-cert-file", None, Kind::Text, "", Effect::Kept),
    t("tls-cert-file", None, Kind::Text, "", Effect::Kept),
    t("tls-ciphers", None, Kind::Text, "", Effect::Kept),
    t("tls-ciphersuites", None, Kind::Text, "", Effect::Kept),
    t("tls-client-cert-file", None, Kind::Text, "", Effect::Kept),
    t("tls-client-key-file", None, Kind::Text, "", Effect::Kept),
    t("tls-client-key-file-pass", None, Kind::Text, "", Effect::Only("", "encrypted private keys are not supported: give the key unencrypted (with file permissions guarding it)")),
    t("tls-cluster", None, Kind::Bool, "no", Effect::Kept),
    t("tls-dh-params-file", None, Kind::Text, "", Effect::Only("", "DH parameters are not used: key exchange is ECDHE only")),
    t("tls-key-file", None, Kind::Text, "", Effect::Kept),
    t("tls-key-file-pass", None, Kind::Text, "", Effect::Only("", "encrypted private keys are not supported: give the key unencrypted (with file permissions guarding it)")),
    t("tls-port", None, Kind::Int(0, 65535), "0", Effect::Kept),
    t("tls-prefer-server-ciphers", None, Kind::Bool, "no", Effect::Kept),
    t("tls-protocols", None, Kind::Text, "", Effect::Kept),
    t("tls-replication", None, Kind::Bool, "no", Effect::Kept),
    t("tls-session-cache-size", None, Kind::Int(0, 2147483647), "20480", Effect::Kept),
    t("tls-session-cache-timeout", None, Kind::Int(0, 2147483647), "300", Effect::Kept),
    t("tls-session-caching", None, Kind::Bool, "yes", Effect::Kept),
    t("tracking-table-max-keys", None, Kind::Int(0, 9223372036854775807), "1000000", Effect::Kept),
    t("unixsocket", None, Kind::Text, "", Effect::Immutable),
    t("unixsocketperm", None, Kind::Int(0, 511), "0", Effect::Immutable),
    t("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), Kind::Int(0, 9223372036854775807), "128", Effect::Kept),
    t("zset-max-listpack-value", Some("zset-max-ziplist-value"), Kind::Memory(0, 9223372036854775807), "64", Effect::Kept),
    // Redis's hidden parameters (HIDDEN_CONFIG): CONFIG GET answers them by exact name only
    // (see HIDDEN). rdb-key-save-delay is honoured (persist.rs); the others tune what this
    // server does not have (panic exit codes, a loading event loop, per-key load delays;
    // watchdog-period is left out: Redis starts a SIGALRM watchdog for it) and are accepted so Redis's own test suites can set and restore them.
    t("key-load-delay", None, Kind::Int(-2147483648, 2147483647), "0", Effect::Kept),
    t("loading-process-events-interval-bytes", None, Kind::Int(1024, 2147483647), "2097152", Effect::Kept),
    t("rdb-key-save-delay", None, Kind::Int(-2147483648, 2147483647), "0", Effect::Kept),
    t("use-exit-on-panic", None, Kind::Bool, "no", Effect::Kept),

];

/// Parameters CONFIG GET answers only when asked by their exact name, never through a
/// pattern (Redis's HIDDEN_CONFIG).
pub const HIDDEN: &[&str] = &[
    "key-load-delay",
    "loading-process-events-interval-bytes",
    "rdb-key-save-delay",
    "use-exit-on-panic",
];

/// Finds a tunable by its name or alias (case-insensitive).
pub fn find(name: &str) -> Option<&'static Tunable> {
    TUNABLES.iter().find(|t| {
        t.name.eq_ignore_ascii_case(name) || t.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The current values, by name, and the encoding thresholds among them in a form every
/// command can read without a lock (see [`store::limits`]).
#[derive(Debug)]
pub struct Tunables {
    values: RwLock<HashMap<&'static str, String>>,
    hash_entries: AtomicUsize,
    hash_value: AtomicUsize,
    set_intset_entries: AtomicUsize,
    zset_entries: AtomicUsize,
    zset_value: AtomicUsize,
    /// `min-replicas-to-write` and `min-replicas-max-lag`, read by every write.
    pub min_replicas_to_write: AtomicUsize,
    pub min_replicas_max_lag: AtomicUsize,
    /// `busy-reply-threshold` (`lua-time-limit`) in ms, read by every script.
    pub busy_reply_threshold: AtomicUsize,
    /// `hll-sparse-max-bytes`, read by every PFADD.
    pub hll_sparse_max_bytes: AtomicUsize,
    /// `tracking-table-max-keys`, read whenever a read is tracked (0 = no limit).
    pub tracking_table_max_keys: AtomicUsize,
    /// `stream-node-max-bytes` and `stream-node-max-entries`, read by every XADD.
    pub stream_node_max_bytes: AtomicUsize,
    pub stream_node_max_entries: AtomicUsize,
    /// `replica-read-only` and `replica-serve-stale-data`, read by every command on a replica.
    pub replica_read_only: std::sync::atomic::AtomicBool,
    pub replica_serve_stale_data: std::sync::atomic::AtomicBool,
}

impl Default for Tunables {
    fn default() -> Self {
        let d = store::limits::Limits::DEFAULT;
        Tunables {
            values: RwLock::new(
                TUNABLES
                    .iter()
                    .map(|t| (t.name, t.default.to_string()))
                    .collect(),
            ),
            hash_entries: AtomicUsize::new(d.hash_entries),
            hash_value: AtomicUsize::new(d.hash_value),
            set_intset_entries: AtomicUsize::new(d.set_intset_entries),
            zset_entries: AtomicUsize::new(d.zset_entries),
            zset_value: AtomicUsize::new(d.zset_value),
            min_replicas_to_write: AtomicUsize::new(0),
            min_replicas_max_lag: AtomicUsize::new(10),
            busy_reply_threshold: AtomicUsize::new(5000),
            hll_sparse_max_bytes: AtomicUsize::new(3000),
            tracking_table_max_keys: AtomicUsize::new(1_000_000),
            stream_node_max_bytes: AtomicUsize::new(4096),
            stream_node_max_entries: AtomicUsize::new(100),
            replica_read_only: true.into(),
            replica_serve_stale_data: true.into(),
        }
    }
}

impl Tunables {
    pub fn get(&self, t: &Tunable) -> String {
        self.values.read().get(t.name).cloned().unwrap_or_default()
    }

    /// Stores a value [`validate`] normalised.
    pub fn set(&self, t: &Tunable, normalised: String) {
        let target = match t.name {
            "hash-max-listpack-entries" => Some(&self.hash_entries),
            "hash-max-listpack-value" => Some(&self.hash_value),
            "set-max-intset-entries" => Some(&self.set_intset_entries),
            "zset-max-listpack-entries" => Some(&self.zset_entries),
            "zset-max-listpack-value" => Some(&self.zset_value),
            "min-replicas-to-write" => Some(&self.min_replicas_to_write),
            "min-replicas-max-lag" => Some(&self.min_replicas_max_lag),
            "busy-reply-threshold" => Some(&self.busy_reply_threshold),
            "hll-sparse-max-bytes" => Some(&self.hll_sparse_max_bytes),
            "tracking-table-max-keys" => Some(&self.tracking_table_max_keys),
            "stream-node-max-bytes" => Some(&self.stream_node_max_bytes),
            "stream-node-max-entries" => Some(&self.stream_node_max_entries),
            _ => None,
        };
        let flag = match t.name {
            "replica-read-only" => Some(&self.replica_read_only),
            "replica-serve-stale-data" => Some(&self.replica_serve_stale_data),
            _ => None,
        };
        if let Some(flag) = flag {
            flag.store(normalised == "yes", Ordering::Relaxed);
        }
        if let (Some(target), Ok(n)) = (target, normalised.parse::<u64>()) {
            target.store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::Relaxed);
        }
        self.values.write().insert(t.name, normalised);
    }

    /// The encoding thresholds now in force.
    #[inline]
    pub fn limits(&self) -> store::limits::Limits {
        store::limits::Limits {
            hash_entries: self.hash_entries.load(Ordering::Relaxed),
            hash_value: self.hash_value.load(Ordering::Relaxed),
            set_intset_entries: self.set_intset_entries.load(Ordering::Relaxed),
            zset_entries: self.zset_entries.load(Ordering::Relaxed),
            zset_value: self.zset_value.load(Ordering::Relaxed),
        }
    }
}

/// Checks `value` for `t` as Redis's CONFIG SET does; answers the normalised value or the
/// reason it is refused (the text after Redis's "CONFIG SET failed ... - ").
pub fn validate(t: &Tunable, value: &str) -> Result<String, String> {
    if matches!(t.effect, Effect::Immutable) {
        return Err("can't set immutable config".into());
    }
    let normalised = normalise(t.kind, value)?;
    if let Effect::Only(allowed, why) = t.effect {
        if normalised != allowed {
            return Err(why.to_string());
        }
    }
    Ok(normalised)
}

fn in_range(n: i64, lo: i64, hi: i64) -> Result<i64, String> {
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    }
}

/// Redis's `memtoull`: as `config::parse_memory`, and an empty value reads as 0.
fn memory(value: &str) -> Option<i64> {
    if value.is_empty() {
        return Some(0);
    }
    crate::config::parse_memory(value).and_then(|n| i64::try_from(n).ok())
}

fn normalise(kind: Kind, value: &str) -> Result<String, String> {
    match kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(lo, hi) => {
            let n = resp::number::parse_i64(value.as_bytes())
                .ok_or("argument couldn't be parsed into an integer")?;
            Ok(in_range(n, lo, hi)?.to_string())
        }
        Kind::Memory(lo, hi) => {
            let n = memory(value).ok_or("argument must be a memory value")?;
            Ok(in_range(n, lo, hi)?.to_string())
        }
        Kind::Backlog => {
            let n = memory(value).ok_or("argument must be a memory value")?;
            Ok(in_range(n, 1, i64::MAX)?.max(16 * 1024).to_string())
        }
        Kind::MemoryOrPercent => {
            if let Some(p) = value.strip_suffix('%') {
                let n = resp::number::parse_i64(p.as_bytes())
                    .filter(|n| *n >= 0)
                    .ok_or("argument must be a memory or percent value")?;
                if n > 100 {
                    return Err("percentage argument must be less or equal to 100".into());
                }
                return Ok(format!("{n}%"));
            }
            memory(value)
                .map(|n| n.to_string())
                .ok_or_else(|| "argument must be a memory or percent value".into())
        }
        Kind::Enum(words) => {
            let v = value.to_ascii_lowercase();
            if words.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                ))
            }
        }
        Kind::Text => Ok(value.to_string()),
        Kind::NotifyClasses => crate::notify::parse(value)
            .map(crate::notify::format)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        Kind::Shutdown => shutdown_flags(value),
        Kind::OomValues => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            if parts.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut out = Vec::new();
            for p in parts {
                let n = resp::number::parse_i64(p.as_bytes())
                    .filter(|n| (-2000..=2000).contains(n))
                    .ok_or("Invalid oom-score-adj-values: values must be between -2000 and 2000")?;
                out.push(n.to_string());
            }
            Ok(out.join(" "))
        }
        Kind::Percentiles => {
            let mut out = Vec::new();
            for p in value.split_whitespace() {
                let n: f64 = p
                    .parse()
                    .map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                out.push(format!("{n}"));
            }
            Ok(out.join(" "))
        }
    }
}

/// `shutdown-on-sigint` / `-sigterm`: `default` or a set of `save`|`nosave`, `now`, `force`.
fn shutdown_flags(value: &str) -> Result<String, String> {
    const WORDS: [&str; 5] = ["default", "save", "nosave", "now", "force"];
    let mut seen = [false; 5];
    let words = value.split_whitespace();
    if words.clone().next().is_none() {
        return Err(format!(
            "argument(s) must be one of the following: {}",
            WORDS.join(", ")
        ));
    }
    for w in words {
        let w = w.to_ascii_lowercase();
        let Some(i) = WORDS.iter().position(|x| *x == w) else {
            return Err(format!(
                "argument(s) must be one of the following: {}",
                WORDS.join(", ")
            ));
        };
        seen[i] = true;
    }
    if seen[1] && seen[2] {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    let chosen: Vec<&str> = (1..5).filter(|&i| seen[i]).map(|i| WORDS[i]).collect();
    Ok(if chosen.is_empty() {
        "default".into()
    } else {
        chosen.join(" ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_valid() {
        let mut names = std::collections::HashSet::new();
        for t in TUNABLES {
            assert!(names.insert(t.name), "{}", t.name);
            if let Some(a) = t.alias {
                assert!(names.insert(a), "{a}");
            }
            if !matches!(t.effect, Effect::Immutable) {
                assert_eq!(
                    validate(t, t.default).as_deref(),
                    Ok(t.default),
                    "{}",
                    t.name
                );
            }
        }
        assert!(crate::config::PARAMS.iter().all(|p| find(p.name).is_none()));
    }
}
