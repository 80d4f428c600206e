//! Admin HTTP: liveness, readiness, Prometheus metrics, node stats.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::stats::{bucket_bound_seconds, BUCKETS};
use crate::Shared;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let stop = shared.shutdown.clone();
    let app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/cache/stats", get(stats))
        .route("/api/cluster", get(cluster))
        .with_state(shared);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "admin HTTP server failed");
    }
}

/// Liveness: the process answers.
async fn health() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: accepting commands (not shutting down).
async fn ready(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if shared.shutdown.is_cancelled() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"ready": false})),
        )
    } else {
        (StatusCode::OK, Json(serde_json::json!({"ready": true})))
    }
}

/// This node's cache statistics as JSON.
async fn stats(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let ks = shared.keyspace.stats();
    let (keys, expires) = shared.keyspace.counts();
    let total = ks.hits + ks.misses;
    let rate = if total > 0 {
        ks.hits as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let ops = shared.rates.lock().ops_per_sec;
    Json(serde_json::json!({
        "keys": keys,
        "keys_with_ttl": expires,
        "hits": ks.hits,
        "misses": ks.misses,
        "hit_rate_percent": (rate * 100.0).round() / 100.0,
        "expired_keys": ks.expired,
        "evicted_keys": ks.evicted,
        "ops_per_sec": ops,
        "used_memory": shared.used_memory.load(Ordering::Relaxed),
        "used_memory_rss": crate::rss_bytes(),
        "maxmemory": shared.live.maxmemory.load(Ordering::Relaxed),
        "connected_clients": shared.clients.connected(),
        "total_commands_processed": crate::info::total_commands(&shared),
    }))
}

/// The topology this node serves from (cluster mode): nodes, slot ranges, epoch.
async fn cluster(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let Some(c) = &shared.cluster else {
        return Json(serde_json::json!({"enabled": false}));
    };
    let Some(t) = c.topology() else {
        return Json(serde_json::json!({"enabled": true, "myid": c.myid, "state": "down"}));
    };
    let nodes: Vec<_> = t
        .nodes
        .iter()
        .map(|n| {
            let ranges: Vec<_> = t
                .ranges(n.shard)
                .into_iter()
                .map(|(a, b)| serde_json::json!([a, b]))
                .collect();
            serde_json::json!({
                "id": n.id,
                "address": format!("{}:{}", n.host, n.port),
                "bus_port": n.bus_port,
                "shard": placement::topology::shard_hex(n.shard),
                "role": if n.primary { "primary" } else { "replica" },
                "slots": t.slots.iter().filter(|s| **s == Some(n.shard)).count(),
                "slot_ranges": ranges,
            })
        })
        .collect();
    Json(serde_json::json!({
        "enabled": true,
        "myid": c.myid,
        "epoch": t.epoch,
        "state": if t.assigned() == placement::slot::SLOTS as usize { "ok" } else { "fail" },
        "slots_assigned": t.assigned(),
        "nodes": nodes,
    }))
}

/// Prometheus text exposition of every counter INFO shows, plus per-command latency
/// histograms.
async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&shared),
    )
}

pub fn render_metrics(shared: &Shared) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let ks = shared.keyspace.stats();
    let (keys, expires) = shared.keyspace.counts();
    let st = &shared.stats;
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(
            o,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "shardcache_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
        shared.uptime().as_secs_f64(),
    );
    metric(
        "shardcache_keys",
        "gauge",
        "Keys in the keyspace.",
        keys as f64,
    );
    metric(
        "shardcache_keys_with_ttl",
        "gauge",
        "Keys with a TTL.",
        expires as f64,
    );
    metric(
        "shardcache_keyspace_hits_total",
        "counter",
        "Reads that found their key.",
        ks.hits as f64,
    );
    metric(
        "shardcache_keyspace_misses_total",
        "counter",
        "Reads that did not find their key.",
        ks.misses as f64,
    );
    metric(
        "shardcache_expired_keys_total",
        "counter",
        "Keys removed because their TTL passed.",
        ks.expired as f64,
    );
    metric(
        "shardcache_evicted_keys_total",
        "counter",
        "Keys removed to stay under maxmemory.",
        ks.evicted as f64,
    );
    metric(
        "shardcache_memory_used_bytes",
        "gauge",
        "Bytes in use, as counted against maxmemory.",
        shared.memory_in_use() as f64,
    );
    metric(
        "shardcache_memory_rss_bytes",
        "gauge",
        "Resident set size.",
        crate::rss_bytes() as f64,
    );
    metric(
        "shardcache_maxmemory_bytes",
        "gauge",
        "Configured maxmemory (0 = unlimited).",
        shared.live.maxmemory.load(Ordering::Relaxed) as f64,
    );
    metric(
        "shardcache_connected_clients",
        "gauge",
        "Open client connections.",
        shared.clients.connected() as f64,
    );
    metric(
        "shardcache_connections_received_total",
        "counter",
        "Client connections accepted.",
        st.total_connections_received.load(Ordering::Relaxed) as f64,
    );
    metric(
        "shardcache_rejected_connections_total",
        "counter",
        "Connections refused at maxclients.",
        st.rejected_connections.load(Ordering::Relaxed) as f64,
    );
    metric(
        "shardcache_net_input_bytes_total",
        "counter",
        "Bytes read from clients.",
        st.net_input_bytes.load(Ordering::Relaxed) as f64,
    );
    metric(
        "shardcache_net_output_bytes_total",
        "counter",
        "Bytes written to clients.",
        st.net_output_bytes.load(Ordering::Relaxed) as f64,
    );
    metric(
        "shardcache_error_replies_total",
        "counter",
        "Error replies sent.",
        st.total_error_replies.load(Ordering::Relaxed) as f64,
    );

    o.push_str("# HELP shardcache_commands_total Commands executed, by command.\n# TYPE shardcache_commands_total counter\n");
    let active: Vec<_> = shared
        .table
        .commands
        .iter()
        .zip(&shared.table.stats)
        .filter(|(_, s)| s.calls.load(Ordering::Relaxed) + s.rejected.load(Ordering::Relaxed) > 0)
        .collect();
    for (c, s) in &active {
        let _ = writeln!(
            o,
            "shardcache_commands_total{{cmd=\"{}\"}} {}",
            c.meta.name,
            s.calls.load(Ordering::Relaxed)
        );
    }
    o.push_str("# HELP shardcache_command_errors_total Commands that failed or were rejected, by command.\n# TYPE shardcache_command_errors_total counter\n");
    for (c, s) in &active {
        let errors = s.failed.load(Ordering::Relaxed) + s.rejected.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "shardcache_command_errors_total{{cmd=\"{}\"}} {errors}",
            c.meta.name
        );
    }
    o.push_str("# HELP shardcache_command_duration_seconds Command execution time, by command.\n# TYPE shardcache_command_duration_seconds histogram\n");
    for (c, s) in &active {
        let name = c.meta.name;
        let mut cumulative = 0;
        for i in 0..BUCKETS {
            cumulative += s.buckets[i].load(Ordering::Relaxed);
            match bucket_bound_seconds(i) {
                Some(le) => {
                    let _ = writeln!(o, "shardcache_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(o, "shardcache_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(
            o,
            "shardcache_command_duration_seconds_sum{{cmd=\"{name}\"}} {}",
            s.nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            o,
            "shardcache_command_duration_seconds_count{{cmd=\"{name}\"}} {cumulative}"
        );
    }
    o
}
