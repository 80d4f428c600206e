//! The proxy over real redis-servers: placement identical to the real nutcracker through the
//! whole request path, fan-out and reassembly, aggregation, partial failure, ejection and
//! return, refusals, AUTH and the default TTL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy::config::parse_yaml;
use proxy::{Pool, Proxy};
use resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn tool(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!(
        "{name} not found: run the README's test command (it installs redis-server and nutcracker)"
    );
}

fn free_ports(n: usize) -> Vec<u16> {
    let l: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    l.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

struct Redis {
    child: Option<Child>,
}

impl Redis {
    fn start_on(port: u16) -> Redis {
        Self::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&str]) -> Redis {
        let child = Command::new(tool("redis-server"))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(extra)
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child: Some(child) }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A raw RESP client.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Frame {
        if std::env::var("PROXY_TRACE").is_ok() {
            eprintln!("> {}", String::from_utf8_lossy(args[0].as_ref()));
        }
        let mut wire = Vec::new();
        resp::request::encode_command(args, &mut wire);
        self.stream.write_all(&wire).await.unwrap();
        self.read().await
    }

    async fn read(&mut self) -> Frame {
        loop {
            if let Some((f, n)) = Frame::parse(&self.buf).unwrap() {
                self.buf.drain(..n);
                return f;
            }
            self.buf.reserve(64 * 1024);
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("reply within 10 s")
                    .unwrap();
            assert!(n > 0, "connection closed");
        }
    }

    async fn run(&mut self, line: &str) -> Frame {
        let args: Vec<&str> = line.split(' ').collect();
        self.cmd(&args).await
    }
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

/// Starts the proxy in-process for the pools of `yaml` (each on its own port 0 listener).
async fn start_proxy(yaml: &str) -> (Vec<SocketAddr>, Vec<Arc<Pool>>) {
    let (addrs, proxy, _) = start_proxy_with_admin(yaml, None).await;
    (addrs, proxy.pools())
}

/// Like [`start_proxy`], with the admin API on a port 0 listener when `reload_from` is given
/// (the file a reload reads).
async fn start_proxy_with_admin(
    yaml: &str,
    reload_from: Option<std::path::PathBuf>,
) -> (Vec<SocketAddr>, Arc<Proxy>, Option<SocketAddr>) {
    let proxy = Proxy::new(parse_yaml(yaml).unwrap());
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in proxy.pools() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(l.local_addr().unwrap());
        listeners.push(l);
    }
    let admin = match reload_from {
        Some(path) => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let admin = proxy::admin::Admin {
                reloader: proxy::admin::Reloader { path: Some(path) },
                ..Default::default()
            };
            Some((l, admin))
        }
        None => None,
    };
    let admin_addr = admin.as_ref().map(|(l, _)| l.local_addr().unwrap());
    tokio::spawn(proxy::run_with_listeners(
        proxy.clone(),
        listeners,
        admin,
        std::future::pending(),
    ));
    (addrs, proxy, admin_addr)
}

fn pool_yaml(name: &str, extra: &str, servers: &[String]) -> String {
    let mut y = format!("{name}:\n  listen: 127.0.0.1:0\n  redis: true\n{extra}  servers:\n");
    for s in servers {
        y += &format!("   - {s}\n");
    }
    y
}

async fn keys_on(port: u16) -> Vec<Vec<u8>> {
    let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], port))).await;
    match c.run("KEYS *").await {
        Frame::Array(v) => v
            .into_iter()
            .map(|f| match f {
                Frame::Bulk(b) => b,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

async fn flush(ports: &[u16]) {
    for p in ports {
        let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], *p))).await;
        c.run("FLUSHALL").await;
    }
}

