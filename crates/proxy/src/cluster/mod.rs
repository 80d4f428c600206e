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
}

/// The proxy in front of one cluster.
pub struct ClusterFront {
    pub client: Arc<ClusterClient>,
    /// Password clients must AUTH with (the default user).
    pub requirepass: Option<String>,
    pub stats: FrontStats,
    pub(crate) cursors: crate::cursors::ScanCursors,
}

impl ClusterFront {
    pub fn new(client: Arc<ClusterClient>, requirepass: Option<String>) -> Arc<ClusterFront> {
        Arc::new(ClusterFront {
            client,
            requirepass,
            stats: FrontStats::default(),
            cursors: Default::default(),
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
/// 503 otherwise) and `/metrics`, behind [`adminhttp`]'s guards.
pub async fn serve_admin(
    listener: TcpListener,
    front: Arc<ClusterFront>,
    guard: adminhttp::Options,
    shutdown: impl Future<Output = ()>,
) {
    use axum::routing::get;
    let health_front = front.clone();
    let app = axum::Router::new()
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
        )
        .route(
            "/metrics",
            get(move || {
                let front = front.clone();
                async move { front.metrics() }
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
