//! The metric history (`/api/metrics/history`, `/api/metrics/export`) and the alerts
//! (`/api/alerts`, `/metrics`, the webhook): an error rate past its threshold fires an alert
//! that reaches a test HTTP server as JSON and resolves when the errors stop.

use std::time::{Duration, Instant};

use server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::limits::http_get;
use crate::support::Node;

/// A webhook receiver: answers 200 to every POST and hands over the bodies.
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = tx.send(serde_json::from_str(body).unwrap());
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                .await;
                            break;
                        }
                    }
                }
            });
        }
    });
    (url, rx)
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    state: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no '{state}' event"))
            .unwrap();
        if e["state"] == state && e["alert"]["name"] == "error_rate" {
            return e;
        }
    }
}

#[tokio::test]
async fn an_error_rate_alert_fires_reaches_the_webhook_and_resolves() {
    let (url, mut events) = receiver().await;
    let mut config = Config {
        metrics_interval_ms: 100,
        alert_webhook: Some(url),
        ..Config::default()
    };
    config.alerts.error_rate_percent = 5.0;
    let node = Node::start_with_admin(config).await;
    let admin = node.admin.unwrap();
    let mut c = node.client().await;
    c.run("SET a 1").await;
    // A client whose every command is an error, until told to stop.
    let mut bad = node.client().await;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let load = tokio::spawn(async move {
        while stop_rx.try_recv().is_err() {
            bad.run("NOSUCHCOMMAND").await;
            bad.run("INCR a b").await;
        }
    });
    let fired = next_event(&mut events, "firing").await;
    let value = fired["alert"]["value"].as_f64().unwrap();
    assert!(value > 5.0 && value <= 100.0, "{fired}");
    let (status, body) = http_get(admin, "/api/alerts").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["active"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "error_rate"),
        "{body}"
    );
    let (_, metrics) = http_get(admin, "/metrics").await;
    assert!(
        metrics.contains("shardcache_alert_active{alert=\"error_rate\""),
        "{metrics}"
    );
    // Errors stop: the alert resolves (sent too) and moves to the recent list.
    stop_tx.send(()).unwrap();
    load.await.unwrap();
    let stop = Instant::now() + Duration::from_millis(400);
    while Instant::now() < stop {
        c.run("GET a").await;
    }
    let resolved = next_event(&mut events, "resolved").await;
    assert!(resolved["alert"]["resolved"].is_u64(), "{resolved}");
    let (_, body) = http_get(admin, "/api/alerts").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["active"].as_array().unwrap().is_empty(), "{body}");
    assert!(!v["recent"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn metric_history_and_export() {
    let node = Node::start_with_admin(Config {
        metrics_interval_ms: 50,
        ..Config::default()
    })
    .await;
    let admin = node.admin.unwrap();
    let mut c = node.client().await;
    for i in 0..25 {
        c.cmd(&["SET", &format!("k{i}"), "v"]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = http_get(admin, "/api/metrics/history?metric=keys&range=1h").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let points = v["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{body}");
    assert_eq!(points.last().unwrap()[1], 25.0, "{body}");
    assert_eq!(v["metric"], "keys");
    for bad in [
        "/api/metrics/history",
        "/api/metrics/history?metric=nope",
        "/api/metrics/history?metric=keys&range=2d",
        "/api/metrics/history?metric=keys&range=x",
        "/api/metrics/export?format=xml",
    ] {
        assert_eq!(http_get(admin, bad).await.0, 400, "{bad}");
    }
    let (status, csv) = http_get(admin, "/api/metrics/export?format=csv&range=15m").await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("timestamp,{}", server::history::METRICS.join(","))
    );
    assert!(lines.count() >= 2);
    let (status, json) = http_get(admin, "/api/metrics/export").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["samples"].as_array().unwrap().last().unwrap()["keys"],
        25.0
    );
}
