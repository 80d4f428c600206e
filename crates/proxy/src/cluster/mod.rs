//! Cluster mode: `shardcache proxy --cluster HOST:PORT` fronts a Shard-Cache cluster (or a
//! Redis Cluster) for clients that do not speak the cluster protocol. The proxy learns the
//! slot map and follows MOVED/ASK/TRYAGAIN itself ([`upstream::ClusterClient`]), so a plain
//! client (redis-cli without -c, redis-py's `Redis`, twemproxy users) sees one server.
//!
//! Beyond what Redis Cluster serves: MGET, MSET, DEL, UNLINK, EXISTS and TOUCH whose keys
//! live in different slots are split per slot, sent to each owner at once, and reassembled
//! in order (Redis Cluster, Valkey and Dragonfly answer CROSSSLOT). Commands that must be
//! all-or-nothing across keys (MSETNX, RENAME, SUNIONSTORE, scripts, ...) still need their
//! keys in one slot: the owner answers CROSSSLOT, as Redis does. Each part of a split
//! command is atomic on its node; the whole is not (a reader may see part of an MSET).

mod conn;
mod reads;
mod split;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::net::TcpListener;
use upstream::ClusterClient;

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct FrontStats {
    pub commands: AtomicU64,
    /// Commands whose keys spanned slots, split here.
    pub split: AtomicU64,
    /// Commands answered with an error made here (not a node's).
    pub errors: AtomicU64,
    /// Reads of a key whose shard has a replica (what hedging and quorum reads apply to).
    pub reads: AtomicU64,
    /// Reads sent a second time, to a replica, after `hedge_after`.
    pub hedged: AtomicU64,
    /// Hedged reads the replica answered first.
    pub hedge_wins: AtomicU64,
    /// Reads sent to the primary and a replica together (`read_quorum` 2).
    pub quorum_reads: AtomicU64,
    /// Quorum reads whose replica answered differently from the primary.
    pub divergent: AtomicU64,
    /// Writes the replicas did not acknowledge in time (`write_quorum`).
    pub write_quorum_failures: AtomicU64,
}

/// How reads and writes use replicas (`--hedge-after`, `--hedge-ratio`, `--read-quorum`,
/// `--write-quorum`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// A read still unanswered after this is also sent to a replica; the first answer wins.
    pub hedge_after: Option<std::time::Duration>,
    /// At most this share of reads is hedged (a budget, so a slow cluster is not sent
    /// twice the load).
    pub hedge_ratio: f64,
    /// 2: every read goes to the primary and a replica; the primary's answer is returned
    /// and a difference counted.
    pub read_quorum: u8,
    /// 2 or more: a write is followed by WAIT for `write_quorum - 1` replicas on the same
    /// connection; fewer acknowledgements answer NOREPLICAS.
    pub write_quorum: u8,
    pub write_quorum_timeout: std::time::Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            hedge_after: None,
            hedge_ratio: 0.1,
            read_quorum: 1,
            write_quorum: 1,
            write_quorum_timeout: std::time::Duration::from_millis(1000),
        }
    }
}

/// The proxy in front of one cluster.
pub struct ClusterFront {
    pub client: Arc<ClusterClient>,
    /// Who clients may be and what they may do (the default user's password is
    /// `--requirepass`).
    pub users: Arc<crate::users::Users>,
    pub stats: FrontStats,
    pub(crate) cursors: crate::cursors::ScanCursors,
    pub policy: Policy,
}

impl ClusterFront {
    pub fn new(
        client: Arc<ClusterClient>,
        users: crate::users::Users,
        policy: Policy,
    ) -> Arc<ClusterFront> {
        Arc::new(ClusterFront {
            client,
            users: Arc::new(users),
            policy,
            stats: FrontStats::default(),
            cursors: Default::default(),
        })
    }

