//! maxmemory and eviction against the real binary: a process of its own, so the memory it
//! counts is only its own.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::spawn_on_free_port;

struct Node {
    child: Child,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Node {
    fn start(args: &[&str]) -> Node {
        let (child, port, _log) = spawn_on_free_port(args);
        Node::connect(child, port)
    }

    fn connect(child: Child, port: u16) -> Node {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                break s;
            }
            assert!(Instant::now() < deadline, "node did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Node {
            child,
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, cmds: &[Vec<String>]) {
        let mut wire = Vec::new();
        for c in cmds {
            resp_encode(c, &mut wire);
        }
        self.writer.write_all(&wire).unwrap();
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let body = line[1..].trim_end().to_string();
        match &line[..1] {
            "+" => Reply::Status(body),
            "-" => Reply::Error(body),
            ":" => Reply::Int(body.parse().unwrap()),
            "$" => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut buf = vec![0; n as usize + 2];
                std::io::Read::read_exact(&mut self.reader, &mut buf).unwrap();
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
            "*" => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            other => panic!("unexpected reply type {other}"),
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send(&[args.iter().map(|s| s.to_string()).collect()]);
        self.read()
    }

    fn info(&mut self, field: &str) -> u64 {
        let Reply::Bulk(Some(text)) = self.cmd(&["INFO", "everything"]) else {
            panic!()
        };
        String::from_utf8(text)
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{field}:"))
                    .map(|v| v.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {field}"))
    }

    /// Pipelines SETs of `n` keys `prefix:i` with 100-byte values; returns the replies.
    fn fill(&mut self, prefix: &str, n: usize, extra: &[&str]) -> Vec<Reply> {
        let value = "v".repeat(100);
        let cmds: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let mut c = vec!["SET".to_string(), format!("{prefix}:{i}"), value.clone()];
                c.extend(extra.iter().map(|s| s.to_string()));
                c
            })
            .collect();
        self.send(&cmds);
        (0..n).map(|_| self.read()).collect()
    }

    fn exists(&mut self, prefix: &str, n: usize) -> i64 {
        let mut args = vec!["EXISTS".to_string()];
        args.extend((0..n).map(|i| format!("{prefix}:{i}")));
        self.send(&[args]);
        match self.read() {
            Reply::Int(n) => n,
            other => panic!("{other:?}"),
        }
    }
}

fn resp_encode(args: &[String], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

#[test]
fn allkeys_lru_evicts_and_stays_within_maxmemory() {
    let max = 4 * 1024 * 1024;
    let mut node = Node::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    for round in 0..10 {
        let replies = node.fill(&format!("r{round}"), 5_000, &[]);
        assert!(
            replies.iter().all(|r| *r == Reply::Status("OK".into())),
            "every write succeeds"
        );
        let used = node.info("used_memory");
        // Writes evict first, leaving room for their own bytes; what can still push memory
        // over is one shard's table growing during a write and the non-keyspace overhead,
        // sampled every 100 ms, having grown since. Both are bounded by a few KB.
        let slack = 64 * 1024;
        assert!(
            used <= max + slack,
            "round {round}: used_memory {used} > maxmemory {max} + {slack}"
        );
    }
    assert!(node.info("evicted_keys") > 10_000);
    let Reply::Int(keys) = node.cmd(&["DBSIZE"]) else {
        panic!()
    };
    // ~140 bytes per key (117-byte entry in a 128-byte class, plus its slot).
    assert!(keys > 22_000 && keys < 32_000, "{keys} keys kept in 4 MB");
    assert_eq!(node.exists("r9", 1000), 1000, "the newest keys are kept");
}

#[test]
fn volatile_ttl_evicts_nearer_deadlines_first() {
    let mut node = Node::start(&[]);
    node.fill("keep", 2_000, &[]);
    node.fill("soon", 4_000, &["EX", "1000"]);
    node.fill("late", 4_000, &["EX", "100000"]);
    let used = node.info("used_memory");
    node.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-ttl"]);
    node.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        &(used - 400 * 1024).to_string(),
    ]);
    // Background eviction brings memory under the new limit without any write.
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.info("used_memory") > used - 400 * 1024 {
        assert!(
            Instant::now() < deadline,
            "background eviction did not reach the limit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        node.exists("keep", 2000),
        2000,
        "keys without a TTL are never evicted"
    );
    let soon = node.exists("soon", 4000);
    let late = node.exists("late", 4000);
    assert!(
        soon < 2000,
        "short-TTL keys were evicted ({soon} of 4000 left)"
    );
    // Sampling (as in Redis) may now and then pick a later deadline; nearly all go in order.
    assert!(
        (4000 - late) * 20 <= 4000 - soon,
        "{} later-deadline keys evicted for {} earlier",
        4000 - late,
        4000 - soon
    );
}

#[test]
fn resident_memory_at_maxmemory_stays_bounded() {
    let mut node = Node::start(&["--maxmemory", "16mb", "--maxmemory-policy", "allkeys-lru"]);
    let startup_rss = node.info("used_memory_rss");
    for round in 0..8 {
        node.fill(&format!("r{round}"), 20_000, &[]);
    }
    // Let the allocator hand back the pages of freed pipeline buffers (1 s decay).
    std::thread::sleep(Duration::from_millis(2500));
    let rss = node.info("used_memory_rss");
    let limit = startup_rss + 16 * 1024 * 1024 * 11 / 10;
    assert!(
        rss <= limit,
        "rss {rss} > startup {startup_rss} + 110% of maxmemory 16mb"
    );
}

/// A watched key evicted to make room aborts the transaction (eviction is a modification).
#[test]
fn watch_is_broken_by_eviction() {
    let mut node = Node::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    node.cmd(&["SET", "watched", "v"]);
    node.cmd(&["WATCH", "watched"]);
    let mut rounds = 0;
    loop {
        node.fill(&format!("fill{rounds}"), 20_000, &[]);
        rounds += 1;
        let Reply::Int(n) = node.cmd(&["EXISTS", "watched"]) else {
            panic!()
        };
        if n == 0 {
            break;
        }
        assert!(rounds < 20, "the watched key was never evicted");
    }
    assert!(node.info("evicted_keys") > 0);
    node.cmd(&["MULTI"]);
    node.cmd(&["PING"]);
    assert!(matches!(node.cmd(&["EXEC"]), Reply::Array(None)));
    // Without a watch, the same transaction runs.
    node.cmd(&["MULTI"]);
    node.cmd(&["PING"]);
    assert!(matches!(node.cmd(&["EXEC"]), Reply::Array(Some(_))));
}

/// The sequence: a 64 MB node full of 1 KB keys takes 512 SETs of 1 MB, one at a
/// time and then pipelined 500 deep. A sampler polls `used_memory` throughout: it never goes
/// above 1.25x the limit (every write evicts first until its own bytes fit), resident memory
/// settles within 2x the limit afterwards, and a value larger than maxmemory is refused.
#[test]
fn big_values_stay_within_maxmemory() {
    let max: u64 = 64 * 1024 * 1024;
    let (child, port, _log) = spawn_on_free_port(&[
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--threads",
        "1",
    ]);
    let mut node = Node::connect(child, port);
    let small = "x".repeat(1000);
    for chunk in 0..61 {
        let cmds: Vec<Vec<String>> = (0..1000)
            .map(|i| vec!["SET".into(), format!("small:{chunk}:{i}"), small.clone()])
            .collect();
        node.send(&cmds);
        for _ in 0..1000 {
            node.read();
        }
    }
    // Sample used_memory from another connection while the big writes run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
                    .unwrap();
                let mut len = String::new();
                r.read_line(&mut len).unwrap();
                let n: usize = len[1..].trim().parse().unwrap();
                let mut body = vec![0; n + 2];
                std::io::Read::read_exact(&mut r, &mut body).unwrap();
                let text = String::from_utf8_lossy(&body);
                let used: u64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("used_memory:"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                peak.fetch_max(used, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let big = "B".repeat(1024 * 1024);
    for i in 0..12 {
        assert_eq!(
            node.cmd(&["SET", &format!("big:one:{i}"), &big]),
            Reply::Status("OK".into())
        );
    }
    let one_at_a_time = peak.load(std::sync::atomic::Ordering::Relaxed);
    let cmds: Vec<Vec<String>> = (0..500)
        .map(|i| vec!["SET".into(), format!("big:piped:{i}"), big.clone()])
        .collect();
    node.send(&cmds);
    for _ in 0..500 {
        assert_eq!(node.read(), Reply::Status("OK".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let pipelined = peak.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "used_memory peak: {:.1} MB one at a time, {:.1} MB pipelined (limit 64 MB)",
        one_at_a_time as f64 / 1048576.0,
        pipelined as f64 / 1048576.0
    );
    assert!(pipelined <= max * 5 / 4, "peak {pipelined} > 1.25 x {max}");
    // A value larger than maxmemory is refused.
    let huge = "H".repeat(100 * 1024 * 1024);
    match node.cmd(&["SET", "huge", &huge]) {
        Reply::Error(e) => assert!(e.starts_with("OOM"), "{e}"),
        other => panic!("a 100 MB SET on a 64 MB node answered {other:?}"),
    }
    assert_eq!(node.cmd(&["EXISTS", "huge"]), Reply::Int(0));
    // Resident memory follows once the burst is over (freed pages go back after ~1 s).
    std::thread::sleep(Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut rss, mut used) = (u64::MAX, 0);
    while Instant::now() < deadline {
        rss = node.info("used_memory_rss");
        used = node.info("used_memory");
        if rss <= 2 * max {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "settled: used_memory {:.1} MB, rss {:.1} MB",
        used as f64 / 1048576.0,
        rss as f64 / 1048576.0
    );
    assert!(rss <= 2 * max, "rss {rss} > 2 x maxmemory after settling");
}
