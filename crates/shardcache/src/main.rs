//! The `shardcache` binary: parses configuration and runs a node. All behaviour lives in the
//! library crates.

mod cluster_proxy;
mod dev;
mod gateway_cmd;
mod import;
mod ops;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use server::config::{parse_memory, EvictionPolicy};
use server::Config;

#[derive(Parser)]
#[command(
    name = "shardcache",
    version,
    about = "A distributed, Redis-compatible cache"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a cache node speaking the Redis protocol.
    Server(Box<ServerArgs>),
    /// Run a sharding proxy over existing Redis servers (twemproxy-compatible placement).
    Proxy(Box<ProxyArgs>),
    /// Change or inspect a running cluster through any of its nodes.
    Cluster(ops::ClusterArgs),
    /// Run an HTTP caching gateway in front of an HTTP API, caching in a cluster or on a
    /// ring of Redis servers (X-Cache: HIT|MISS|BYPASS|STALE).
    Gateway(Box<gateway_cmd::GatewayArgs>),
    /// Start a local cluster of N nodes (stopped together on Ctrl-C).
    Dev(dev::DevArgs),
    /// Warm a node or a cluster from a dump.rdb or a live Redis (redis://host:port).
    Import(import::ImportArgs),
    /// Exit 0 when an admin URL answers 200 (container health checks: `shardcache probe
    /// http://127.0.0.1:9121/health`), 1 otherwise.
    Probe { url: String },
    /// Write a throwaway CA and a certificate (for localhost, 127.0.0.1 and --host) for
    /// trying TLS locally: DIR/ca.crt, DIR/shardcache.crt, DIR/shardcache.key. Not for
    /// production (the CA key is written beside them).
    Certs(CertsArgs),
}

#[derive(Args)]
struct CertsArgs {
    /// Where to write the files.
    #[arg(long)]
    dir: PathBuf,
    /// Further names or addresses the certificate is valid for (repeatable).
    #[arg(long)]
    host: Vec<String>,
}