    /// The cluster as the dashboard's `/api/proxy/backends` shows a pool: the node
    /// connections made so far (primaries, then replicas) with their counters.
    pub fn backends_json(&self) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        let map = self.client.map();
        let tls = self.client.uses_tls();
        let backends: Vec<serde_json::Value> = self
            .client
            .open_connections()
            .iter()
            .map(|(addr, replica, b)| {
                let role = if *replica { "replica" } else { "primary" };
                crate::admin_gate::backend_json(&format!("{addr} {role}"), b, addr, tls, false)
            })
            .collect();
        serde_json::json!({
            "latency_buckets_us": upstream::backend::LATENCY_BUCKETS_US,
            "pools": [{
                "pool": "cluster",
                "listen": "",
                "placement": format!("16384 slots over {} shards", map.shards.len()),
                "auto_eject_hosts": false,
                "server_failure_limit": 0,
                "requests": self.stats.commands.load(Relaxed),
                "hits": 0,
                "misses": 0,
                "sets": 0,
                "errors": self.stats.errors.load(Relaxed),
                "backends": backends,
            }],
        })
    }

    /// Prometheus text for the admin port.
    pub fn metrics(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.client.stats;
        let map = self.client.map();
        let mut out = String::new();
        for (name, help, value) in [
            (
                "commands_total",
                "Commands received from clients.",
                self.stats.commands.load(Relaxed),
            ),
            (
                "split_commands_total",
                "Multi-key commands split across slots.",
                self.stats.split.load(Relaxed),
            ),
            (
                "errors_total",
                "Errors made by the proxy itself.",
                self.stats.errors.load(Relaxed),
            ),
            (
                "replicated_reads_total",
                "Reads of keys whose shard has a replica.",
                self.stats.reads.load(Relaxed),
            ),
            (
                "hedged_reads_total",
                "Reads also sent to a replica after --hedge-after.",
                self.stats.hedged.load(Relaxed),
            ),
            (
                "hedge_wins_total",
                "Hedged reads a replica answered first.",
                self.stats.hedge_wins.load(Relaxed),
            ),
            (
                "quorum_reads_total",
                "Reads sent to the primary and a replica (--read-quorum 2).",
                self.stats.quorum_reads.load(Relaxed),
            ),
            (
                "quorum_divergent_total",
                "Quorum reads whose replica answered differently.",
                self.stats.divergent.load(Relaxed),
            ),
            (
                "write_quorum_failures_total",
                "Writes not acknowledged by enough replicas in time.",
                self.stats.write_quorum_failures.load(Relaxed),
            ),
            (
                "moved_total",
                "MOVED redirects followed.",
                c.moved.load(Relaxed),
            ),
            ("ask_total", "ASK redirects followed.", c.ask.load(Relaxed)),
            (
                "tryagain_total",
                "TRYAGAIN answers waited out.",
                c.tryagain.load(Relaxed),
            ),
            (
                "map_refreshes_total",
                "Slot map refreshes.",
                c.refreshes.load(Relaxed),
            ),
        ] {
            out += &format!(
                "# HELP shardcache_proxy_cluster_{name} {help}\n# TYPE shardcache_proxy_cluster_{name} counter\nshardcache_proxy_cluster_{name} {value}\n"
            );
        }
        out += &format!(
            "# HELP shardcache_proxy_cluster_primaries Primaries in the slot map.\n# TYPE shardcache_proxy_cluster_primaries gauge\nshardcache_proxy_cluster_primaries {}\n",
            map.shards.len()
        );
        out += &format!(
            "# HELP shardcache_proxy_cluster_slots_unowned Slots no primary owns.\n# TYPE shardcache_proxy_cluster_slots_unowned gauge\nshardcache_proxy_cluster_slots_unowned {}\n",
            map.unowned()
        );
        out
    }
}

/// The admin port of a cluster proxy: `/health` (200 while the map has every slot owned,
/// 503 otherwise), the dashboard at `/` over `/api/proxy/backends` (every node connection
/// with its counters), and `/metrics`, behind [`adminhttp`]'s guards and, once clients need
/// a password or the token is set, [`crate::admin_gate`]'s authentication.
pub async fn serve_admin(
    listener: TcpListener,
    front: Arc<ClusterFront>,
    guard: adminhttp::Options,
    token: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    use axum::routing::get;
    let users = front.users.clone();
    let gate = crate::admin_gate::Gate::new(token, move || vec![users.clone()]);
    let health_front = front.clone();
    let backends_front = front.clone();
    let protected = axum::Router::new()
        .route("/", get(crate::admin_gate::dashboard))
        .route(
            "/api/proxy/backends",
            get(move || {
                let front = backends_front.clone();
                async move { axum::Json(front.backends_json()) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let front = front.clone();
                async move { front.metrics() }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            gate,
            crate::admin_gate::authenticate,
        ));
    let app = axum::Router::new()
        .merge(adminhttp::dashboard_assets())
        .merge(protected)
        .route(
            "/health",
            get(move || {
                let front = health_front.clone();
                async move {
                    let map = front.client.map();
                    if !map.shards.is_empty() && map.unowned() == 0 {
                        (axum::http::StatusCode::OK, "ok\n".to_string())
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            format!("{} slots have no owner\n", map.unowned()),
                        )
                    }
                }
            }),
        );
    adminhttp::serve(listener, app, guard, shutdown).await;
}

/// How long a TLS client has to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves clients on `listener` until `shutdown`.
pub async fn serve(
    front: Arc<ClusterFront>,
    listener: TcpListener,
    tls: Option<Arc<tls::Acceptor>>,
    shutdown: impl Future<Output = ()>,
) {
    tracing::info!(addr = ?listener.local_addr().ok(), "cluster proxy listening");
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let (front, tls) = (front.clone(), tls.clone());
                    tokio::spawn(async move {
                        let stream = match tls {
                            None => tls::Stream::Plain(stream),
                            Some(a) => match a.accept(stream, TLS_HANDSHAKE_TIMEOUT).await {
                                Ok(s) => s,
                                Err(e) => {
                                    tracing::warn!(%peer, error = %e, "proxy: TLS handshake failed");
                                    return;
                                }
                            },
                        };
                        conn::serve(front, stream).await
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = shutdown => {}
    }
}
