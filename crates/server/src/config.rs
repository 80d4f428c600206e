//! Node configuration: what is fixed at start ([`Config`]) and what `CONFIG SET` may change
//! while running ([`Live`]).
//!
//! Parameter names, value syntax (`64mb`, `1gb`) and error messages are Redis's, so operators
//! and tools that speak Redis configuration work unchanged.

use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Deserializer};

/// Parses a memory amount as Redis's `memtoull`: bytes, or a number with `k`/`kb`, `m`/`mb`,
/// `g`/`gb` (case-insensitive; `k` = 1000, `kb` = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

fn de_memory<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mem {
        N(u64),
        S(String),
    }
    match Mem::deserialize(d)? {
        Mem::N(n) => Ok(n),
        Mem::S(s) => parse_memory(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a memory value"))),
    }
}

/// The `maxmemory-policy` values, with Redis's names (defined in the store, which applies
/// them).
pub use store::Policy as EvictionPolicy;

fn de_policy<'de, D: Deserializer<'de>>(d: D) -> Result<EvictionPolicy, D::Error> {
    let s = String::deserialize(d)?;
    EvictionPolicy::parse(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown maxmemory-policy '{s}'")))
}

/// Start-up configuration (flags, TOML file, environment). Field names are Redis's
/// parameter names in kebab case.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub bind: String,
    pub port: u16,
    /// Admin HTTP port (health, metrics); 0 = off.
    pub admin_port: u16,
    /// Address the admin HTTP port binds; `None` = `bind`.
    pub admin_bind: Option<String>,
    /// Simultaneous admin HTTP connections (its own descriptor budget).
    pub admin_max_connections: usize,
    /// Host names the admin API answers to, besides IP addresses and `localhost`.
    pub admin_allow_hosts: Vec<String>,
    /// A bearer token that opens every admin endpoint (besides ACL users with Basic auth);
    /// when set, the admin API needs credentials even if the node has no password.
    pub admin_token: Option<String>,
    #[serde(deserialize_with = "de_memory")]
    pub maxmemory: u64,
    #[serde(deserialize_with = "de_policy")]
    pub maxmemory_policy: EvictionPolicy,
    pub requirepass: Option<String>,
    pub maxclients: usize,
    /// Close connections idle this many seconds; 0 = never.
    pub timeout: u64,
    #[serde(deserialize_with = "de_memory")]
    pub proto_max_bulk_len: u64,
    #[serde(deserialize_with = "de_memory")]
    pub client_query_buffer_limit: u64,
    /// Redis syntax: `normal <hard> <soft> <seconds>` (other classes accepted and kept).
    pub client_output_buffer_limit: String,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// Active expiry cycles per second.
    pub hz: u32,
    /// Worker threads; 0 = one per core but one, at least one (`default_workers`).
    pub threads: usize,
    /// Microseconds an idle worker spins before it sleeps (0 = sleep at once).
    pub busy_poll_us: u64,
    /// Cluster mode: the Redis Cluster protocol (slots, MOVED, CLUSTER ...). A node without
    /// peers bootstraps a cluster of one that owns every slot.
    pub cluster_enabled: bool,
    /// The cluster bus port announced in CLUSTER NODES; 0 = port + 10000.
    pub cluster_port: u16,
    /// Replicas each shard should have, set by the node that starts a cluster (nodes that
    /// join while a shard has fewer become replicas).
    pub cluster_replicas: usize,
    /// Milliseconds a primary may leave the Raft leader's probes unanswered before one of
    /// its replicas is promoted; 0 = the default (`cluster::node::NODE_TIMEOUT`).
    pub cluster_node_timeout: u64,
    /// Bytes per second a node's slot migrations may send in all (`64mb`, ...); 0 = no limit.
    #[serde(deserialize_with = "de_memory")]
    pub migration_max_bandwidth: u64,
    /// Seconds between a cluster replica's consistency audits (its data compared with its
    /// primary's, slot by slot: `replication::audit`); 0 = never. Each one computes a digest
    /// of the primary's whole dataset with its commands held meanwhile, like DEBUG DIGEST.
    pub replica_digest_interval: u64,
    /// The failure domain this node runs in (a rack, an availability zone): a shard's
    /// replicas are placed in other zones than its primary.
    pub cluster_zone: Option<String>,
    /// This node's capacity relative to the others (a primary's shard owns slots in
    /// proportion to it); 0 or 1: an equal share.
    pub cluster_weight: u32,
    /// The gRPC port (`cache.CacheService`, served by the binary with the `grpc` crate);
    /// 0 = off.
    pub grpc_port: u16,
    /// Address the gRPC port binds; `None` = `bind`.
    pub grpc_bind: Option<String>,
    /// The gRPC port speaks TLS (the node's certificate; client certificates as
    /// `tls-auth-clients` says).
    pub grpc_tls: bool,
    /// Largest gRPC request or response message.
    #[serde(deserialize_with = "de_memory")]
    pub grpc_max_message_size: u64,
    /// Requests in flight at once on each front door (RESP commands being executed, gRPC
    /// calls); more are refused at once (`-BUSY`, RESOURCE_EXHAUSTED) instead of queueing.
    /// 0 = no bound.
    pub max_concurrent_requests: usize,
    /// Refuse new requests while the process used more than this share of all cores
    /// (0.0-1.0) over `cpu_shed_window_ms`; 0 = never.
    pub cpu_shed_threshold: f64,
    pub cpu_shed_window_ms: u64,
    /// Cluster mode: `same-node` lets a command whose keys span slots run when this node
    /// serves them all (MGET across slots without hash tags); `no` = Redis's CROSSSLOT.
    pub allow_cross_slot: String,
    /// The file this configuration was read from (`--config`), if any: INFO's
    /// `config_file`, and what CONFIG REWRITE would rewrite.
    #[serde(skip)]
    pub config_file: Option<std::path::PathBuf>,
    /// Where snapshots are written and read (and, in cluster mode, the node's Raft state).
    pub dir: std::path::PathBuf,
    /// The snapshot's file name in `dir`.
    pub dbfilename: String,
    /// Automatic snapshots, Redis's syntax: "<seconds> <changes> ..." (BGSAVE when at least
    /// `changes` writes happened and `seconds` passed since the last save); "" = none (the
    /// default here: a cache saves when asked).
    pub save: String,
    /// Address the cluster bus listens on; `None` = `bind`.
    pub cluster_bind: Option<String>,
    /// The secret every cluster bus connection proves knowledge of; `None` = derived from
    /// `requirepass` when set, else an open bus.
    pub cluster_secret: Option<String>,
    /// Follow this primary from the start: "<host> <port>" (Redis's `replicaof`).
    pub replicaof: Option<String>,
    /// The password (and user) this node gives its primary (Redis's `masterauth`,
    /// `masteruser`).
    pub masterauth: Option<String>,
    pub masteruser: Option<String>,
    /// ACL users, each as its `user` line without the word `user` (`"alice on >pw ~app:*
    /// +@read"`); not together with `aclfile`.
    pub users: Vec<String>,
    /// The ACL file: users loaded from it at start, ACL LOAD and ACL SAVE.
    pub aclfile: Option<std::path::PathBuf>,
    /// TLS (Redis's names): the TLS client port (0 = none), the certificate, key and CA,
    /// whether clients must present a certificate (`yes`, `no`, `optional`), the protocol
    /// versions and suites, and whether replication links use TLS.
    pub tls_port: u16,
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    pub tls_ca_cert_file: Option<std::path::PathBuf>,
    pub tls_auth_clients: Option<String>,
    pub tls_protocols: Option<String>,
    pub tls_ciphersuites: Option<String>,
    pub tls_ciphers: Option<String>,
    pub tls_replication: bool,
    /// Links between cluster members (the bus, migrations, the admin API's calls) use TLS.
    pub tls_cluster: bool,
    /// How often the node records its figures for the metric history and evaluates the
    /// alerts (ms).
    pub metrics_interval_ms: u64,
    /// Alert thresholds (`[alerts]` in the file: `latency-ms`, `memory-percent`, ...).
    pub alerts: crate::alerts::Thresholds,
    /// Alert changes are POSTed as JSON to this http:// URL.
    pub alert_webhook: Option<String>,
    /// A TLS listener bound by the caller (tests bind port 0), instead of `tls_port`.
    #[serde(skip)]
    pub tls_listener: Option<std::sync::Arc<std::net::TcpListener>>,
    pub loglevel: String,
    /// The Redis version the node reports (HELLO, INFO, LOLWUT, scripts): "major.minor.patch".
    pub compat_version: String,
    /// Commands linked in beside the node's own (the script engine's EVAL, FUNCTION, ...):
    /// handed in by whoever assembles the node, never read from a file.
    #[serde(skip)]
    pub extra_commands: Vec<(&'static str, crate::command::Handler)>,
    /// Redis parameters beyond the fields above, by their CONFIG name, as a configuration
    /// file gives them (`hash-max-listpack-entries = 256`): applied at start as CONFIG SET
    /// would, so what CONFIG REWRITE writes back is read again.
    #[serde(skip)]
    pub redis_params: Vec<(String, String)>,
}

impl Config {
    /// Reads a configuration file's TOML: the fields of [`Config`] and, by their CONFIG
    /// name, the other Redis parameters ([`crate::tunables`]). Unknown names are errors.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let mut params = Vec::new();
        let names: Vec<String> = table.keys().cloned().collect();
        for name in names {
            if crate::tunables::find(&name).is_none() || Config::has_field(&name) {
                continue;
            }
            let value = match table.remove(&name).expect("listed above") {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
                other => {
                    return Err(format!(
                        "{name}: expected a string, a number or a boolean, not {}",
                        other.type_str()
                    ))
                }
            };
            params.push((name, value));
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        config.redis_params = params;
        Ok(config)
    }

    /// Whether `name` is one of [`Config`]'s own keys (asked of its deserializer, which
    /// refuses unknown fields).
    pub fn has_field(name: &str) -> bool {
        let mut one = toml::Table::new();
        one.insert(name.to_string(), toml::Value::Boolean(false));
        match toml::Value::Table(one).try_into::<Config>() {
            Ok(_) => true,
            Err(e) => !e.to_string().contains("unknown field"),
        }
    }
}

impl Config {
    pub fn admin_bind(&self) -> &str {
        self.admin_bind.as_deref().unwrap_or(&self.bind)
    }

    /// The admin listener's guards.
    pub fn admin_options(&self) -> adminhttp::Options {
        adminhttp::Options {
            max_connections: self.admin_max_connections,
            allow_hosts: self.admin_allow_hosts.clone(),
            ..Default::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            admin_port: 0,
            admin_bind: None,
            admin_max_connections: 64,
            admin_allow_hosts: Vec::new(),
            admin_token: None,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            requirepass: None,
            maxclients: 10000,
            timeout: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: DEFAULT_OUTPUT_LIMITS.into(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            hz: 10,
            threads: 0,
            busy_poll_us: 0,
            cluster_enabled: false,
            cluster_port: 0,
            cluster_replicas: 0,
            cluster_node_timeout: 0,
            migration_max_bandwidth: 0,
            replica_digest_interval: 0,
            cluster_zone: None,
            cluster_weight: 1,
            grpc_port: 0,
            grpc_bind: None,
            grpc_tls: false,
            grpc_max_message_size: 16 * 1024 * 1024,
            max_concurrent_requests: 0,
            cpu_shed_threshold: 0.0,
            cpu_shed_window_ms: 10_000,
            allow_cross_slot: "no".into(),
            config_file: None,
            cluster_bind: None,
            cluster_secret: None,
            replicaof: None,
            masterauth: None,
            masteruser: None,
            users: Vec::new(),
            aclfile: None,
            tls_port: 0,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_cert_file: None,
            tls_auth_clients: None,
            tls_protocols: None,
            tls_ciphersuites: None,
            tls_ciphers: None,
            tls_replication: false,
            tls_cluster: false,
            tls_listener: None,
            metrics_interval_ms: 10_000,
            alerts: Default::default(),
            alert_webhook: None,
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            save: String::new(),
            loglevel: "notice".into(),
            compat_version: crate::REDIS_COMPAT_VERSION.into(),
            extra_commands: Vec::new(),
            redis_params: Vec::new(),
        }
    }
}

const DEFAULT_OUTPUT_LIMITS: &str =
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// Output buffer limits of one client class (bytes, bytes, seconds; 0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Parses `class hard soft seconds [class hard soft seconds ...]` as Redis does.
pub fn parse_output_limits(s: &str) -> Result<Vec<(String, OutputLimit)>, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.is_empty() || !parts.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = Vec::new();
    for chunk in parts.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(chunk[1]);
        let soft = parse_memory(chunk[2]);
        let secs = chunk[3].parse::<u64>().ok();
        let (Some(hard), Some(soft), Some(soft_seconds)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        out.push((
            class.to_string(),
            OutputLimit {
                hard,
                soft,
                soft_seconds,
            },
        ));
    }
    Ok(out)
}

/// Settings read on hot paths are atomics; the rest sit behind a lock.
#[derive(Debug)]
pub struct Live {
    /// Where snapshots go (`dir`) and their file name (`dbfilename`).
    pub dir: RwLock<String>,
    pub dbfilename: RwLock<String>,
    /// Save points, (seconds, changes), from `save`.
    pub save_points: RwLock<Vec<(u64, u64)>>,
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    pub maxclients: AtomicUsize,
    pub timeout: AtomicU64,
    pub proto_max_bulk_len: AtomicI64,
    /// The Redis version reported (`compat-version`).
    pub compat_version: String,
    /// Whether that version is 7.2 or later: the node then also answers Redis 7.2's
    /// additions to 7.0 commands (ZRANK/ZREVRANK WITHSCORE, XINFO's consumer activity times).
    /// Below it, those commands answer exactly as Redis 7.0 does, which is what the
    /// differential tests against redis-server 7.0 run with.
    pub redis_7_2: bool,
    pub client_query_buffer_limit: AtomicU64,
    pub normal_output_hard: AtomicU64,
    pub normal_output_soft: AtomicU64,
    pub normal_output_soft_seconds: AtomicU64,
    pub slowlog_log_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    pub hz: AtomicU64,
    requirepass: RwLock<Option<String>>,
    output_limits: RwLock<Vec<(String, OutputLimit)>>,
    /// The plain client port in force (CONFIG SET port moves the listener).
    pub port: AtomicU16,
    /// The client address in force (CONFIG SET bind moves the listener).
    pub bind: RwLock<String>,
    /// Every other Redis parameter (`crate::tunables`).
    pub tunables: crate::tunables::Tunables,
}

impl Live {
    pub fn new(c: &Config) -> Result<Self, String> {
        let limits = parse_output_limits(&c.client_output_buffer_limit)?;
        let parts: Vec<&str> = c.compat_version.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.parse::<u8>().is_err())
        {
            return Err(format!(
                "compat-version must be major.minor.patch (e.g. 7.4.0), not '{}'",
                c.compat_version
            ));
        }
        let version: Vec<u8> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
        let live = Live {
            compat_version: c.compat_version.clone(),
            redis_7_2: version[..2] >= [7, 2][..],
            dir: RwLock::new(c.dir.to_string_lossy().into_owned()),
            dbfilename: RwLock::new(c.dbfilename.clone()),
            save_points: RwLock::new(parse_save_points(&c.save)?),
            maxmemory: AtomicU64::new(c.maxmemory),
            policy: AtomicU8::new(c.maxmemory_policy as u8),
            maxclients: AtomicUsize::new(c.maxclients),
            timeout: AtomicU64::new(c.timeout),
            proto_max_bulk_len: AtomicI64::new(c.proto_max_bulk_len as i64),
            client_query_buffer_limit: AtomicU64::new(c.client_query_buffer_limit),
            normal_output_hard: AtomicU64::new(0),
            normal_output_soft: AtomicU64::new(0),
            normal_output_soft_seconds: AtomicU64::new(0),
            slowlog_log_slower_than: AtomicI64::new(c.slowlog_log_slower_than),
            slowlog_max_len: AtomicU64::new(c.slowlog_max_len),
            hz: AtomicU64::new(c.hz.clamp(1, 500) as u64),
            requirepass: RwLock::new(None),
            output_limits: RwLock::new(Vec::new()),
            port: AtomicU16::new(c.port),
            bind: RwLock::new(c.bind.clone()),
            tunables: Default::default(),
        };
        live.set_requirepass(c.requirepass.clone().filter(|p| !p.is_empty()));
        live.set_output_limits(limits);
        let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let aclfile = path(&c.aclfile);
        let tls_port = Some(c.tls_port.to_string());
        let yes_no = |on: bool| Some(if on { "yes" } else { "no" }.to_string());
        let (tls_replication, tls_cluster) = (yes_no(c.tls_replication), yes_no(c.tls_cluster));
        let (cert, key, ca) = (
            path(&c.tls_cert_file),
            path(&c.tls_key_file),
            path(&c.tls_ca_cert_file),
        );
        for (name, value) in [
            ("masterauth", &c.masterauth),
            ("masteruser", &c.masteruser),
            ("aclfile", &aclfile),
            ("tls-port", &tls_port),
            ("tls-cert-file", &cert),
            ("tls-key-file", &key),
            ("tls-ca-cert-file", &ca),
            ("tls-auth-clients", &c.tls_auth_clients),
            ("tls-protocols", &c.tls_protocols),
            ("tls-ciphersuites", &c.tls_ciphersuites),
            ("tls-ciphers", &c.tls_ciphers),
            ("tls-replication", &tls_replication),
            ("tls-cluster", &tls_cluster),
        ] {
            if let (Some(t), Some(v)) = (crate::tunables::find(name), value) {
                // Checked as CONFIG SET would (those fixed at start are taken as given).
                let v = match t.effect {
                    crate::tunables::Effect::Immutable => v.clone(),
                    _ => crate::tunables::validate(t, v).map_err(|e| format!("{name}: {e}"))?,
                };
                live.tunables.set(t, v);
            }
        }
        for (name, value) in &c.redis_params {
            let t =
                crate::tunables::find(name).ok_or_else(|| format!("unknown parameter {name}"))?;
            let v = match t.effect {
                crate::tunables::Effect::Immutable => value.clone(),
                _ => crate::tunables::validate(t, value).map_err(|e| format!("{name}: {e}"))?,
            };
            live.tunables.set(t, v);
        }
        Ok(live)
    }

    pub fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub fn requirepass(&self) -> Option<String> {
        self.requirepass.read().clone()
    }

    fn set_requirepass(&self, pass: Option<String>) {
        *self.requirepass.write() = pass;
    }

    fn set_output_limits(&self, new: Vec<(String, OutputLimit)>) {
        let mut limits = self.output_limits.write();
        for (class, limit) in new {
            if class == "normal" {
                self.normal_output_hard.store(limit.hard, Ordering::Relaxed);
                self.normal_output_soft.store(limit.soft, Ordering::Relaxed);
                self.normal_output_soft_seconds
                    .store(limit.soft_seconds, Ordering::Relaxed);
            }
            match limits.iter_mut().find(|(c, _)| *c == class) {
                Some(slot) => slot.1 = limit,
                None => limits.push((class, limit)),
            }
        }
    }

    /// The limit of a client class (`normal`, `slave`, `pubsub`).
    pub fn output_limit(&self, class: &str) -> OutputLimit {
        self.output_limits
            .read()
            .iter()
            .find(|(c, _)| c == class)
            .map(|(_, l)| *l)
            .unwrap_or_default()
    }

    fn output_limits_text(&self) -> String {
        let limits = self.output_limits.read();
        ["normal", "slave", "pubsub"]
            .iter()
            .map(|class| {
                let l = limits
                    .iter()
                    .find(|(c, _)| c == class)
                    .map(|(_, l)| *l)
                    .unwrap_or_default();
                format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

type Getter = fn(&Live) -> String;
type Setter = fn(&Live, &str) -> Result<(), String>;

/// One configuration parameter as `CONFIG GET/SET` sees it. `set: None` = immutable.
pub struct Param {
    pub name: &'static str,
    pub get: Getter,
    pub set: Option<Setter>,
}

fn set_u64(target: &AtomicU64, v: &str, min: u64, max: u64) -> Result<(), String> {
    let n: u64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    target.store(n, Ordering::Relaxed);
    Ok(())
}

fn memory_arg(v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())
}

/// The parameters this node acts on, in Redis's names. The rest of Redis's parameters are
/// accepted and kept (or refused with a reason) by `crate::tunables`.
pub static PARAMS: &[Param] = &[
    Param {
        name: "maxmemory",
        get: |l| l.maxmemory.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| {
            l.maxmemory.store(memory_arg(v)?, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |l| l.policy().name().to_string(),
        set: Some(|l, v| {
            let p = EvictionPolicy::parse(v).ok_or_else(|| {
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction".to_string()
            })?;
            l.policy.store(p as u8, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "maxclients",
        get: |l| l.maxclients.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| {
            let n: usize = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < 1 {
                return Err("argument must be between 1 and 4294967295 inclusive".into());
            }
            l.maxclients.store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "timeout",
        get: |l| l.timeout.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| set_u64(&l.timeout, v, 0, i32::MAX as u64)),
    },
    Param {
        name: "requirepass",
        get: |l| l.requirepass().unwrap_or_default(),
        set: Some(|l, v| {
            l.set_requirepass((!v.is_empty()).then(|| v.to_string()));
            Ok(())
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |l| l.proto_max_bulk_len.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| {
            let n = memory_arg(v)?;
            if !(1024 * 1024..=i64::MAX as u64).contains(&n) {
                return Err(format!(
                    "argument must be between 1048576 and {} inclusive",
                    i64::MAX
                ));
            }
            l.proto_max_bulk_len.store(n as i64, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |l| {
            l.client_query_buffer_limit
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(|l, v| {
            let n = memory_arg(v)?;
            if n < 1024 * 1024 {
                return Err(
                    "argument must be between 1048576 and 9223372036854775807 inclusive".into(),
                );
            }
            l.client_query_buffer_limit.store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "client-output-buffer-limit",
        get: |l| l.output_limits_text(),
        set: Some(|l, v| {
            l.set_output_limits(parse_output_limits(v)?);
            Ok(())
        }),
    },
    Param {
        name: "slowlog-log-slower-than",
        get: |l| {
            l.slowlog_log_slower_than
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(|l, v| {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            l.slowlog_log_slower_than.store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "slowlog-max-len",
        get: |l| l.slowlog_max_len.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| set_u64(&l.slowlog_max_len, v, 0, i64::MAX as u64)),
    },
    Param {
        name: "hz",
        get: |l| l.hz.load(Ordering::Relaxed).to_string(),
        set: Some(|l, v| {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            // Redis clamps hz into 1..=500 rather than refusing.
            l.hz.store(n.clamp(1, 500) as u64, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "port",
        get: |l| l.port.load(Ordering::Relaxed).to_string(),
        // Validated here; the listener itself moves in CONFIG SET (`crate::client_port`).
        set: Some(|l, v| {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            let port = u16::try_from(n)
                .map_err(|_| "argument must be between 0 and 65535 inclusive".to_string())?;
            l.port.store(port, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "bind",
        get: |l| l.bind.read().clone(),
        // Validated here; the listener itself moves in CONFIG SET (`crate::client_port`).
        set: Some(|l, v| {
            crate::client_port::listen_address(v)?;
            *l.bind.write() = v.to_string();
            Ok(())
        }),
    },
    Param {
        name: "databases",
        get: |_| "1".into(),
        set: None,
    },
    Param {
        name: "save",
        get: |l| {
            l.save_points
                .read()
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" ")
        },
        set: Some(|l, v| {
            *l.save_points.write() = parse_save_points(v)?;
            Ok(())
        }),
    },
    Param {
        name: "dir",
        get: |l| {
            let d = l.dir.read().clone();
            std::fs::canonicalize(&d).map_or(d, |p| p.to_string_lossy().into_owned())
        },
        set: Some(|l, v| {
            if !std::path::Path::new(v).is_dir() {
                return Err("No such file or directory".into());
            }
            *l.dir.write() = v.to_string();
            Ok(())
        }),
    },
    Param {
        name: "dbfilename",
        get: |l| l.dbfilename.read().clone(),
        set: Some(|l, v| {
            if v.contains('/') || v.contains('\\') || v.is_empty() {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            *l.dbfilename.write() = v.to_string();
            Ok(())
        }),
    },
];

/// Parses Redis's `save` value: pairs of "<seconds> <changes>", or "" for none.
/// `replicaof`'s value: "<host> <port>".
pub fn parse_replicaof(v: &str) -> Result<(String, u16), String> {
    let mut parts = v.split_whitespace();
    match (
        parts.next(),
        parts.next().map(str::parse::<u16>),
        parts.next(),
    ) {
        (Some(host), Some(Ok(port)), None) => Ok((host.to_string(), port)),
        _ => Err(format!("expected \"<host> <port>\", got {v:?}")),
    }
}

pub fn parse_save_points(v: &str) -> Result<Vec<(u64, u64)>, String> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    if !parts.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    parts
        .chunks(2)
        .map(|p| match (p[0].parse::<u64>(), p[1].parse::<u64>()) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            _ => Err("Invalid save parameters".into()),
        })
        .collect()
}

pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_like_redis() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("64mb"), Some(64 << 20));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("mb"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn output_limits_parse_and_render() {
        let live = Live::new(&Config::default()).unwrap();
        assert_eq!(
            live.output_limits_text(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        live.set_output_limits(parse_output_limits("normal 1mb 512kb 10").unwrap());
        assert_eq!(live.normal_output_hard.load(Ordering::Relaxed), 1 << 20);
        assert!(parse_output_limits("normal 1 2").is_err());
        assert!(parse_output_limits("bogus 1 2 3").is_err());
    }
}
