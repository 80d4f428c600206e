//! `shardcache proxy` as a user runs it: over Shard-Cache nodes as backends (any RESP server
//! works), started from flags, driven by redis-cli; a bad config file is refused at start
//! with its line.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, spawn_on_free_port, BIN};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn proxy_over_shardcache_nodes() {
    let nodes: Vec<_> = (0..2).map(|_| spawn_on_free_port(&[])).collect();
    let urls: Vec<String> = nodes
        .iter()
        .map(|(_, port, _)| format!("redis://127.0.0.1:{port}"))
        .collect();
    let listen = free_port();
    let mut proxy = Command::new(BIN)
        .args(["proxy", "--listen", &format!("127.0.0.1:{listen}")])
        .env("CACHE_SHARD_URLS", urls.join(","))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        assert!(Instant::now() < deadline, "proxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..40 {
        assert_eq!(
            cli(listen, &["SET", &format!("user:{i}"), &i.to_string()]),
            "OK"
        );
    }
    assert_eq!(cli(listen, &["GET", "user:7"]), "7");
    assert_eq!(cli(listen, &["DBSIZE"]), "40");
    let per_node: Vec<u64> = nodes
        .iter()
        .map(|(_, port, _)| cli(*port, &["DBSIZE"]).parse().unwrap())
        .collect();
    assert_eq!(per_node.iter().sum::<u64>(), 40);
    assert!(per_node.iter().all(|n| *n > 0), "{per_node:?}");
    let _ = proxy.kill();
    let _ = proxy.wait();
    for (mut child, _, _) in nodes {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_bad_config_file_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("sc-proxy-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nutcracker.yml");
    std::fs::write(
        &path,
        "pool:\n  listen: 127.0.0.1:0\n  distribution: ketama\n  hash: sha256\n  servers:\n   - 127.0.0.1:6379:1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["proxy", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 4: unknown hash \"sha256\""), "{err}");
}
