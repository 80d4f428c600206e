//! Admin HTTP: liveness, readiness, Prometheus metrics, node stats.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use resp::Frame;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::stats::{bucket_bound_seconds, BUCKETS};
use crate::Shared;

/// Serves the admin API behind [`adminhttp`]'s guards (connection budget, timeouts, Host
/// and cross-site checks) until the node shuts down.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, options: adminhttp::Options) {
    let stop = shared.shutdown.clone();
    let guard = Arc::new(AdminAuth {
        shared: shared.clone(),
        failures: adminhttp::auth::FailureLimit::new(FAILURES_PER_SECOND),
    });
    // Everything but the probes needs credentials once the node has a password.
    let protected = Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/api/cache/stats", get(stats))
        .route("/api/cache/clear", post(clear))
        .route("/api/cluster", get(cluster))
        .route("/api/alerts", get(crate::admin_monitor::alerts))
        .route("/api/metrics/history", get(crate::admin_monitor::history))
        .route("/api/metrics/export", get(crate::admin_monitor::export))
        .route_layer(axum::middleware::from_fn_with_state(guard, authenticate));
    let app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(adminhttp::dashboard_assets())
        .merge(protected)
        .with_state(shared);
    adminhttp::serve(
        listener,
        app,
        options,
        async move { stop.cancelled().await },
    )
    .await;
}

/// Failed admin authentications answered per second, node-wide; more get 429.
const FAILURES_PER_SECOND: u64 = 10;

struct AdminAuth {
    shared: Arc<Shared>,
    failures: adminhttp::auth::FailureLimit,
}

/// Who a request acts as. Stored in the request for the handlers that need rights.
#[derive(Clone)]
enum Principal {
    /// No password is configured, or the admin token was given: every right.
    Admin,
    /// An ACL user, with that user's rights.
    User(Arc<acl::User>),
}