/// The same config under nutcracker and under our proxy: every key on the same backend.
#[tokio::test]
async fn keys_land_where_nutcracker_puts_them() {
    let ports = free_ports(3);
    let backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let servers: Vec<String> = vec![
        format!("127.0.0.1:{}:1 alpha", ports[0]),
        format!("127.0.0.1:{}:2 beta", ports[1]),
        format!("127.0.0.1:{}:1 gamma", ports[2]),
    ];
    let extra = "  hash: fnv1a_64\n  distribution: ketama\n  hash_tag: \"{}\"\n";
    let (addrs, _) = start_proxy(&pool_yaml("ours", extra, &servers)).await;

    let nc_port = free_ports(2);
    let yaml = pool_yaml("theirs", extra, &servers)
        .replace("127.0.0.1:0", &format!("127.0.0.1:{}", nc_port[0]));
    let dir = std::env::temp_dir().join(format!("sc-proxy-nc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nc.yml"), yaml).unwrap();
    let mut nc = Command::new(tool("nutcracker"))
        .arg("-c")
        .arg(dir.join("nc.yml"))
        .args(["-s", &nc_port[1].to_string()])
        .arg("-o")
        .arg(dir.join("nc.log"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nc_port[0])).is_err() {
        assert!(Instant::now() < deadline, "nutcracker did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    let keys: Vec<String> = (0..600)
        .map(|i| format!("gw:{i}"))
        .chain((0..100).map(|i| format!("{{user{}}}:profile:{i}", i % 9)))
        .collect();
    let mut placed: Vec<HashMap<Vec<u8>, usize>> = Vec::new();
    for addr in [addrs[0], SocketAddr::from(([127, 0, 0, 1], nc_port[0]))] {
        flush(&ports).await;
        let mut c = Client::connect(addr).await;
        for k in &keys {
            assert_eq!(c.cmd(&["SET", k, "v"]).await, Frame::Simple("OK".into()));
        }
        let mut where_ = HashMap::new();
        for (b, p) in ports.iter().enumerate() {
            for k in keys_on(*p).await {
                where_.insert(k, b);
            }
        }
        assert_eq!(where_.len(), keys.len());
        placed.push(where_);
    }
    let _ = nc.kill();
    let _ = nc.wait();
    assert_eq!(placed[0], placed[1], "placement differs from nutcracker");
    drop(backends);
}

#[tokio::test]
async fn fan_out_aggregates_and_refusals() {
    let ports = free_ports(3);
    let _backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let servers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:1")).collect();
    let (addrs, pools) = start_proxy(&pool_yaml(
        "p",
        "  hash: md5\n  hash_tag: \"{}\"\n",
        &servers,
    ))
    .await;
    let mut c = Client::connect(addrs[0]).await;

    // MSET/MGET across backends, in order, with gaps.
    let mut mset = vec!["MSET".to_string()];
    for i in 0..50 {
        mset.push(format!("k{i}"));
        mset.push(format!("v{i}"));
    }
    assert_eq!(c.cmd(&mset).await, Frame::Simple("OK".into()));
    let mut mget = vec!["MGET".to_string()];
    mget.extend((0..60).map(|i| format!("k{i}")));
    let Frame::Array(values) = c.cmd(&mget).await else {
        panic!()
    };
    for (i, v) in values.iter().enumerate() {
        if i < 50 {
            assert_eq!(*v, bulk(&format!("v{i}")));
        } else {
            assert_eq!(*v, Frame::Null);
        }
    }
    let spread = {
        let mut n = 0;
        for p in &ports {
            n += (!keys_on(*p).await.is_empty()) as usize;
        }
        n
    };
    assert_eq!(spread, 3, "the keys are spread over every backend");
    assert_eq!(c.run("EXISTS k1 k2 k3 nope").await, Frame::Integer(3));
    assert_eq!(c.run("TOUCH k1 nope").await, Frame::Integer(1));
    assert_eq!(c.run("DBSIZE").await, Frame::Integer(50));
    let Frame::Array(all) = c.run("KEYS k*").await else {
        panic!()
    };
    assert_eq!(all.len(), 50);
    // A full SCAN sees every key exactly once.
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let Frame::Array(r) = c.cmd(&["SCAN", &cursor, "COUNT", "7"]).await else {
            panic!()
        };
        if let Frame::Array(ks) = &r[1] {
            for k in ks {
                assert!(seen.insert(k.as_text().unwrap()), "SCAN repeated {k:?}");
            }
        }
        cursor = r[0].as_text().unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(c.run("DEL k1 k2 nope").await, Frame::Integer(2));
    assert_eq!(c.run("UNLINK k3").await, Frame::Integer(1));

    // Commands that cannot be split need one backend; a hash tag provides it.
    let ring = pools[0].ring();
    let other = (11..50)
        .map(|i| format!("k{i}"))
        .find(|k| ring.pick(k.as_bytes()) != ring.pick(b"k10"))
        .unwrap();
    assert!(
        matches!(c.cmd(&["RENAME", "k10", &other]).await, Frame::Error(e) if e.starts_with("CROSSSLOT"))
    );
    c.run("SADD {s}a 1 2").await;
    c.run("SADD {s}b 2 3").await;
    assert_eq!(c.run("SINTERSTORE {s}c {s}a {s}b").await, Frame::Integer(1));
    assert_eq!(c.run("MSETNX {m}1 a {m}2 b").await, Frame::Integer(1));
    // Scripts run on their keys' backend: the keys must share one; a keyless script has no
    // backend to go to.
    let script = "return redis.call('incrby', KEYS[1], ARGV[1])";
    assert_eq!(
        c.cmd(&["EVAL", script, "1", "pcounter", "5"]).await,
        Frame::Integer(5)
    );
    assert_eq!(c.run("GET pcounter").await, Frame::Bulk(b"5".to_vec()));
    assert!(matches!(
        c.cmd(&["EVAL", script, "2", "k10", &other]).await,
        Frame::Error(e) if e.starts_with("CROSSSLOT")
    ));
    assert!(matches!(
        c.cmd(&["EVAL", "return 1", "0"]).await,
        Frame::Error(e) if e.contains("needs at least one key through the proxy")
    ));
    assert!(matches!(
        c.cmd(&["EVALSHA", "0123456789012345678901234567890123456789", "1", "k10"]).await,
        Frame::Error(e) if e.starts_with("NOSCRIPT")
    ));
    // SCRIPT LOAD reaches every backend, so EVALSHA works whichever backend a key is on.
    let Frame::Bulk(sha) = c
        .cmd(&["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"])
        .await
    else {
        panic!("no SHA1")
    };
    let sha = String::from_utf8(sha).unwrap();
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "1", "k10"]).await,
        Frame::Bulk(b"v10".to_vec())
    );
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "1", &other]).await,
        c.cmd(&["GET", &other]).await
    );
    assert_eq!(
        c.cmd(&[
            "SCRIPT",
            "EXISTS",
            &sha,
            "ffffffffffffffffffffffffffffffffffffffff"
        ])
        .await,
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)])
    );
    assert_eq!(c.run("SCRIPT FLUSH").await, Frame::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["SCRIPT", "EXISTS", &sha]).await,
        Frame::Array(vec![Frame::Integer(0)])
    );
    assert!(
        matches!(c.run("SCRIPT KILL").await, Frame::Error(e) if e.contains("only SCRIPT LOAD"))
    );

    // Refused and local commands, errors.
    for (cmd, prefix) in [
        ("MULTI", "ERR transactions"),
        ("BLPOP q 0", "ERR blocking commands"),
        ("SUBSCRIBE ch", "ERR pub/sub"),
        ("NOSUCH x", "ERR unknown or unsupported command 'NOSUCH'"),
        ("GET", "ERR wrong number of arguments for 'get' command"),
        ("SELECT 2", "ERR DB index is out of range"),
        ("HELLO 4", "NOPROTO unsupported protocol version"),
        ("HELLO 3 BOGUS", "ERR Syntax error in HELLO option 'BOGUS'"),
    ] {
        match c.run(cmd).await {
            Frame::Error(e) => assert!(e.starts_with(prefix), "{cmd}: {e}"),
            other => panic!("{cmd}: {other:?}"),
        }
    }
    assert_eq!(c.run("PING").await, Frame::Simple("PONG".into()));
    assert_eq!(c.run("ECHO hi").await, bulk("hi"));
    assert_eq!(c.run("SELECT 0").await, Frame::Simple("OK".into()));
    assert_eq!(
        c.run("CLIENT SETNAME app").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(c.run("CLIENT GETNAME").await, bulk("app"));
    assert_eq!(c.run("FLUSHALL").await, Frame::Simple("OK".into()));
    assert_eq!(c.run("DBSIZE").await, Frame::Integer(0));
}

