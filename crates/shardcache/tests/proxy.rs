//! `shardcache proxy` as a user runs it: over Shard-Cache nodes as backends (any RESP server
//! works), started from flags, driven by redis-cli; a bad config file is refused at start
//! with its line.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, free_port, spawn_on_free_port, BIN};

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

/// `/proc/<pid>/status` VmRSS in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        * 1024
}

fn start_proxy(
    backend: u16,
    extra: &[&str],
) -> (
    std::process::Child,
    u16,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::BufRead;
    let listen = free_port();
    let mut proxy = Command::new(BIN)
        .args(["proxy", "--listen", &format!("127.0.0.1:{listen}")])
        .args(["--backends", &format!("redis://127.0.0.1:{backend}")])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    let stderr = proxy.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        assert!(Instant::now() < deadline, "proxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (proxy, listen, log)
}

/// A client pipelines 300 GETs of a 1 MB value and never reads: the proxy holds a bounded
/// part of that (it stops dispatching while the client does not take its replies), other
/// clients are served meanwhile, and with a soft output limit the reader-less client is
/// disconnected with a log line.
#[test]
fn a_client_that_does_not_read_cannot_grow_the_proxy_or_stall_others() {
    use std::io::Write;
    let (mut node, backend, _) = spawn_on_free_port(&["--threads", "1"]);
    let big = "v".repeat(1024 * 1024);
    let client = redis::Client::open(format!("redis://127.0.0.1:{backend}/")).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut c)
        .unwrap();
    for limit in ["normal 0 0 0", "normal 0 1mb 2"] {
        let (mut proxy, listen, log) =
            start_proxy(backend, &["--client-output-buffer-limit", limit]);
        let before = rss(proxy.id());
        let mut greedy = std::net::TcpStream::connect(("127.0.0.1", listen)).unwrap();
        let get = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(300);
        greedy.write_all(&get).unwrap();
        // Others are served, promptly, while it does not read.
        let other = redis::Client::open(format!("redis://127.0.0.1:{listen}/")).unwrap();
        let mut o = other.get_connection().unwrap();
        let started = Instant::now();
        for i in 0..100 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query(&mut o)
                .unwrap();
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "100 SETs took {took:?}");
        std::thread::sleep(Duration::from_millis(2500));
        let grown = rss(proxy.id()).saturating_sub(before);
        eprintln!(
            "{limit}: proxy grew {:.1} MB for a reader-less client of 300 x 1 MB; 100 SETs of another client took {took:?}",
            grown as f64 / 1048576.0
        );
        assert!(grown < 80 * 1024 * 1024, "proxy grew by {grown} bytes");
        if limit != "normal 0 0 0" {
            assert!(
                log.lock().unwrap().contains("output buffer soft limit"),
                "{}",
                log.lock().unwrap()
            );
        }
        drop(greedy);
        let _ = proxy.kill();
        let _ = proxy.wait();
    }
    let _ = node.kill();
    let _ = node.wait();
}