fn probe(url: &str) -> ExitCode {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("shardcache probe: an http:// URL is expected");
        return ExitCode::FAILURE;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let ok = (|| -> std::io::Result<bool> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(&head[9..12] == b"200")
    })()
    .unwrap_or(false);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_certs(args: CertsArgs) -> ExitCode {
    let hosts: Vec<&str> = args.host.iter().map(String::as_str).collect();
    match tls::dev::write(&args.dir, &hosts) {
        Ok(c) => {
            println!("CA:          {}", c.ca_cert.display());
            println!("certificate: {}", c.cert.display());
            println!("key:         {}", c.key.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shardcache certs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Either a twemproxy config (`--config nutcracker.yml`) or a list of backends (flags or the
/// seed gateway's environment variables).
#[derive(Args)]
struct ProxyArgs {
    /// A twemproxy (nutcracker) YAML config: every pool in it is served.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Front a cluster instead of a pool: seed nodes (host:port, comma separated) of a
    /// Shard-Cache cluster or a Redis Cluster. Clients that do not speak the cluster
    /// protocol see one server; MGET/MSET/DEL/UNLINK/EXISTS/TOUCH across slots are split.
    #[arg(long, env = "PROXY_CLUSTER", conflicts_with_all = ["config", "backends"])]
    cluster: Option<String>,
    /// Password (and user, with --cluster-user) the proxy gives the cluster's nodes.
    #[arg(long, env = "PROXY_CLUSTER_PASSWORD", requires = "cluster")]
    cluster_password: Option<String>,
    #[arg(long, env = "PROXY_CLUSTER_USER", requires = "cluster_password")]
    cluster_user: Option<String>,
    /// Pipelined connections the proxy keeps to each node (with --cluster).
    #[arg(long, default_value_t = 2)]
    cluster_connections: usize,
    /// With --cluster: a read not answered after this many ms is also sent to a replica;
    /// the first answer wins (0 = off).
    #[arg(long, default_value_t = 0, requires = "cluster")]
    hedge_after_ms: u64,
    /// The share of reads that may be hedged (a budget).
    #[arg(long, default_value_t = 0.1, requires = "cluster")]
    hedge_ratio: f64,
    /// With --cluster: 2 = every read goes to the primary and a replica; the primary's
    /// answer is returned and differences counted in metrics.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2), requires = "cluster")]
    read_quorum: u8,
    /// With --cluster: N >= 2 = a write is acknowledged once the primary and N-1 replicas
    /// have it (WAIT); fewer within --write-quorum-timeout-ms answer NOREPLICAS.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..), requires = "cluster")]
    write_quorum: u8,
    #[arg(long, default_value_t = 1000, requires = "cluster")]
    write_quorum_timeout_ms: u64,
    /// The CA that signs the certificates of `rediss://` backends (PEM).
    #[arg(long, env = "PROXY_BACKEND_TLS_CA_CERT_FILE")]
    backend_tls_ca_cert_file: Option<PathBuf>,
    /// A certificate and key the proxy presents to `rediss://` backends that ask for one.
    #[arg(
        long,
        env = "PROXY_BACKEND_TLS_CERT_FILE",
        requires = "backend_tls_key_file"
    )]
    backend_tls_cert_file: Option<PathBuf>,
    #[arg(long, env = "PROXY_BACKEND_TLS_KEY_FILE")]
    backend_tls_key_file: Option<PathBuf>,
    /// Address to listen on when no config file is given.
    #[arg(long, default_value = "127.0.0.1:22121", env = "PROXY_LISTEN")]
    listen: String,
    /// Comma-separated backends: redis://[:password@]host[:port][/db].
    #[arg(long, env = "CACHE_SHARD_URLS")]
    backends: Option<String>,
    /// Points per backend on the consistent-hash ring (with --backends).
    #[arg(long, env = "VIRTUAL_NODES", default_value_t = 150)]
    virtual_nodes: u32,
    /// Seconds added as a TTL to SETs that carry none (0 = off).
    #[arg(long, env = "CACHE_DEFAULT_TTL", default_value_t = 0)]
    default_ttl: u64,
    /// Password clients must AUTH with (separate from the backends' passwords).
    #[arg(long, env = "PROXY_REQUIREPASS")]
    requirepass: Option<String>,
    /// An ACL user for the proxy's clients, as a redis.conf `user` line without the word
    /// `user` (repeatable): e.g. --user "app on >secret ~app:* +@read +@write -@dangerous".
    /// Checked by the proxy before a command reaches a backend.
    #[arg(long = "user", value_name = "RULES")]
    users: Vec<String>,
    /// Admin HTTP port (/health, /metrics, /api/cache/stats, /api/cache/clear,
    /// /api/proxy/reload); 0 = off.
    #[arg(long, env = "PROXY_ADMIN_PORT", default_value_t = 0)]
    admin_port: u16,
    /// Address the admin HTTP port binds.
    #[arg(long, default_value = "127.0.0.1")]
    admin_bind: String,
    /// Simultaneous admin HTTP connections; more are closed at once.
    #[arg(long, default_value_t = 64)]
    admin_max_connections: usize,
    /// Host names the admin API answers to besides IP addresses and localhost (comma
    /// separated; a guard against DNS rebinding).
    #[arg(long, value_delimiter = ',')]
    admin_allow_host: Vec<String>,
    /// Worker threads (0 = one per core). With 1 the proxy runs on a single event loop, as
    /// twemproxy does: no cross-thread wake-ups between a client and its backends.
    #[arg(long, env = "PROXY_THREADS", default_value_t = 1)]
    threads: usize,
    /// Output buffer limit of proxy clients, Redis's syntax: "normal <hard> <soft>
    /// <seconds>" (other classes accepted and ignored); 0 = none.
    #[arg(long, default_value = "normal 0 0 0", value_parser = normal_output_limit)]
    client_output_buffer_limit: proxy::config::OutputLimit,
    /// Disconnect a proxy client whose unprocessed input exceeds this.
    #[arg(long, default_value = "1gb", value_parser = memory)]
    client_query_buffer_limit: u64,
    /// Log level: debug, verbose, notice, warning.
    #[arg(long, default_value = "notice")]
    loglevel: String,
    /// A bearer token that opens the admin API; with it (or a pool's requirepass, as
    /// Basic `default:<password>`) the admin API needs credentials, except /health.
    #[arg(long, env = "PROXY_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Clients speak TLS to every pool's listener with this certificate and key (PEM);
    /// reloaded on SIGHUP.
    #[arg(long, env = "PROXY_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    #[arg(long, env = "PROXY_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// CA for client certificates (with --tls-auth-clients yes or optional).
    #[arg(long, env = "PROXY_TLS_CA_CERT_FILE")]
    tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate: yes, no, optional [default: no when
    /// no CA is given, else yes].
    #[arg(long, env = "PROXY_TLS_AUTH_CLIENTS")]
    tls_auth_clients: Option<String>,
}

impl ProxyArgs {
    /// The clients' TLS acceptor, if a certificate was given.
    fn tls(&self) -> Result<Option<std::sync::Arc<tls::Acceptor>>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        let mut settings = tls::Settings::new(cert.clone(), key.clone());
        settings.ca_cert_file = self.tls_ca_cert_file.clone();
        settings.auth_clients = match (&self.tls_auth_clients, &settings.ca_cert_file) {
            (Some(a), _) => tls::AuthClients::parse(a)
                .ok_or_else(|| format!("--tls-auth-clients: '{a}' is not yes, no or optional"))?,
            (None, None) => tls::AuthClients::No,
            (None, Some(_)) => tls::AuthClients::Yes,
        };
        tls::Acceptor::new(settings).map(|a| Some(std::sync::Arc::new(a)))
    }
}

/// The `normal` class of a Redis `client-output-buffer-limit` value.
fn normal_output_limit(s: &str) -> Result<proxy::config::OutputLimit, String> {
    let classes = server::config::parse_output_limits(s)?;
    let normal = classes
        .iter()
        .find(|(class, _)| class == "normal")
        .map(|(_, l)| *l)
        .unwrap_or_default();
    Ok(proxy::config::OutputLimit {
        hard: normal.hard,
        soft: normal.soft,
        soft_seconds: normal.soft_seconds,
    })
}

impl ProxyArgs {
    fn pools(&self) -> Result<Vec<proxy::PoolConfig>, String> {
        let mut pools = match (&self.config, &self.backends) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                proxy::config::parse_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            (None, Some(urls)) => vec![proxy::config::from_urls(
                &self.listen,
                urls,
                self.virtual_nodes,
                Some(self.default_ttl),
            )
            .map_err(|e| e.to_string())?],
            (None, None) => {
                return Err(
                    "give --config nutcracker.yml or --backends (or CACHE_SHARD_URLS)".into(),
                )
            }
        };
        let backend_tls = match &self.backend_tls_ca_cert_file {
            None => None,
            Some(ca) => {
                let identity = self
                    .backend_tls_cert_file
                    .as_deref()
                    .zip(self.backend_tls_key_file.as_deref());
                Some(
                    proxy::config::BackendTls::from_files(ca, identity)
                        .map_err(|e| format!("backend TLS: {e}"))?,
                )
            }
        };
        proxy::config::apply_backend_tls(&mut pools, backend_tls)?;
        for p in &mut pools {
            p.client_output_limit = self.client_output_buffer_limit;
            p.client_query_buffer_limit = self.client_query_buffer_limit;
            if self.requirepass.is_some() {
                p.requirepass = self.requirepass.clone();
            }
            if !self.users.is_empty() {
                p.users = self.users.clone();
            }
            if self.default_ttl > 0 {
                p.default_ttl = Some(self.default_ttl);
            }
            proxy::users::Users::new(p.requirepass.as_deref(), &p.users)
                .map_err(|e| format!("--user: {e}"))?;
        }
        Ok(pools)
    }
}

fn memory(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| format!("'{s}' is not a memory value (bytes, or e.g. 64mb, 1gb)"))
}

/// A duration as `10s`, `500ms`, `2m`, or a number of seconds; in milliseconds.
pub(crate) fn duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (10s, 500ms, 2m)"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        _ => return Err(format!("'{s}' is not a duration (10s, 500ms, 2m)")),
    };
    if ms == 0 {
        return Err("a duration must be longer than zero".into());
    }
    Ok(ms)
}