#[tokio::test]
async fn a_dead_backend_fails_fast_and_the_others_keep_working() {
    let ports = free_ports(3);
    let mut backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let servers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:1")).collect();
    let (addrs, pools) =
        start_proxy(&pool_yaml("p", "  hash: md5\n  timeout: 500\n", &servers)).await;
    let mut c = Client::connect(addrs[0]).await;
    for i in 0..30 {
        c.cmd(&["SET", &format!("k{i}"), "v"]).await;
    }
    backends[1].stop();
    let ring = pools[0].ring();
    let (mut ok, mut failed) = (0, 0);
    for i in 0..30 {
        let key = format!("k{i}");
        let started = Instant::now();
        let r = c.cmd(&["GET", &key]).await;
        assert!(started.elapsed() < Duration::from_secs(2), "no hang");
        if ring.pick(key.as_bytes()) == Some(1) {
            assert!(
                matches!(&r, Frame::Error(e) if e.contains("unavailable") || e.contains("closed")),
                "{r:?}"
            );
            failed += 1;
        } else {
            assert_eq!(r, bulk("v"));
            ok += 1;
        }
    }
    assert!(ok > 0 && failed > 0);
    // A fan-out touching the dead backend fails as a whole, with the reason.
    let mut mget = vec!["MGET".to_string()];
    mget.extend((0..30).map(|i| format!("k{i}")));
    assert!(matches!(c.cmd(&mget).await, Frame::Error(e) if e.contains(&format!("{}", ports[1]))));
    let mut mset = vec!["MSET".to_string()];
    for i in 0..30 {
        mset.push(format!("k{i}"));
        mset.push("x".into());
    }
    assert!(matches!(c.cmd(&mset).await, Frame::Error(e) if e.contains(&format!("{}", ports[1]))));
    // Malformed input closes only that client.
    let mut bad = Client::connect(addrs[0]).await;
    bad.stream.write_all(b"*1\r\n$abc\r\n").await.unwrap();
    // Redis's text, once: "ERR Protocol error: invalid bulk length".
    match bad.read().await {
        Frame::Error(e) => assert_eq!(e, "ERR Protocol error: invalid bulk length"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.run("PING").await, Frame::Simple("PONG".into()));
    // Back again: served again.
    backends[1] = Redis::start_on(ports[1]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let key = (0..30)
            .map(|i| format!("k{i}"))
            .find(|k| ring.pick(k.as_bytes()) == Some(1))
            .unwrap();
        if c.cmd(&["SET", &key, "again"]).await == Frame::Simple("OK".into()) {
            break;
        }
        assert!(Instant::now() < deadline, "the backend never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn auto_eject_moves_keys_away_and_back() {
    let ports = free_ports(3);
    let mut backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let servers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:1")).collect();
    let extra = "  hash: md5\n  auto_eject_hosts: true\n  server_failure_limit: 2\n  server_retry_timeout: 700\n  timeout: 500\n";
    let (addrs, pools) = start_proxy(&pool_yaml("p", extra, &servers)).await;
    let mut c = Client::connect(addrs[0]).await;
    let ring = pools[0].ring();
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| ring.pick(k.as_bytes()) == Some(2))
        .unwrap();
    backends[2].stop();
    // Failures up to the limit, then the key is served by another backend.
    let mut errors = 0;
    loop {
        match c.cmd(&["SET", &key, "moved"]).await {
            Frame::Error(_) => errors += 1,
            Frame::Simple(_) => break,
            other => panic!("{other:?}"),
        }
        assert!(
            errors <= 2,
            "not ejected after server_failure_limit failures"
        );
    }
    assert_eq!(errors, 2);
    assert_ne!(pools[0].ring().pick(key.as_bytes()), Some(2));
    // After server_retry_timeout, with the backend back, the key returns to it.
    backends[2] = Redis::start_on(ports[2]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        c.cmd(&["SET", &key, "home"]).await,
        Frame::Simple("OK".into())
    );
    assert_eq!(pools[0].ring().pick(key.as_bytes()), Some(2));
    assert!(keys_on(ports[2]).await.contains(&key.into_bytes()));
}

#[tokio::test]
async fn auth_and_default_ttl() {
    let ports = free_ports(2);
    let _backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let mut cfg = proxy::config::from_urls(
        "127.0.0.1:0",
        &format!(
            "redis://127.0.0.1:{},redis://127.0.0.1:{}",
            ports[0], ports[1]
        ),
        150,
        Some(100),
    )
    .unwrap();
    cfg.requirepass = Some("s3cret".into());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(proxy::run_with_listeners(
        Proxy::new(vec![cfg]),
        vec![l],
        None,
        std::future::pending(),
    ));
    let mut c = Client::connect(addr).await;
    assert!(matches!(c.run("GET a").await, Frame::Error(e) if e.starts_with("NOAUTH")));
    assert!(matches!(c.run("AUTH wrong").await, Frame::Error(e) if e.starts_with("WRONGPASS")));
    assert_eq!(c.run("AUTH s3cret").await, Frame::Simple("OK".into()));
    c.run("SET plain v").await;
    c.run("SET explicit v EX 5000").await;
    let Frame::Integer(ttl) = c.run("TTL plain").await else {
        panic!()
    };
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(c.run("TTL explicit").await, Frame::Integer(5000));
}

/// A minimal HTTP/1.1 request; (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nX-Shardcache-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_and_hot_reload() {
    let ports = free_ports(3);
    let _backends: Vec<Redis> = ports.iter().map(|p| Redis::start_on(*p)).collect();
    let two: Vec<String> = ports[..2]
        .iter()
        .map(|p| format!("127.0.0.1:{p}:1"))
        .collect();
    let three: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:1")).collect();
    let dir = std::env::temp_dir().join(format!("sc-proxy-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nutcracker.yml");
    let yaml = pool_yaml("main", "  hash: md5\n", &two);
    std::fs::write(&file, &yaml).unwrap();
    let (addrs, proxy, admin) = start_proxy_with_admin(&yaml, Some(file.clone())).await;
    let admin = admin.unwrap();
    let mut c = Client::connect(addrs[0]).await;
    let keys: Vec<String> = (0..300).map(|i| format!("gw:{i}")).collect();
    for k in &keys {
        c.cmd(&["SET", k, "v"]).await;
    }
    c.run("GET gw:1").await;
    c.run("GET nope").await;

    let (status, body) = http(admin, "GET", "/api/cache/stats").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cs = &v["cache_stats"];
    assert_eq!(cs["hits"], 1);
    assert_eq!(cs["misses"], 1);
    assert_eq!(cs["hit_rate_percent"], 50.0);
    assert_eq!(cs["sets"], 300);
    assert_eq!(cs["shards_count"], 2);
    let dist: i64 = cs["shard_distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(dist, 300);
    assert!(v["hash_ring_distribution"]
        .as_object()
        .unwrap()
        .values()
        .all(|p| p == 160));
    assert_eq!(v["shards"][0]["connected"], true);
    let (status, _) = http(admin, "GET", "/health").await;
    assert_eq!(status, 200);
    let (_, metrics) = http(admin, "GET", "/metrics").await;
    assert!(
        metrics.contains("shardcache_proxy_backend_requests_total{pool=\"main\""),
        "{metrics}"
    );
    assert!(metrics.contains("shardcache_proxy_backend_latency_seconds_bucket"));

    // Clear by pattern: SCAN + UNLINK on every backend.
    let expected = keys.iter().filter(|k| k.starts_with("gw:1")).count();
    let (status, body) = http(admin, "POST", "/api/cache/clear?pattern=gw:1*").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cleared"], expected as i64);
    assert_eq!(v["pattern"], "gw:1*");
    assert_eq!(v["shards_cleared"], 2);
    assert_eq!(
        c.run("DBSIZE").await,
        Frame::Integer((300 - expected) as i64)
    );

    // Reload with a third server: only keys the ring gives to it move.
    let before = proxy.pools()[0].ring();
    std::fs::write(&file, pool_yaml("main", "  hash: md5\n", &three)).unwrap();
    let (status, body) = http(admin, "POST", "/api/proxy/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"changed\":[\"main\"]"), "{body}");
    let after = proxy.pools()[0].ring();
    let moved: Vec<&String> = keys
        .iter()
        .filter(|k| before.pick(k.as_bytes()) != after.pick(k.as_bytes()))
        .collect();
    assert!(moved.iter().all(|k| after.pick(k.as_bytes()) == Some(2)));
    assert!(!moved.is_empty() && moved.len() < 200, "{}", moved.len());
    // The running connection uses the new ring at its next command.
    c.cmd(&["SET", moved[0], "new"]).await;
    assert!(keys_on(ports[2])
        .await
        .contains(&moved[0].as_bytes().to_vec()));

    // A new listen address cannot be taken while running: the reload says so (the rest
    // of the file is applied) and the pool keeps serving where it was.
    let moved_listen =
        pool_yaml("main", "  hash: md5\n", &three).replace("127.0.0.1:0", "127.0.0.1:1");
    std::fs::write(&file, moved_listen).unwrap();
    let (status, body) = http(admin, "POST", "/api/proxy/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("listen changed from 127.0.0.1:0 to 127.0.0.1:1") && body.contains("restart"),
        "{body}"
    );
    assert_eq!(c.run("PING").await, Frame::Simple("PONG".into()));

    // A broken file is refused with its line, and the running config stays.
    std::fs::write(
        &file,
        "main:\n  listen: 127.0.0.1:0\n  hash: nope\n  servers:\n   - 127.0.0.1:1:1\n",
    )
    .unwrap();
    let (status, body) = http(admin, "POST", "/api/proxy/reload").await;
    assert_eq!(status, 400);
    assert!(body.contains("line 3"), "{body}");
    assert_eq!(proxy.pools()[0].backends.len(), 3);
}

/// A backend that accepts but never answers: requests fail after `timeout`, not hang.
#[tokio::test]
async fn a_silent_backend_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let (addrs, _) = start_proxy(&pool_yaml(
        "p",
        "  timeout: 200\n",
        &[format!("127.0.0.1:{port}:1")],
    ))
    .await;
    let mut c = Client::connect(addrs[0]).await;
    let started = Instant::now();
    let r = c.run("GET k").await;
    assert!(
        matches!(&r, Frame::Error(e) if e.contains("timed out")),
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// `redis_auth` and `redis_db` are sent to the backends on connect.
#[tokio::test]
async fn backends_get_redis_auth_and_db() {
    let ports = free_ports(2);
    let _backends: Vec<Redis> = ports
        .iter()
        .map(|p| Redis::start_with(*p, &["--requirepass", "backendpw"]))
        .collect();
    let servers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:1")).collect();
    let extra = "  hash: md5\n  redis_auth: backendpw\n  redis_db: 3\n";
    let (addrs, _) = start_proxy(&pool_yaml("p", extra, &servers)).await;
    let mut c = Client::connect(addrs[0]).await;
    assert_eq!(c.run("SET k v").await, Frame::Simple("OK".into()));
    assert_eq!(c.run("GET k").await, bulk("v"));
    // The key is in db 3 of its backend.
    let mut found = 0;
    for p in &ports {
        let mut b = Client::connect(SocketAddr::from(([127, 0, 0, 1], *p))).await;
        b.run("AUTH backendpw").await;
        b.run("SELECT 3").await;
        if let Frame::Integer(n) = b.run("EXISTS k").await {
            found += n;
        }
    }
    assert_eq!(found, 1);
}

/// A backend that answers garbage: a clear error, and the proxy keeps serving.
#[tokio::test]
async fn a_backend_answering_garbage_gets_a_clear_error() {
    let bad = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = bad.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in bad.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"?garbage\r\n");
        }
    });
    let (addrs, _) = start_proxy(&pool_yaml(
        "p",
        "  timeout: 1000\n",
        &[format!("127.0.0.1:{port}:1")],
    ))
    .await;
    let mut c = Client::connect(addrs[0]).await;
    for _ in 0..3 {
        let r = c.run("GET k").await;
        assert!(
            matches!(&r, Frame::Error(e) if e.contains("invalid reply")),
            "{r:?}"
        );
    }
    assert_eq!(c.run("PING").await, Frame::Simple("PONG".into()));
}