/// Admits a request when the node needs no password (the default user is `nopass`, as
/// Redis lets every client in then), or with the admin token (`Bearer`), or as an ACL user
/// whose password matches (`Basic`). Failures are counted, logged and rate-limited.
async fn authenticate(
    State(auth): State<Arc<AdminAuth>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use adminhttp::auth::{credentials, unauthorized, Credentials};
    let shared = &auth.shared;
    let token = shared.admin_token.as_deref();
    let presented = match credentials(req.headers()) {
        Ok(c) => c,
        Err(why) => return unauthorized(why),
    };
    let principal =
        match presented {
            None if !shared.users.auth_required() && token.is_none() => Principal::Admin,
            None => return unauthorized(
                "authentication required (Basic with an ACL user, or Bearer with the admin token)",
            ),
            Some(c) => {
                if let Some(refused) = auth.failures.check() {
                    return refused;
                }
                let accepted = match &c {
                    Credentials::Bearer(t) => token
                        .is_some_and(|expected| constant_time_eq(expected.as_bytes(), t.as_bytes()))
                        .then_some(Principal::Admin),
                    Credentials::Basic { user, password } => shared
                        .users
                        .get(user)
                        .filter(|u| u.accepts(password))
                        .map(Principal::User),
                };
                match accepted {
                    Some(p) => p,
                    None => {
                        let who = match &c {
                            Credentials::Basic { user, .. } => {
                                String::from_utf8_lossy(user).into_owned()
                            }
                            Credentials::Bearer(_) => "<token>".into(),
                        };
                        let peer = req
                            .extensions()
                            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                            .map(|c| c.0);
                        auth.failures.failed(peer, &who);
                        shared
                            .stats
                            .acl_access_denied_auth
                            .fetch_add(1, Ordering::Relaxed);
                        return unauthorized("invalid credentials");
                    }
                }
            }
        };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Compares without an early exit (a token's prefix is not told by the time taken).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The dashboard: one page, embedded in the binary, that polls the stats and cluster
/// endpoints (see `dashboard.html`).
async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        include_str!("dashboard.html"),
    )
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

/// Cache statistics as JSON: this node's; in cluster mode also every node's (asked over the
/// Redis protocol), cluster totals at the top level, and how keys and slots spread.
async fn stats(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let local = local_stats(&shared);
    let Some(t) = shared.cluster.as_ref().and_then(|c| c.topology()) else {
        return Json(local);
    };
    let myid = shared
        .cluster
        .as_ref()
        .map(|c| c.myid.clone())
        .unwrap_or_default();
    let password = shared.live.requirepass();
    let mut nodes = Vec::new();
    let mut shard_distribution = serde_json::Map::new();
    let mut slot_distribution = serde_json::Map::new();
    let mut totals = [0u64; 5]; // keys, hits, misses, ops/s, memory
    for n in &t.nodes {
        let addr = format!("{}:{}", n.host, n.port);
        let node = if n.id == myid {
            Some(local.clone())
        } else {
            remote_stats(
                &shared,
                &crate::peer::member_addr(&shared, n),
                password.as_deref(),
            )
            .await
        };
        let slots = t.slots.iter().filter(|s| **s == Some(n.shard)).count();
        slot_distribution.insert(addr.clone(), json!(slots));
        let mut entry =
            json!({"id": n.id, "address": addr, "slots": slots, "reachable": node.is_some()});
        if let Some(v) = node {
            for (i, field) in ["keys", "hits", "misses", "ops_per_sec", "used_memory"]
                .iter()
                .enumerate()
            {
                totals[i] += v[*field].as_u64().unwrap_or(0);
            }
            shard_distribution.insert(addr.clone(), v["keys"].clone());
            if let (Value::Object(e), Value::Object(v)) = (&mut entry, v) {
                e.extend(v);
            }
        } else {
            shard_distribution.insert(addr.clone(), Value::Null);
        }
        nodes.push(entry);
    }
    let [keys, hits, misses, ops, memory] = totals;
    Json(json!({
        "cluster": true,
        "keys": keys,
        "hits": hits,
        "misses": misses,
        "hit_rate_percent": hit_rate(hits, misses),
        "ops_per_sec": ops,
        "used_memory": memory,
        "nodes_count": t.nodes.len(),
        "nodes": nodes,
        "shard_distribution": shard_distribution,
        "slot_distribution": slot_distribution,
        "epoch": t.epoch,
        // Slots are placed by rendezvous hashing (no ring, so no virtual nodes).
        "placement": "rendezvous",
        "virtual_nodes": null,
        "node": local,
    }))
}

fn hit_rate(hits: u64, misses: u64) -> f64 {
    let total = hits + misses;
    if total == 0 {
        return 0.0;
    }
    (hits as f64 * 10000.0 / total as f64).round() / 100.0
}

fn local_stats(shared: &Shared) -> Value {
    let ks = shared.keyspace.stats();
    let (keys, expires) = shared.keyspace.counts();
    let ops = shared.rates.lock().ops_per_sec;
    json!({
        "keys": keys,
        "keys_with_ttl": expires,
        "hits": ks.hits,
        "misses": ks.misses,
        "hit_rate_percent": hit_rate(ks.hits, ks.misses),
        "expired_keys": ks.expired,
        "evicted_keys": ks.evicted,
        "ops_per_sec": ops,
        "used_memory": shared.used_memory.load(Ordering::Relaxed),
        "used_memory_rss": crate::rss_bytes(),
        "maxmemory": shared.live.maxmemory.load(Ordering::Relaxed),
        "connected_clients": shared.clients.connected(),
        "total_commands_processed": crate::info::total_commands(shared),
        "latency_p50_ms": shared.recent_latency.percentiles().map(|p| p.0),
        "latency_p99_ms": shared.recent_latency.percentiles().map(|p| p.1),
    })
}

/// Another node's figures, from its INFO and DBSIZE; `None` if it cannot be asked.
async fn remote_stats(shared: &Shared, addr: &str, password: Option<&str>) -> Option<Value> {
    let mut peer = crate::peer::Peer::connect_via(addr, password, shared.member_tls.as_deref())
        .await
        .ok()?;
    let info = peer.call(&["INFO"]).await.ok()?.ok()?.as_text()?;
    let own = peer
        .call(&["INFO", "shardcache"])
        .await
        .ok()
        .and_then(|r| r.ok())
        .and_then(|f| f.as_text())
        .unwrap_or_default();
    let latency = |name: &str| -> Option<f64> {
        own.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    let Frame::Integer(keys) = peer.call(&["DBSIZE"]).await.ok()?.ok()? else {
        return None;
    };
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let (hits, misses) = (field("keyspace_hits"), field("keyspace_misses"));
    Some(json!({
        "keys": keys,
        "hits": hits,
        "misses": misses,
        "hit_rate_percent": hit_rate(hits, misses),
        "expired_keys": field("expired_keys"),
        "evicted_keys": field("evicted_keys"),
        "ops_per_sec": field("instantaneous_ops_per_sec"),
        "used_memory": field("used_memory"),
        "maxmemory": field("maxmemory"),
        "connected_clients": field("connected_clients"),
        "total_commands_processed": field("total_commands_processed"),
        "latency_p50_ms": latency("latency_p50_ms"),
        "latency_p99_ms": latency("latency_p99_ms"),
    }))
}

/// Deletes the keys matching `pattern` with SCAN + UNLINK, never KEYS: on this node, and in
/// cluster mode on every node. The pattern comes from the query, a form or a JSON body and
/// is required (`*` needs `confirm=all`; see [`adminhttp::clear_pattern`]).
async fn clear(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let principal = req.extensions().get::<Principal>().cloned();
    let pattern = match adminhttp::clear_pattern(req, Duration::from_secs(5)).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    // A user clears only what it could delete itself: UNLINK and SCAN allowed, with key
    // patterns that cover the pattern as written (`~cache:*` may clear `cache:*`; only
    // `~*` may clear `*`).
    if let Some(Principal::User(user)) = principal {
        let may = |command: &[&[u8]]| {
            let args: resp::request::OwnedArgs = command.iter().copied().collect();
            let args = args.as_args();
            shared
                .table
                .resolve_args(args)
                .is_some_and(|i| crate::users::check_user(&shared, &user, i, args).is_ok())
        };
        if !may(&[b"UNLINK", pattern.as_bytes()]) || !may(&[b"SCAN", b"0"]) {
            return adminhttp::auth::forbidden(&format!(
                "user '{}' may not delete keys matching '{pattern}'",
                String::from_utf8_lossy(&user.name)
            ));
        }
    }
    let mut cleared = 0u64;
    let mut shards = 0usize;
    let mut errors = Vec::new();
    let others: Vec<String> = match shared
        .cluster
        .as_ref()
        .and_then(|c| c.topology().map(|t| (c.myid.clone(), t)))
    {
        Some((myid, t)) => t
            .nodes
            .iter()
            .filter(|n| n.id != myid)
            .map(|n| crate::peer::member_addr(&shared, n))
            .collect(),
        None => Vec::new(),
    };
    cleared += clear_local(&shared, &pattern).await;
    shards += 1;
    let password = shared.live.requirepass();
    for addr in others {
        match clear_remote(&shared, &addr, password.as_deref(), &pattern).await {
            Ok(n) => {
                cleared += n;
                shards += 1;
            }
            Err(e) => errors.push(json!({"node": addr, "error": e})),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut body = json!({"cleared": cleared, "pattern": pattern, "shards_cleared": shards});
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    (status, Json(body)).into_response()
}

/// SCAN + delete over this node's keyspace, a thousand keys at a time.
async fn clear_local(shared: &Shared, pattern: &str) -> u64 {
    let filter = store::keyspace::ScanFilter {
        pattern: Some(pattern.as_bytes().to_vec()),
        type_name: None,
    };
    let mut cursor = 0;
    let mut cleared = 0;
    loop {
        let now = crate::unix_ms();
        let mut keys = Vec::new();
        cursor = shared.keyspace.scan(cursor, 1000, &filter, now, &mut keys);
        for k in keys {
            let h = shared.keyspace.hash(&k);
            if shared.keyspace.lock(h).remove(h, &k, now).is_some() {
                cleared += 1;
            }
        }
        if cursor == 0 {
            return cleared;
        }
        tokio::task::yield_now().await;
    }
}

/// SCAN + UNLINK on another node (UNLINK grouped by slot: a cluster node refuses keys of
/// several slots in one command).
async fn clear_remote(
    shared: &Shared,
    addr: &str,
    password: Option<&str>,
    pattern: &str,
) -> Result<u64, String> {
    let mut peer = crate::peer::Peer::connect_via(addr, password, shared.member_tls.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let mut cursor = "0".to_string();
    let mut cleared = 0;
    loop {
        let args = ["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"];
        let reply = peer.call(&args).await.map_err(|e| e.to_string())??;
        let Frame::Array(parts) = reply else {
            return Err("unexpected SCAN reply".into());
        };
        let (Some(Frame::Bulk(next)), Some(Frame::Array(keys))) = (parts.first(), parts.get(1))
        else {
            return Err("unexpected SCAN reply".into());
        };
        let mut by_slot: std::collections::BTreeMap<u16, Vec<&[u8]>> = Default::default();
        for k in keys {
            if let Frame::Bulk(k) = k {
                by_slot
                    .entry(placement::slot::key_slot(k))
                    .or_default()
                    .push(k);
            }
        }
        for (_, keys) in by_slot {
            let mut args: Vec<&[u8]> = vec![b"UNLINK"];
            args.extend(keys);
            if let Frame::Integer(n) = peer.call(&args).await.map_err(|e| e.to_string())?? {
                cleared += n as u64;
            }
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return Ok(cleared);
        }
    }
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
                "zone": n.zone,
                "weight": n.weight,
                "health": match c.reach(&n.id) {
                    _ if n.id == c.myid => "ok",
                    crate::cluster::Reach::Ok => "ok",
                    crate::cluster::Reach::Suspected => "unreachable",
                    crate::cluster::Reach::Failed => "failed",
                },
                "slots": t.slots.iter().filter(|s| **s == Some(n.shard)).count(),
                "slot_ranges": ranges,
            })
        })
        .collect();
    // Pending moves as target node id -> slot count, and this node's own progress.
    let mut moves: std::collections::BTreeMap<String, usize> = Default::default();
    for to in t.moves.values() {
        let id = t
            .primary_of(*to)
            .map_or_else(|| "-".to_string(), |n| n.id.clone());
        *moves.entry(id).or_default() += 1;
    }
    let p = &shared.migrations.progress;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let migration = serde_json::json!({
        "drivers": shared.migrations.running(),
        "slots_moved": get(&p.slots_moved),
        "batches": get(&p.batches),
        "keys_sent": get(&p.keys_sent),
        "bytes_sent": get(&p.bytes_sent),
        "failures": get(&p.failures),
        "last_pause_us": get(&p.last_pause_us),
        "max_pause_us": get(&p.max_pause_us),
        "last_error": p.last_error.lock().clone(),
    });
    Json(serde_json::json!({
        "enabled": true,
        "myid": c.myid,
        "epoch": t.epoch,
        "state": if c.coverage().ok { "ok" } else { "fail" },
        "slots_assigned": t.assigned(),
        "leader": c.leader(),
        "nodes": nodes,
        "moves": moves,
        "migration": migration,
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

/// Metrics of what the binary runs beside the node in this process (the gRPC service),
/// appended to `/metrics`. Set once.
pub static EXTRA_METRICS: std::sync::OnceLock<Box<dyn Fn() -> String + Send + Sync>> =
    std::sync::OnceLock::new();

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

    // Slot migration (cluster mode): what this node's moves have done, and what is pending.
    if let Some(c) = &shared.cluster {
        let p = &shared.migrations.progress;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        let (moving, out) = c.topology().map_or((0, 0), |t| {
            let out = t
                .node(&c.myid)
                .map_or(0, |me| t.moves_from(me.shard).count());
            (t.moves.len(), out)
        });
        for (name, kind, help, value) in [
            (
                "shardcache_cluster_slots_moving",
                "gauge",
                "Slots moving between shards (the whole cluster).",
                moving as f64,
            ),
            (
                "shardcache_migration_slots_pending",
                "gauge",
                "Slots this node has still to move away.",
                out as f64,
            ),
            (
                "shardcache_migration_slots_moved_total",
                "counter",
                "Slots this node moved away, keys and all.",
                get(&p.slots_moved),
            ),
            (
                "shardcache_migration_keys_sent_total",
                "counter",
                "Keys this node sent to the targets of its moves.",
                get(&p.keys_sent),
            ),
            (
                "shardcache_migration_bytes_sent_total",
                "counter",
                "Bytes this node sent to the targets of its moves.",
                get(&p.bytes_sent),
            ),
            (
                "shardcache_migration_failures_total",
                "counter",
                "Migration batches that failed (and were retried).",
                get(&p.failures),
            ),
            (
                "shardcache_migration_max_pause_seconds",
                "gauge",
                "Longest time a switch kept its slots unserved.",
                get(&p.max_pause_us) / 1e6,
            ),
        ] {
            metric(name, kind, help, value);
        }
    }

    // Replication: as a primary, each replica's lag in bytes (stream offset minus what it
    // acknowledged) and seconds (since its last acknowledgement); as a replica, its link.
    let offset = crate::replication::master_offset(shared);
    let replicas = shared.replicas.all();
    metric(
        "shardcache_replication_offset",
        "gauge",
        "How far this node's data is in its replication history (master_repl_offset).",
        offset as f64,
    );
    metric(
        "shardcache_connected_replicas",
        "gauge",
        "Replicas following this node.",
        replicas.len() as f64,
    );
    let link = {
        let s = shared.replication.state();
        s.master.as_ref().map(|_| {
            let up = s.link == crate::replication::LinkState::Connected;
            (
                up,
                if up {
                    s.last_io.elapsed().as_secs_f64()
                } else {
                    -1.0
                },
            )
        })
    };
    if let Some((up, idle)) = link {
        metric(
            "shardcache_replication_link_up",
            "gauge",
            "1 while this replica's link to its primary is up.",
            f64::from(u8::from(up)),
        );
        metric(
            "shardcache_replication_lag_seconds",
            "gauge",
            "Seconds since this replica last heard from its primary (-1: link down).",
            idle,
        );
        let audit = &shared.replication.audit;
        if audit.rounds.load(Ordering::Relaxed) > 0 {
            metric(
                "shardcache_replica_digest_mismatch",
                "gauge",
                "Slots whose data differed from the primary's in this replica's last consistency audit (--replica-digest-interval).",
                audit.mismatched_slots.load(Ordering::Relaxed) as f64,
            );
            metric(
                "shardcache_replica_digest_audits_total",
                "counter",
                "Consistency audits this replica completed.",
                audit.rounds.load(Ordering::Relaxed) as f64,
            );
        }
    }
    if !replicas.is_empty() {
        o.push_str("# HELP shardcache_replica_lag_bytes Stream bytes a replica has not acknowledged.\n# TYPE shardcache_replica_lag_bytes gauge\n");
        for r in &replicas {
            let acked = r.ack.load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "shardcache_replica_lag_bytes{{replica=\"{}:{}\"}} {}",
                r.ip,
                r.port,
                offset.saturating_sub(acked)
            );
        }
        o.push_str("# HELP shardcache_replica_lag_seconds Seconds since a replica last acknowledged.\n# TYPE shardcache_replica_lag_seconds gauge\n");
        for r in &replicas {
            let _ = writeln!(
                o,
                "shardcache_replica_lag_seconds{{replica=\"{}:{}\"}} {}",
                r.ip,
                r.port,
                r.last_ack.lock().elapsed().as_secs_f64()
            );
        }
    }

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
    let _ = writeln!(
        o,
        "# HELP process_cpu_seconds_total CPU time of the node process (user + system).\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
        crate::history::process_cpu_seconds()
    );
    crate::alerts::render_metrics(shared, &mut o);
    // Front doors the binary adds beside the node (the gRPC port).
    if let Some(extra) = EXTRA_METRICS.get() {
        o.push_str(&extra());
    }
    // Load shedding, per front door of this process (the gRPC port counts here too).
    let _ = writeln!(
        o,
        "# HELP shardcache_shed_requests_total Requests refused by load shedding (--max-concurrent-requests, --cpu-shed-threshold).\n# TYPE shardcache_shed_requests_total counter"
    );
    for (door, n) in shed::shed_counts() {
        let _ = writeln!(
            o,
            "shardcache_shed_requests_total{{door=\"{}\"}} {n}",
            door.name()
        );
    }
    let _ = writeln!(
        o,
        "# HELP shardcache_requests_in_flight Client commands being executed now (RESP).\n# TYPE shardcache_requests_in_flight gauge\nshardcache_requests_in_flight {}",
        shared.shedder.in_flight()
    );
    o
}