fn policy(s: &str) -> Result<EvictionPolicy, String> {
    EvictionPolicy::parse(s).ok_or_else(|| {
        let names: Vec<_> = EvictionPolicy::ALL.iter().map(|p| p.name()).collect();
        format!("unknown policy '{s}'; one of: {}", names.join(", "))
    })
}

/// Options use Redis's parameter names. Precedence: flag > environment > config file > default.
#[derive(Args)]
struct ServerArgs {
    /// TOML file with any of the options below (kebab-case keys, e.g. `maxmemory = "64mb"`).
    #[arg(long, env = "SHARDCACHE_CONFIG")]
    config: Option<PathBuf>,
    /// TCP port for clients [default: 6379].
    #[arg(long, env = "SHARDCACHE_PORT")]
    port: Option<u16>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "SHARDCACHE_BIND")]
    bind: Option<String>,
    /// Admin HTTP port (/health, /ready, /metrics, /api/cache/stats); 0 = off [default: 0].
    #[arg(long, env = "SHARDCACHE_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// Address the admin HTTP port binds [default: --bind].
    #[arg(long, env = "SHARDCACHE_ADMIN_BIND")]
    admin_bind: Option<String>,
    /// Simultaneous admin HTTP connections, its own descriptor budget (more are closed at
    /// once) [default: 64].
    #[arg(long, env = "SHARDCACHE_ADMIN_MAX_CONNECTIONS")]
    admin_max_connections: Option<usize>,
    /// Host names the admin API answers to besides IP addresses and localhost (comma
    /// separated; a guard against DNS rebinding).
    #[arg(long, env = "SHARDCACHE_ADMIN_ALLOW_HOST", value_delimiter = ',')]
    admin_allow_host: Vec<String>,
    /// Memory limit: bytes or 64mb, 1gb, ...; 0 = unlimited [default: 0].
    #[arg(long, env = "SHARDCACHE_MAXMEMORY", value_parser = memory)]
    maxmemory: Option<u64>,
    /// What to do at maxmemory: noeviction, allkeys-lru, allkeys-lfu, allkeys-random,
    /// volatile-lru, volatile-lfu, volatile-random, volatile-ttl [default: noeviction].
    #[arg(long, env = "SHARDCACHE_MAXMEMORY_POLICY", value_parser = policy)]
    maxmemory_policy: Option<EvictionPolicy>,
    /// Password clients must send with AUTH or HELLO before any other command.
    #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
    requirepass: Option<String>,
    /// An ACL user, as its redis.conf `user` line without the word `user` (repeatable):
    /// e.g. --user "app on >secret ~app:* +@read +@write -@dangerous".
    #[arg(long = "user", value_name = "RULES")]
    users: Vec<String>,
    /// How often the node records its figures (metric history, /api/metrics/*) and
    /// evaluates its alerts, in ms [default: 10000].
    #[arg(long, env = "SHARDCACHE_METRICS_INTERVAL_MS")]
    metrics_interval_ms: Option<u64>,
    /// POST alert changes (firing, resolved) as JSON to this http:// URL.
    #[arg(long, env = "SHARDCACHE_ALERT_WEBHOOK")]
    alert_webhook: Option<String>,
    /// Alert when p99 command latency exceeds this (ms; 0 = off) [default: 100].
    #[arg(long)]
    alert_latency_ms: Option<f64>,
    /// Alert when memory use exceeds this share of maxmemory (%) [default: 85].
    #[arg(long)]
    alert_memory_percent: Option<f64>,
    /// Alert when the node's CPU use exceeds this (% of all cores) [default: 80].
    #[arg(long)]
    alert_cpu_percent: Option<f64>,
    /// Alert when more than this share of commands answer errors (%) [default: 5].
    #[arg(long)]
    alert_error_rate_percent: Option<f64>,
    /// Alert when a cluster peer has not answered for this long (minutes) [default: 2].
    #[arg(long)]
    alert_node_down_minutes: Option<f64>,
    /// A TLS client port (Redis's tls-port); 0 = none. `--port 0` turns the plain port off.
    #[arg(long, env = "SHARDCACHE_TLS_PORT")]
    tls_port: Option<u16>,
    /// The TLS certificate (PEM; a chain may follow it) and its private key.
    #[arg(long, env = "SHARDCACHE_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    #[arg(long, env = "SHARDCACHE_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// The CA certificates (PEM) client certificates and TLS peers are checked against.
    #[arg(long, env = "SHARDCACHE_TLS_CA_CERT_FILE")]
    tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate: yes (default, as Redis), no, optional.
    #[arg(long, env = "SHARDCACHE_TLS_AUTH_CLIENTS")]
    tls_auth_clients: Option<String>,
    /// TLS versions offered, e.g. "TLSv1.2 TLSv1.3" (the default).
    #[arg(long, env = "SHARDCACHE_TLS_PROTOCOLS")]
    tls_protocols: Option<String>,
    /// TLS 1.3 cipher suites (colon-separated, e.g. TLS_AES_256_GCM_SHA384).
    #[arg(long, env = "SHARDCACHE_TLS_CIPHERSUITES")]
    tls_ciphersuites: Option<String>,
    /// TLS 1.2 ciphers in OpenSSL's names (colon-separated, e.g. ECDHE-RSA-AES256-GCM-SHA384).
    #[arg(long, env = "SHARDCACHE_TLS_CIPHERS")]
    tls_ciphers: Option<String>,
    /// Replication links (this node following a primary) use TLS.
    #[arg(long, env = "SHARDCACHE_TLS_REPLICATION")]
    tls_replication: bool,
    /// Links between cluster members use TLS: the cluster bus (mutual TLS with the CA of
    /// --tls-ca-cert-file, then the secret handshake), migrations and the admin API's calls
    /// to other members (to their TLS ports).
    #[arg(long, env = "SHARDCACHE_TLS_CLUSTER")]
    tls_cluster: bool,
    /// A bearer token that opens the admin API (`Authorization: Bearer <token>`); with it
    /// set, the admin API needs credentials even without a password.
    #[arg(long, env = "SHARDCACHE_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// The ACL file: users loaded at start, ACL LOAD and ACL SAVE (not with --user).
    #[arg(long, env = "SHARDCACHE_ACLFILE")]
    aclfile: Option<PathBuf>,
    /// Maximum simultaneous clients; more are refused with an error [default: 10000].
    #[arg(long, env = "SHARDCACHE_MAXCLIENTS")]
    maxclients: Option<usize>,
    /// Close clients idle for this many seconds; 0 = never [default: 0].
    #[arg(long, env = "SHARDCACHE_TIMEOUT")]
    timeout: Option<u64>,
    /// Longest single argument accepted [default: 512mb].
    #[arg(long, env = "SHARDCACHE_PROTO_MAX_BULK_LEN", value_parser = memory)]
    proto_max_bulk_len: Option<u64>,
    /// Disconnect a client whose unprocessed input exceeds this [default: 1gb].
    #[arg(long, env = "SHARDCACHE_CLIENT_QUERY_BUFFER_LIMIT", value_parser = memory)]
    client_query_buffer_limit: Option<u64>,
    /// Output buffer limits, Redis syntax: "normal <hard> <soft> <seconds> ..."
    #[arg(long, env = "SHARDCACHE_CLIENT_OUTPUT_BUFFER_LIMIT")]
    client_output_buffer_limit: Option<String>,
    /// Log commands slower than this many microseconds; negative = off [default: 10000].
    #[arg(
        long,
        env = "SHARDCACHE_SLOWLOG_LOG_SLOWER_THAN",
        allow_negative_numbers = true
    )]
    slowlog_log_slower_than: Option<i64>,
    /// Slow log entries kept [default: 128].
    #[arg(long, env = "SHARDCACHE_SLOWLOG_MAX_LEN")]
    slowlog_max_len: Option<u64>,
    /// Background cycles (active expiry) per second [default: 10].
    #[arg(long, env = "SHARDCACHE_HZ")]
    hz: Option<u32>,
    /// Worker threads; 0 = one per core but one, at least one [default: 0].
    #[arg(long, env = "SHARDCACHE_THREADS")]
    threads: Option<usize>,
    /// Microseconds an idle worker spins before sleeping, so a request arriving right after
    /// does not pay for waking it: more throughput at low pipeline depth for some CPU
    /// (0 = off) [default: 0].
    #[arg(long, env = "SHARDCACHE_BUSY_POLL_US")]
    busy_poll_us: Option<u64>,
    /// Cluster mode: serve the Redis Cluster protocol (a node without peers bootstraps a
    /// one-node cluster owning all 16384 slots).
    #[arg(long, env = "SHARDCACHE_CLUSTER_ENABLED")]
    cluster_enabled: bool,
    /// Cluster bus port (Raft between nodes); 0 = port + 10000 [default: 0].
    #[arg(long, env = "SHARDCACHE_CLUSTER_PORT")]
    cluster_port: Option<u16>,
    /// Replicas per shard, for a node that starts a cluster: nodes joining while a shard
    /// has fewer become its replicas [default: 0].
    #[arg(
        long,
        env = "SHARDCACHE_CLUSTER_REPLICAS",
        requires = "cluster_enabled"
    )]
    cluster_replicas: Option<usize>,
    /// Milliseconds a primary may stay unreachable before the cluster promotes one of its
    /// replicas [default: 700].
    #[arg(
        long,
        env = "SHARDCACHE_CLUSTER_NODE_TIMEOUT",
        requires = "cluster_enabled"
    )]
    cluster_node_timeout: Option<u64>,
    /// Bytes per second this node's slot migrations may send in all (64mb, 1gb, ...); 0 =
    /// no limit [default: 0].
    #[arg(
        long,
        env = "SHARDCACHE_MIGRATION_MAX_BANDWIDTH",
        value_parser = memory,
        requires = "cluster_enabled"
    )]
    migration_max_bandwidth: Option<u64>,
    /// Seconds between this replica's consistency audits: its data compared with its
    /// primary's, slot by slot, at the same replication offset (metric
    /// `shardcache_replica_digest_mismatch`). Each holds the primary's commands while it
    /// digests its whole dataset, like DEBUG DIGEST; 0 = never [default: 0].
    #[arg(
        long,
        env = "SHARDCACHE_REPLICA_DIGEST_INTERVAL",
        requires = "cluster_enabled"
    )]
    replica_digest_interval: Option<u64>,
    /// This node's capacity relative to the others: as a primary its shard owns slots in
    /// proportion to it (a node with twice the memory: --weight 2) [default: 1].
    #[arg(long, env = "SHARDCACHE_WEIGHT", requires = "cluster_enabled")]
    weight: Option<u32>,
    /// The failure domain this node runs in (rack, availability zone): a node joining as a
    /// replica never leaves a shard with all its copies in one zone.
    #[arg(long, env = "SHARDCACHE_ZONE", requires = "cluster_enabled")]
    zone: Option<String>,
    /// Address the cluster bus listens on [default: --bind].
    #[arg(long, env = "SHARDCACHE_CLUSTER_BIND", requires = "cluster_enabled")]
    cluster_bind: Option<String>,
    /// Secret every cluster bus connection must prove (HMAC challenge-response; never sent)
    /// [default: derived from --requirepass when set, else an open bus].
    #[arg(long, env = "SHARDCACHE_CLUSTER_SECRET", requires = "cluster_enabled")]
    cluster_secret: Option<String>,
    /// Follow this primary from the start, Redis's `replicaof`: "<host> <port>" (a
    /// redis-server or another node; REPLICAOF NO ONE stops following).
    #[arg(long, env = "SHARDCACHE_REPLICAOF", conflicts_with = "cluster_enabled")]
    replicaof: Option<String>,
    /// The password given to the primary (Redis's `masterauth`).
    #[arg(long, env = "SHARDCACHE_MASTERAUTH")]
    masterauth: Option<String>,
    /// The ACL user given to the primary with --masterauth (Redis's `masteruser`).
    #[arg(long, env = "SHARDCACHE_MASTERUSER")]
    masteruser: Option<String>,
    /// Join the cluster of the node at this client address (host:port) instead of
    /// bootstrapping a new one. Ignored when --dir holds the state of a previous run.
    #[arg(long, env = "SHARDCACHE_JOIN", requires = "cluster_enabled")]
    join: Option<String>,
    /// Start without a cluster and wait to be added (`shardcache cluster add-node`,
    /// CLUSTER MEET) instead of bootstrapping one.
    #[arg(long, requires = "cluster_enabled", conflicts_with = "join")]
    standby: bool,
    /// Working directory: snapshots (`dbfilename`; SAVE/BGSAVE write it, the node loads it
    /// at start — a cluster member keeps it only if the cluster did not change meanwhile)
    /// and, in cluster mode, the node id and Raft state, so a restarted node comes back as
    /// itself [default: the current directory; in cluster mode, none =
    /// Raft state in memory only].
    #[arg(long, env = "SHARDCACHE_DIR")]
    dir: Option<PathBuf>,
    /// The snapshot's file name in --dir [default: dump.rdb].
    #[arg(long, env = "SHARDCACHE_DBFILENAME")]
    dbfilename: Option<String>,
    /// Automatic snapshots, Redis's syntax: "<seconds> <changes> ..." (e.g. "3600 1 300 100
    /// 60 10000"); "" = none [default: none, a cache saves when asked].
    #[arg(long, env = "SHARDCACHE_SAVE")]
    save: Option<String>,
    /// Keep an append-only file in --dir (Redis 7's layout: appendonlydir/ with a manifest,
    /// a base and incremental files; Redis loads it and we load Redis's): at start the
    /// node loads it instead of the snapshot [default: no].
    #[arg(long, env = "SHARDCACHE_APPENDONLY", value_parser = ["yes", "no"])]
    appendonly: Option<String>,
    /// When the append-only file is fsynced: always (before each write's reply), everysec
    /// (at most ~1 s of writes lost in a crash), no (the kernel decides) [default: everysec].
    #[arg(long, env = "SHARDCACHE_APPENDFSYNC", value_parser = ["always", "everysec", "no"])]
    appendfsync: Option<String>,
    /// The address other nodes and clients reach this node at [default: --bind, or
    /// 127.0.0.1 when binding every interface].
    #[arg(
        long,
        env = "SHARDCACHE_CLUSTER_ANNOUNCE_IP",
        requires = "cluster_enabled"
    )]
    cluster_announce_ip: Option<String>,
    /// Cluster mode: "same-node" serves a command whose keys span slots when this node owns
    /// them all (atomic here); "no" answers CROSSSLOT as Redis does [default: no].
    #[arg(long, env = "SHARDCACHE_ALLOW_CROSS_SLOT", value_parser = ["no", "same-node"], requires = "cluster_enabled")]
    allow_cross_slot: Option<String>,
    /// gRPC port: cache.CacheService (proto/cache.proto), grpc.health.v1 and reflection;
    /// any key on any node (forwarded to its owner); 0 = off [default: 0].
    #[arg(long, env = "SHARDCACHE_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// Address the gRPC port binds [default: --bind].
    #[arg(long, env = "SHARDCACHE_GRPC_BIND")]
    grpc_bind: Option<String>,
    /// The gRPC port speaks TLS, with the node's certificate (--tls-cert-file, ...) and
    /// client certificates as --tls-auth-clients says; ALPN h2.
    #[arg(long, env = "SHARDCACHE_GRPC_TLS")]
    grpc_tls: bool,
    /// Largest gRPC message, request or response (bytes or 16mb, ...) [default: 16mb].
    #[arg(long, env = "SHARDCACHE_GRPC_MAX_MESSAGE_SIZE", value_parser = memory)]
    grpc_max_message_size: Option<u64>,
    /// Requests in flight at once on each front door (RESP commands being executed, gRPC
    /// calls); more are refused at once (-BUSY, RESOURCE_EXHAUSTED) instead of queueing;
    /// 0 = no bound [default: 0].
    #[arg(long, env = "SHARDCACHE_MAX_CONCURRENT_REQUESTS")]
    max_concurrent_requests: Option<usize>,
    /// Refuse new client requests while the process used more than this share of all
    /// cores (0.0-1.0) over --cpu-shed-window; health, admin, replication and migration
    /// traffic is never refused; 0 = off [default: 0].
    #[arg(long, env = "SHARDCACHE_CPU_SHED_THRESHOLD")]
    cpu_shed_threshold: Option<f64>,
    /// The window the CPU guard measures over: 10s, 500ms, ... [default: 10s].
    #[arg(long, env = "SHARDCACHE_CPU_SHED_WINDOW", value_parser = duration_ms)]
    cpu_shed_window: Option<u64>,
    /// Log level: debug, verbose, notice, warning (or a tracing filter such as "server=debug").
    #[arg(long, env = "SHARDCACHE_LOGLEVEL")]
    loglevel: Option<String>,
    /// The Redis version the node reports (HELLO, INFO redis_version, LOLWUT, scripts'
    /// redis.REDIS_VERSION) [default: 7.2.0, the feature level implemented]. Some clients
    /// switch features on by it: redis-py's client-side cache wants 7.4.0 or later.
    #[arg(long, env = "SHARDCACHE_COMPAT_VERSION")]
    compat_version: Option<String>,
}

