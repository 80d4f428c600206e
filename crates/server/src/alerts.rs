//! Alerts: thresholds on the node's figures (the seed's defaults: p99 latency 100 ms,
//! memory 85% of maxmemory, CPU 80%, error rate 5%, a peer down 2 minutes; plus slot coverage,
//! evictions per second and replica lag), evaluated on every metric sample
//! ([`crate::history`]). Active and recent alerts are served at `/api/alerts`, counted in
//! `/metrics` (`shardcache_alert_active`), shown on the dashboard, and, with
//! `--alert-webhook`, POSTed as JSON when they fire and when they resolve — from a task of
//! their own, retried, never holding up the node.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use crate::Shared;

/// Thresholds (`--alert-*`); 0 turns a rule off.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Thresholds {
    pub latency_ms: f64,
    pub memory_percent: f64,
    pub cpu_percent: f64,
    pub error_rate_percent: f64,
    pub node_down_minutes: f64,
    pub evictions_per_sec: f64,
    pub replica_lag_seconds: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency_ms: 100.0,
            memory_percent: 85.0,
            cpu_percent: 80.0,
            error_rate_percent: 5.0,
            node_down_minutes: 2.0,
            evictions_per_sec: 1000.0,
            replica_lag_seconds: 10.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// The rule and what it is about (`memory`, `node_down:<id>`).
    pub name: String,
    pub severity: &'static str,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
    /// Seconds since the epoch.
    pub since: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<u64>,
}

#[derive(Default)]
pub struct Alerts {
    active: Mutex<BTreeMap<String, Alert>>,
    recent: Mutex<VecDeque<Alert>>,
    /// When each peer was first seen failed (node_down's clock).
    down_since: Mutex<HashMap<String, Instant>>,
    webhook: Mutex<Option<tokio::sync::mpsc::UnboundedSender<serde_json::Value>>>,
}

const RECENT_KEEP: usize = 100;

impl Alerts {
    pub fn active(&self) -> Vec<Alert> {
        self.active.lock().values().cloned().collect()
    }

    pub fn recent(&self) -> Vec<Alert> {
        self.recent.lock().iter().cloned().collect()
    }

    /// Sends alert changes to `url` from now on (see [`webhook`]).
    pub fn set_webhook(&self, tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>) {
        *self.webhook.lock() = Some(tx);
    }

    fn notify(&self, state: &str, alert: &Alert) {
        if let Some(tx) = self.webhook.lock().as_ref() {
            let _ = tx.send(serde_json::json!({"state": state, "alert": alert}));
        }
    }

    /// Makes the set of firing alerts `firing`: new ones start, missing ones resolve.
    fn update(&self, firing: Vec<Alert>) {
        let now = crate::unix_ms() / 1000;
        let mut active = self.active.lock();
        let names: Vec<String> = firing.iter().map(|a| a.name.clone()).collect();
        for mut a in firing {
            match active.get_mut(&a.name) {
                Some(existing) => {
                    existing.value = a.value;
                    existing.message = a.message;
                }
                None => {
                    a.since = now;
                    tracing::warn!(alert = %a.name, message = %a.message, "alert firing");
                    self.notify("firing", &a);
                    self.remember(a.clone());
                    active.insert(a.name.clone(), a);
                }
            }
        }
        let gone: Vec<String> = active
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(mut a) = active.remove(&name) {
                a.resolved = Some(now);
                tracing::info!(alert = %a.name, "alert resolved");
                self.notify("resolved", &a);
                self.remember(a);
            }
        }
    }

    fn remember(&self, a: Alert) {
        let mut recent = self.recent.lock();
        recent.push_front(a);
        recent.truncate(RECENT_KEEP);
    }
}

fn alert(
    name: impl Into<String>,
    severity: &'static str,
    message: String,
    value: f64,
    threshold: f64,
) -> Alert {
    Alert {
        name: name.into(),
        severity,
        message,
        value,
        threshold,
        since: 0,
        resolved: None,
    }
}

