//! The proxy's admin HTTP API: health, Prometheus metrics, the seed gateway's stats and
//! clear endpoints, and config reload.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use resp::Frame;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use crate::admin_gate::{authenticate, backend_json, dashboard, AdminUser, Gate};
use crate::backend::{Backend, LATENCY_BUCKETS_US};
use crate::config::Placement;
use crate::Proxy;

/// Where a reload reads its configuration from (`None`: started from URLs, nothing to
/// re-read).
#[derive(Debug, Clone, Default)]
pub struct Reloader {
    pub path: Option<PathBuf>,
}

impl Reloader {
    /// Re-reads the file and applies it; a human-readable outcome or the error.
    pub fn reload(&self, proxy: &Proxy) -> Result<crate::Reloaded, String> {
        let Some(path) = &self.path else {
            return Err("started without --config: nothing to reload".into());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        proxy
            .reload_yaml(&text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The proxy's admin listener: what a reload reads, the listener's guards, and the bearer
/// token that opens it (`--admin-token`).
#[derive(Debug, Clone, Default)]
pub struct Admin {
    pub reloader: Reloader,
    pub guard: adminhttp::Options,
    pub token: Option<String>,
}

#[derive(Clone)]
struct AppState {
    proxy: Arc<Proxy>,
    reloader: Reloader,
}

/// Serves the admin API behind [`adminhttp`]'s guards (connection budget, timeouts, Host
/// and cross-site checks).
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, admin: Admin) {
    let Admin {
        reloader,
        guard,
        token,
    } = admin;
    let pools = proxy.clone();
    let gate = Gate::new(token, move || {
        pools.pools().iter().map(|p| p.users.clone()).collect()
    });
    let state = AppState { proxy, reloader };
    let protected = Router::new()
        .route("/", get(dashboard))
        .route("/api/proxy/backends", get(backends))
        .route("/metrics", get(metrics))
        .route("/api/cache/stats", get(stats))
        .route("/api/cache/clear", post(clear))
        .route("/api/proxy/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(gate, authenticate));
    let app = Router::new()
        .route("/health", get(health))
        .merge(adminhttp::dashboard_assets())
        .merge(protected)
        .with_state(state);
    adminhttp::serve(listener, app, guard, std::future::pending()).await;
}

/// Sends one command to a backend and parses the reply (admin use only).
async fn ask(b: &Backend, args: &[&[u8]]) -> Option<Frame> {
    let mut wire = Vec::new();
    resp::request::encode_command(args, &mut wire);
    let rx = b.send(wire.into());
    let bytes = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .ok()?
        .ok()?
        .ok()?;
    Frame::parse(&bytes).ok().flatten().map(|(f, _)| f)
}

async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let mut pools = Vec::new();
    let mut any_up = false;
    for pool in s.proxy.pools() {
        let live = pool.live();
        let up = pool
            .backends
            .iter()
            .zip(&live)
            .filter(|(b, l)| **l && b.connected())
            .count();
        any_up |= up > 0;
        pools.push(
            json!({"pool": pool.config.name, "backends": pool.backends.len(), "backends_up": up}),
        );
    }
    let status = if any_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if any_up {"ok"} else {"down"}, "pools": pools})),
    )
}

/// Every pool and backend with its counters as they stand (cumulative: a reader takes the
/// difference of two readings for rates and for the latency of an interval), whether each
/// backend is connected and whether it is ejected from its pool's ring. Asks no backend.
async fn backends(State(s): State<AppState>) -> impl IntoResponse {
    let mut pools = Vec::new();
    for pool in s.proxy.pools() {
        let live = pool.live();
        let c = &pool.config;
        let placement = match &c.placement {
            Placement::Twemproxy {
                hash, distribution, ..
            } => format!("{} / {distribution:?}", hash.name()).to_lowercase(),
            Placement::VirtualNodes(n) => format!("{n} virtual nodes"),
        };
        let backends: Vec<Value> = pool
            .backends
            .iter()
            .zip(&live)
            .zip(&c.servers)
            .map(|((b, live), server)| backend_json(&b.label, b, &server.addr(), server.tls, !live))
            .collect();
        let ps = &pool.stats;
        pools.push(json!({
            "pool": c.name,
            "listen": c.listen,
            "placement": placement,
            "auto_eject_hosts": c.auto_eject_hosts,
            "server_failure_limit": c.server_failure_limit,
            "requests": ps.total_requests.load(Ordering::Relaxed),
            "hits": ps.hits.load(Ordering::Relaxed),
            "misses": ps.misses.load(Ordering::Relaxed),
            "sets": ps.sets.load(Ordering::Relaxed),
            "errors": ps.errors.load(Ordering::Relaxed),
            "backends": backends,
        }));
    }
    Json(json!({"latency_buckets_us": LATENCY_BUCKETS_US, "pools": pools}))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut o = String::new();
    let _ = writeln!(o, "# TYPE shardcache_proxy_backend_requests_total counter");
    let _ = writeln!(o, "# TYPE shardcache_proxy_backend_errors_total counter");
    let _ = writeln!(o, "# TYPE shardcache_proxy_backend_ejected gauge");
    let _ = writeln!(
        o,
        "# TYPE shardcache_proxy_backend_latency_seconds histogram"
    );
    for pool in s.proxy.pools() {
        let live = pool.live();
        for (b, l) in pool.backends.iter().zip(&live) {
            let labels = format!("pool=\"{}\",backend=\"{}\"", pool.config.name, b.label);
            let st = &b.stats;
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_requests_total{{{labels}}} {}",
                st.requests.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_errors_total{{{labels}}} {}",
                st.errors.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_ejected{{{labels}}} {}",
                u8::from(!l)
            );
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
                cumulative += st.latency_buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "shardcache_proxy_backend_latency_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += st.latency_buckets[LATENCY_BUCKETS_US.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_latency_seconds_sum{{{labels}}} {}",
                st.latency_us_sum.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                o,
                "shardcache_proxy_backend_latency_seconds_count{{{labels}}} {cumulative}"
            );
        }
        let ps = &pool.stats;
        for (name, v) in [
            ("requests", &ps.total_requests),
            ("hits", &ps.hits),
            ("misses", &ps.misses),
            ("sets", &ps.sets),
            ("errors", &ps.errors),
        ] {
            let _ = writeln!(
                o,
                "shardcache_proxy_{name}_total{{pool=\"{}\"}} {}",
                pool.config.name,
                v.load(Ordering::Relaxed)
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o)
}