impl ServerArgs {
    fn member_options(&self) -> node::MemberOptions {
        node::MemberOptions {
            join: self.join.clone(),
            standby: self.standby,
            dir: self.dir.clone(),
            announce_ip: self.cluster_announce_ip.clone(),
        }
    }

    fn into_config(self) -> Result<Config, String> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        macro_rules! apply {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        apply!(
            port,
            bind,
            admin_port,
            maxmemory,
            maxmemory_policy,
            maxclients,
            timeout,
            proto_max_bulk_len,
            client_query_buffer_limit,
            client_output_buffer_limit,
            slowlog_log_slower_than,
            slowlog_max_len,
            hz,
            threads,
            busy_poll_us,
            cluster_port,
            cluster_replicas,
            cluster_node_timeout,
            migration_max_bandwidth,
            replica_digest_interval,
            grpc_port,
            grpc_max_message_size,
            max_concurrent_requests,
            allow_cross_slot,
            cpu_shed_threshold,
            loglevel,
            compat_version
        );
        if self.grpc_bind.is_some() {
            c.grpc_bind = self.grpc_bind;
        }
        for (name, value) in [
            ("appendonly", &self.appendonly),
            ("appendfsync", &self.appendfsync),
        ] {
            if let Some(v) = value {
                c.redis_params.retain(|(n, _)| n != name);
                c.redis_params.push((name.to_string(), v.clone()));
            }
        }
        if self.grpc_tls {
            c.grpc_tls = true;
        }
        if let Some(ms) = self.cpu_shed_window {
            c.cpu_shed_window_ms = ms;
        }
        if !(0.0..=1.0).contains(&c.cpu_shed_threshold) {
            return Err("--cpu-shed-threshold is a share of all cores, 0.0 to 1.0".into());
        }
        if self.cluster_enabled {
            c.cluster_enabled = true;
        }
        if self.requirepass.is_some() {
            c.requirepass = self.requirepass;
        }
        if !self.users.is_empty() {
            c.users = self.users;
        }
        if self.aclfile.is_some() {
            c.aclfile = self.aclfile;
        }
        if self.admin_token.is_some() {
            c.admin_token = self.admin_token;
        }
        if let Some(p) = self.tls_port {
            c.tls_port = p;
        }
        if let Some(ms) = self.metrics_interval_ms {
            c.metrics_interval_ms = ms;
        }
        if self.alert_webhook.is_some() {
            c.alert_webhook = self.alert_webhook;
        }
        let a = &mut c.alerts;
        for (flag, field) in [
            (self.alert_latency_ms, &mut a.latency_ms),
            (self.alert_memory_percent, &mut a.memory_percent),
            (self.alert_cpu_percent, &mut a.cpu_percent),
            (self.alert_error_rate_percent, &mut a.error_rate_percent),
            (self.alert_node_down_minutes, &mut a.node_down_minutes),
        ] {
            if let Some(v) = flag {
                *field = v;
            }
        }
        macro_rules! some {
            ($($field:ident),*) => { $( if self.$field.is_some() { c.$field = self.$field; } )* };
        }
        some!(
            tls_cert_file,
            tls_key_file,
            tls_ca_cert_file,
            tls_auth_clients,
            tls_protocols,
            tls_ciphersuites,
            tls_ciphers
        );
        if self.tls_replication {
            c.tls_replication = true;
        }
        if self.tls_cluster {
            c.tls_cluster = true;
        }
        if self.cluster_bind.is_some() {
            c.cluster_bind = self.cluster_bind;
        }
        if self.admin_bind.is_some() {
            c.admin_bind = self.admin_bind;
        }
        if let Some(n) = self.admin_max_connections {
            c.admin_max_connections = n;
        }
        if let Some(d) = &self.dir {
            c.dir = d.clone();
        }
        if let Some(points) = self.save {
            server::config::parse_save_points(&points).map_err(|e| format!("--save: {e}"))?;
            c.save = points;
        }
        if let Some(f) = self.dbfilename {
            if f.contains('/') {
                return Err("--dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = f;
        }
        if !self.admin_allow_host.is_empty() {
            c.admin_allow_hosts = self.admin_allow_host;
        }
        if self.cluster_secret.is_some() {
            c.cluster_secret = self.cluster_secret;
        }
        if let Some(r) = self.replicaof {
            server::config::parse_replicaof(&r).map_err(|e| format!("--replicaof: {e}"))?;
            c.replicaof = Some(r);
        }
        if self.zone.is_some() {
            c.cluster_zone = self.zone;
        }
        if let Some(w) = self.weight {
            c.cluster_weight = w;
        }
        c.config_file = self
            .config
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        c.masterauth = self.masterauth;
        c.masteruser = self.masteruser;
        Ok(c)
    }
}

/// Maps Redis log levels onto tracing filters; anything else is taken as a filter.
fn log_filter(level: &str) -> String {
    match level {
        // openraft reports routine events of elections and membership changes as warnings,
        // and a voter that is down as an error on every read index (ten times a second per
        // member while a node is dead); they are only of interest when debugging the cluster
        // layer itself, which reports what matters (a lease lost, a failover) on its own.
        "debug" => "debug".into(),
        "verbose" => "info,openraft=warn".into(),
        "notice" => "info,server=info,openraft=off".into(),
        "warning" => "warn,openraft=off".into(),
        other => other.into(),
    }
}

/// Installs the SIGTERM/SIGINT handlers now (before the node reports ready, so no signal
/// can arrive unhandled) and returns a future that completes on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn init_logging(loglevel: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHARDCACHE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(loglevel))),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The proxy's runtime: one event loop for `--threads 1` (as twemproxy), else one worker
/// per thread asked (0: per core).
fn proxy_runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b.enable_all().build()
    }
    .expect("start tokio runtime")
}