/// Checks every rule against the latest sample and the cluster's state.
pub fn evaluate(shared: &Shared) {
    let t = shared.alert_thresholds;
    let mut firing = Vec::new();
    if let Some(s) = shared.history.latest() {
        let get = |name: &str| {
            crate::history::index_of(name)
                .map(|i| s.values[i])
                .filter(|v| !v.is_nan())
        };
        let rules: [(&str, &str, f64, &str); 5] = [
            (
                "latency_p99_ms",
                "latency",
                t.latency_ms,
                "p99 command latency {v:.1} ms (threshold {t} ms)",
            ),
            (
                "memory_percent",
                "memory",
                t.memory_percent,
                "memory {v:.1}% of maxmemory (threshold {t}%)",
            ),
            (
                "cpu_percent",
                "cpu",
                t.cpu_percent,
                "CPU {v:.1}% (threshold {t}%)",
            ),
            (
                "error_rate_percent",
                "error_rate",
                t.error_rate_percent,
                "{v:.1}% of commands answered errors (threshold {t}%)",
            ),
            (
                "evicted_per_sec",
                "evictions",
                t.evictions_per_sec,
                "{v:.0} evictions/s (threshold {t}/s)",
            ),
        ];
        for (metric, name, threshold, text) in rules {
            if threshold <= 0.0 {
                continue;
            }
            if let Some(v) = get(metric).filter(|v| *v > threshold) {
                let message = text
                    .replace("{v:.1}", &format!("{v:.1}"))
                    .replace("{v:.0}", &format!("{v:.0}"))
                    .replace("{t}", &format!("{threshold}"));
                firing.push(alert(name, "warning", message, v, threshold));
            }
        }
    }
    if let Some(c) = &shared.cluster {
        if let Some(top) = c.topology() {
            let served = top.slots.iter().filter(|s| s.is_some()).count();
            if served < 16384 {
                firing.push(alert(
                    "slot_coverage",
                    "critical",
                    format!("only {served} of 16384 slots are served"),
                    served as f64,
                    16384.0,
                ));
            }
            let mut down = shared.alerts.down_since.lock();
            for n in &top.nodes {
                if n.id == c.myid {
                    continue;
                }
                if c.reach(&n.id) == crate::cluster::Reach::Failed {
                    let since = *down.entry(n.id.clone()).or_insert_with(Instant::now);
                    let minutes = since.elapsed().as_secs_f64() / 60.0;
                    if t.node_down_minutes > 0.0 && minutes >= t.node_down_minutes {
                        firing.push(alert(
                            format!("node_down:{}", n.id),
                            "critical",
                            format!(
                                "node {}:{} has not answered for {minutes:.1} minutes",
                                n.host, n.port
                            ),
                            minutes,
                            t.node_down_minutes,
                        ));
                    }
                } else {
                    down.remove(&n.id);
                }
            }
        }
    }
    if t.replica_lag_seconds > 0.0 {
        for r in shared.replicas.all() {
            let lag = r.last_ack.lock().elapsed().as_secs_f64();
            if lag > t.replica_lag_seconds {
                firing.push(alert(
                    format!("replica_lag:{}:{}", r.ip, r.port),
                    "warning",
                    format!(
                        "replica {}:{} last acknowledged {lag:.0} s ago",
                        r.ip, r.port
                    ),
                    lag,
                    t.replica_lag_seconds,
                ));
            }
        }
    }
    shared.alerts.update(firing);
}

/// Posts alert changes to `url` (`http://host:port/path`) as JSON, one at a time, each
/// retried up to 5 times with growing pauses; a webhook that stays down loses nothing from
/// `/api/alerts`, and the node never waits for it.
pub fn webhook(shared: &Arc<Shared>, url: String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    shared.alerts.set_webhook(tx);
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = rx.recv() => match e { Some(e) => e, None => return },
            };
            let body = event.to_string();
            let mut pause = Duration::from_millis(200);
            for attempt in 1..=5 {
                match post(&url, &body).await {
                    Ok(status) if (200..300).contains(&status) => break,
                    Ok(status) => tracing::warn!(%url, status, attempt, "alert webhook refused"),
                    Err(e) => {
                        tracing::warn!(%url, error = %e, attempt, "alert webhook unreachable")
                    }
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    });
}

/// One HTTP/1.1 POST (plain HTTP); the status code.
async fn post(url: &str, body: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or("the alert webhook must be an http:// URL")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let connect = tokio::net::TcpStream::connect(authority);
    let mut s = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut reply))
        .await
        .map_err(|_| "no reply".to_string())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&reply[..n]);
    text.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad reply: {text}"))
}

/// Prometheus lines: one gauge per active alert.
pub fn render_metrics(shared: &Shared, o: &mut String) {
    use std::fmt::Write as _;
    o.push_str("# HELP shardcache_alert_active An alert that is firing (1), by name.\n# TYPE shardcache_alert_active gauge\n");
    for a in shared.alerts.active() {
        let _ = writeln!(
            o,
            "shardcache_alert_active{{alert=\"{}\",severity=\"{}\"}} 1",
            a.name, a.severity
        );
    }
    let _ = writeln!(
        o,
        "# HELP shardcache_alerts_active Alerts firing.\n# TYPE shardcache_alerts_active gauge\nshardcache_alerts_active {}",
        shared.alerts.active().len()
    );
}
