//! Complete members in one process over the in-memory transport, and what the tests ask them.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use cluster::mem::MemTransport;
use server::Config;
use tokio::net::TcpListener;

pub struct Member {
    pub port: u16,
    pub bus: String,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts a complete member on a free client port (`config`'s port, cluster mode and
/// threads are set here), joining the member at client port `join` if given.
pub async fn start(transport: &MemTransport, join: Option<u16>, config: Config) -> Member {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Snapshots for replicas are written in `dir`: a scratch directory, not the crate's.
    let dir = std::env::temp_dir().join("shardcache-node-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config {
        port: 0,
        cluster_enabled: true,
        threads: 1,
        dir,
        ..config
    };
    let options = node::MemberOptions {
        join: join.map(|p| format!("127.0.0.1:{p}")),
        standby: false,
        dir: None,
        announce_ip: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(node::run(
        Some(listener),
        config,
        options,
        transport.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Member {
        port,
        bus: String::new(),
        stop,
    }
}

/// CLUSTER INFO of the member at `port` ("" when it does not answer).
pub async fn cluster_info(port: u16) -> String {
    cluster_text(port, "INFO").await
}

/// CLUSTER NODES as the member at `port` sees it ("" when it does not answer).
pub async fn cluster_nodes(port: u16) -> String {
    cluster_text(port, "NODES").await
}

/// The text reply of `CLUSTER <sub>` (blocking client, run off the runtime).
async fn cluster_text(port: u16, sub: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
            return String::new();
        };
        let Ok(mut c) = client.get_connection() else {
            return String::new();
        };
        redis::cmd("CLUSTER")
            .arg(sub)
            .query::<String>(&mut c)
            .unwrap_or_default()
    })
    .await
    .unwrap()
}

pub async fn eventually(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A blocking connection to the member at `port`.
pub fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The member's bus address, from its own CLUSTER NODES line.
pub async fn bus_of(port: u16) -> String {
    let nodes = cluster_nodes(port).await;
    let me = nodes.lines().find(|l| l.contains("myself")).unwrap();
    let addr = me.split_whitespace().nth(1).unwrap();
    let (host, bus) = addr.split_once(':').unwrap();
    format!("{host}:{}", bus.split_once('@').unwrap().1)
}