fn run_proxy(args: ProxyArgs) -> ExitCode {
    if args.cluster.is_some() {
        return cluster_proxy::run(args);
    }
    let pools = match args.pools() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("shardcache proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match args.tls() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("shardcache proxy: TLS: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&args.loglevel);
    let runtime = proxy_runtime(args.threads);
    let reloader = proxy::admin::Reloader {
        path: args.config.clone(),
    };
    let admin = (args.admin_port != 0).then(|| {
        let settings = proxy::admin::Admin {
            reloader: reloader.clone(),
            token: args.admin_token.clone(),
            guard: adminhttp::Options {
                max_connections: args.admin_max_connections,
                allow_hosts: args.admin_allow_host.clone(),
                ..Default::default()
            },
        };
        (format!("{}:{}", args.admin_bind, args.admin_port), settings)
    });
    let result = runtime.block_on(async move {
        let signals = shutdown_signal()?;
        let proxy = proxy::Proxy::new(pools);
        proxy.set_tls(tls.clone());
        // SIGHUP re-reads the config file (a file with an error keeps the running config)
        // and the TLS certificate.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let on_hup = proxy.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match reloader.reload(&on_hup) {
                    Ok(r) => tracing::info!(changed = ?r.changed, ignored = ?r.ignored, not_applied = ?r.not_applied, "config reloaded"),
                    Err(e) => tracing::error!(error = %e, "config reload refused; keeping the running config"),
                }
                if let Some(t) = &tls {
                    match t.reload() {
                        Ok(()) => tracing::info!("TLS certificates reloaded"),
                        Err(e) => tracing::warn!(error = %e, "TLS reload failed; the old certificates stay in use"),
                    }
                }
            }
        });
        proxy::run(proxy, admin, signals).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardcache proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the gRPC port (`--grpc-port`), a client of this node's own client port (its TLS
