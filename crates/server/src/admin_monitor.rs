//! The admin API's monitoring endpoints: alerts (`/api/alerts`), the metric history
//! (`/api/metrics/history?metric=&range=`) and its export (`/api/metrics/export?format=
//! json|csv`), from this node's [`crate::history`] and [`crate::alerts`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::history::{Sample, METRICS};
use crate::Shared;

/// Active alerts, and the last 100 that fired or resolved.
pub async fn alerts(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    Json(json!({
        "active": shared.alerts.active(),
        "recent": shared.alerts.recent(),
        "thresholds": {
            "latency_ms": shared.alert_thresholds.latency_ms,
            "memory_percent": shared.alert_thresholds.memory_percent,
            "cpu_percent": shared.alert_thresholds.cpu_percent,
            "error_rate_percent": shared.alert_thresholds.error_rate_percent,
            "node_down_minutes": shared.alert_thresholds.node_down_minutes,
            "evictions_per_sec": shared.alert_thresholds.evictions_per_sec,
            "replica_lag_seconds": shared.alert_thresholds.replica_lag_seconds,
        },
    }))
}

#[derive(Debug, serde::Deserialize)]
pub struct HistoryQuery {
    metric: Option<String>,
    range: Option<String>,
    format: Option<String>,
}

fn bad(why: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
}

/// `30s`, `15m`, `1h`, `24h`, or seconds; at most 24 hours.
fn parse_range(s: Option<&str>) -> Result<Duration, String> {
    let s = s.unwrap_or("1h").trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad range '{s}' (e.g. 15m, 1h, 24h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("bad range '{s}' (e.g. 15m, 1h, 24h)")),
    };
    if secs == 0 || secs > 86400 {
        return Err("range must be between 1s and 24h".into());
    }
    Ok(Duration::from_secs(secs))
}

fn value(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// One metric over a range: `{metric, range_seconds, resolution_seconds, points: [[t, v]]}`.
pub async fn history(State(shared): State<Arc<Shared>>, Query(q): Query<HistoryQuery>) -> Response {
    let Some(metric) = q.metric.as_deref() else {
        return bad(format!(
            "metric is required, one of: {}",
            METRICS.join(", ")
        ));
    };
    let Some(i) = crate::history::index_of(metric) else {
        return bad(format!(
            "unknown metric '{metric}', one of: {}",
            METRICS.join(", ")
        ));
    };
    let range = match parse_range(q.range.as_deref()) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let (resolution, samples) = shared.history.range(range);
    let points: Vec<_> = samples
        .iter()
        .map(|s| json!([s.at, value(s.values[i])]))
        .collect();
    Json(json!({
        "metric": metric,
        "range_seconds": range.as_secs(),
        "resolution_seconds": if resolution == 0 { interval_secs(&samples) } else { resolution },
        "points": points,
    }))
    .into_response()
}

fn interval_secs(samples: &[Sample]) -> u64 {
    samples
        .windows(2)
        .last()
        .map_or(0, |w| w[1].at.saturating_sub(w[0].at))
}

/// Every metric over a range, as JSON (`{metrics, samples: [{t, ...}]}`) or CSV (a header,
/// then one row per sample; empty cells where a value was not known).
pub async fn export(State(shared): State<Arc<Shared>>, Query(q): Query<HistoryQuery>) -> Response {
    let range = match parse_range(q.range.as_deref()) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let (_, samples) = shared.history.range(range);
    match q.format.as_deref().unwrap_or("json") {
        "csv" => {
            let mut out = String::from("timestamp");
            for m in METRICS {
                out.push(',');
                out.push_str(m);
            }
            out.push('\n');
            for s in &samples {
                out.push_str(&s.at.to_string());
                for v in &s.values {
                    out.push(',');
                    if v.is_finite() {
                        out.push_str(&v.to_string());
                    }
                }
                out.push('\n');
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"shardcache-metrics.csv\"",
                    ),
                ],
                out,
            )
                .into_response()
        }
        "json" => {
            let rows: Vec<_> = samples
                .iter()
                .map(|s| {
                    let mut row = serde_json::Map::new();
                    row.insert("t".into(), json!(s.at));
                    for (m, v) in METRICS.iter().zip(&s.values) {
                        row.insert((*m).into(), value(*v));
                    }
                    serde_json::Value::Object(row)
                })
                .collect();
            Json(json!({ "metrics": METRICS, "samples": rows })).into_response()
        }
        other => bad(format!("unknown format '{other}' (json or csv)")),
    }
}