/// The admin API needs credentials once a pool has a password or a token is set:
/// `Basic default:<requirepass>` or `Bearer <token>`; /health stays open.
#[tokio::test]
async fn admin_api_needs_credentials_when_the_proxy_has_a_password() {
    let ports = free_ports(1);
    let _backend = Redis::start_with(ports[0], &[]);
    let servers = vec![format!("127.0.0.1:{}:1", ports[0])];
    let yaml = pool_yaml("main", "  hash: md5\n  requirepass: pw\n", &servers);
    let proxy = Proxy::new(parse_yaml(&yaml).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = a.local_addr().unwrap();
    let admin = proxy::admin::Admin {
        token: Some("t0ken".into()),
        ..Default::default()
    };
    tokio::spawn(proxy::run_with_listeners(
        proxy.clone(),
        vec![l],
        Some((a, admin)),
        std::future::pending(),
    ));
    let get = |auth: Option<&'static str>| async move {
        let mut s = TcpStream::connect(admin_addr).await.unwrap();
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let req = format!(
            "GET /api/cache/stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8_lossy(&raw)[9..12].parse::<u16>().unwrap()
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("Basic ZGVmYXVsdDpwdw==")).await, 200); // default:pw
    assert_eq!(get(Some("Basic ZGVmYXVsdDpiYWQ=")).await, 401); // default:bad
    assert_eq!(get(Some("Bearer t0ken")).await, 200);
    assert_eq!(get(Some("Bearer nope")).await, 401);
    assert_eq!(http(admin_addr, "GET", "/health").await.0, 200);
}