/// port, over TLS, when it has no plain one).
async fn start_grpc(
    config: &Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.grpc_port == 0 {
        return Ok(None);
    }
    let invalid = |e: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string());
    let live = server::config::Live::new(config).map_err(|e| invalid(&e))?;
    let tls_settings = server::tlsconf::settings(&live);
    let node_port = match (config.port, config.tls_port) {
        (0, 0) => {
            return Err(invalid(
                "--grpc-port needs a client port (--port or --tls-port)",
            ))
        }
        (0, tls) => tls,
        (port, _) => port,
    };
    let bind = config
        .grpc_bind
        .clone()
        .unwrap_or_else(|| config.bind.clone());
    let first_bind = bind.split_whitespace().next().unwrap_or("127.0.0.1");
    let listener = tokio::net::TcpListener::bind((first_bind, config.grpc_port)).await?;
    // The node is reached where it listens (any-interface binds: over loopback).
    let node_host = match config.bind.split_whitespace().next().unwrap_or("127.0.0.1") {
        "0.0.0.0" | "*" => "127.0.0.1",
        "::" => "::1",
        h => h.trim_start_matches('-'),
    };
    let mut options = grpc::Options::new(upstream::slots::join_host_port(
        node_host,
        i64::from(node_port),
    ));
    if config.port == 0 {
        options.node_tls = Some(server::tlsconf::client_config(&live).map_err(|e| invalid(&e))?);
    }
    if config.grpc_tls {
        let mut settings = tls_settings
            .ok_or_else(|| invalid("--grpc-tls needs --tls-cert-file and --tls-key-file"))?;
        settings.alpn = vec![b"h2".to_vec()];
        let acceptor = tls::Acceptor::new(settings).map_err(|e| invalid(&e))?;
        options.tls = Some(std::sync::Arc::new(acceptor));
    }
    options.password = config.requirepass.clone();
    options.max_message_bytes = usize::try_from(config.grpc_max_message_size).unwrap_or(usize::MAX);
    options.max_concurrent = config.max_concurrent_requests;
    options.cpu_shed_threshold = config.cpu_shed_threshold;
    options.cpu_shed_window = std::time::Duration::from_millis(config.cpu_shed_window_ms);
    let stats = std::sync::Arc::new(grpc::Stats::default());
    let shown = stats.clone();
    let _ = server::admin::EXTRA_METRICS.set(Box::new(move || shown.render()));
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = grpc::serve_with_stats(listener, options, stats, stop).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    })))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Server(args) => args,
        Command::Proxy(args) => return run_proxy(*args),
        Command::Cluster(c) => return ops::run(c),
        Command::Dev(args) => return dev::run(args),
        Command::Gateway(args) => return gateway_cmd::run(*args),
        Command::Import(args) => return import::run(args),
        Command::Certs(args) => return run_certs(args),
        Command::Probe { url } => return probe(&url),
    };
    let member = args.member_options();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shardcache: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.loglevel);
    // This runtime only accepts connections, runs housekeeping and the admin API; clients are
    // served by the node's own worker threads (`--threads`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start tokio runtime");
    let result = runtime.block_on(async move {
        let signals = shutdown_signal()?;
        // One stop signal for the node and its gRPC port.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signals.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let grpc = start_grpc(&config, stopped(stop_rx.clone())).await?;
        let result = if config.cluster_enabled {
            node::run_tcp(config, member, stopped(stop_rx)).await
        } else {
            // --port 0 with a TLS port: no plain port (a TLS-only node, as Redis). Without
            // one, port 0 is an ephemeral port (the log says which), as tests use it.
            let listener = if config.port == 0 && config.tls_port != 0 {
                None
            } else {
                Some(tokio::net::TcpListener::bind((config.bind.as_str(), config.port)).await?)
            };
            let mut config = config;
            config.extra_commands = scripting::handlers();
            server::run(listener, config, stopped(stop_rx)).await
        };
        // The node is gone (a signal, or SHUTDOWN): so is its gRPC port.
        if let Some(g) = grpc {
            g.abort();
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "node failed");
            eprintln!("shardcache: {e}");
            ExitCode::FAILURE
        }
    }
}