/// The seed gateway's stats shape (first pool; every pool under `pools`).
async fn stats(State(s): State<AppState>) -> impl IntoResponse {
    let mut all = Vec::new();
    for pool in s.proxy.pools() {
        let ps = &pool.stats;
        let (hits, misses) = (
            ps.hits.load(Ordering::Relaxed),
            ps.misses.load(Ordering::Relaxed),
        );
        let rate = if hits + misses > 0 {
            hits as f64 * 100.0 / (hits + misses) as f64
        } else {
            0.0
        };
        let points = pool.ring().points_per_server();
        let vnodes = match pool.config.placement {
            Placement::VirtualNodes(n) => n,
            Placement::Twemproxy { .. } => 160,
        };
        let live = pool.live();
        let mut distribution = Map::new();
        let mut ring = Map::new();
        let mut shards = Vec::new();
        for (i, b) in pool.backends.iter().enumerate() {
            let keys = match ask(b, &[b"DBSIZE"]).await {
                Some(Frame::Integer(n)) => json!(n),
                _ => Value::Null,
            };
            distribution.insert(b.label.clone(), keys);
            ring.insert(b.label.clone(), json!(points[i]));
            shards.push(json!({
                "url": b.label,
                "connected": b.connected() && live[i],
                "virtual_nodes": points[i],
            }));
        }
        all.push(json!({
            "pool": pool.config.name,
            "cache_stats": {
                "total_requests": ps.total_requests.load(Ordering::Relaxed),
                "hits": hits,
                "misses": misses,
                "hit_rate_percent": (rate * 100.0).round() / 100.0,
                "sets": ps.sets.load(Ordering::Relaxed),
                "errors": ps.errors.load(Ordering::Relaxed),
                "shard_distribution": distribution,
                "shards_count": pool.backends.len(),
                "virtual_nodes": vnodes,
            },
            "hash_ring_distribution": ring,
            "shards": shards,
        }));
    }
    let mut first = all.first().cloned().unwrap_or(json!({}));
    if let Value::Object(m) = &mut first {
        m.insert("pools".into(), Value::Array(all));
    }
    Json(first)
}

/// SCAN + UNLINK of the keys matching `pattern` on every backend (never KEYS).
/// SCAN + UNLINK of the keys matching a required pattern on every backend (see
/// [`adminhttp::clear_pattern`] for where the pattern may come from).
async fn clear(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    let who = req
        .extensions()
        .get::<AdminUser>()
        .cloned()
        .unwrap_or(AdminUser::Anyone);
    let pattern = match adminhttp::clear_pattern(req, Duration::from_secs(5)).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    if !(who.may(&[b"UNLINK", pattern.as_bytes()]) && who.may(&[b"SCAN", b"0"])) {
        return adminhttp::auth::forbidden(&format!(
            "this user may not UNLINK keys matching '{pattern}' and SCAN"
        ));
    }
    let (mut cleared, mut shards) = (0i64, 0usize);
    for pool in s.proxy.pools() {
        for b in &pool.backends {
            let mut cursor = b"0".to_vec();
            let mut ok = true;
            loop {
                let Some(Frame::Array(r)) = ask(
                    b,
                    &[
                        b"SCAN",
                        &cursor,
                        b"MATCH",
                        pattern.as_bytes(),
                        b"COUNT",
                        b"1000",
                    ],
                )
                .await
                else {
                    ok = false;
                    break;
                };
                let (Some(Frame::Bulk(next)), Some(Frame::Array(keys))) = (r.first(), r.get(1))
                else {
                    ok = false;
                    break;
                };
                let keys: Vec<&[u8]> = keys
                    .iter()
                    .filter_map(|k| match k {
                        Frame::Bulk(b) => Some(&b[..]),
                        _ => None,
                    })
                    .collect();
                if !keys.is_empty() {
                    let mut unlink: Vec<&[u8]> = vec![b"UNLINK"];
                    unlink.extend(keys);
                    if let Some(Frame::Integer(n)) = ask(b, &unlink).await {
                        cleared += n;
                    }
                }
                cursor = next.clone();
                if cursor == b"0" {
                    break;
                }
            }
            shards += usize::from(ok);
        }
    }
    Json(json!({"cleared": cleared, "pattern": pattern, "shards_cleared": shards})).into_response()
}

async fn reload(State(s): State<AppState>, who: Option<axum::Extension<AdminUser>>) -> Response {
    let who = who.map_or(AdminUser::Anyone, |w| w.0);
    if !who.may(&[b"CONFIG", b"SET", b"x", b"y"]) {
        return adminhttp::auth::forbidden(
            "this user may not change the configuration (CONFIG SET)",
        );
    }
    match s.reloader.reload(&s.proxy) {
        Ok(r) => (
            StatusCode::OK,
            Json(json!({
                "reloaded": true,
                "changed": r.changed,
                "ignored": r.ignored,
                "not_applied": r.not_applied,
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"reloaded": false, "error": e})),
        )
            .into_response(),
    }
}
