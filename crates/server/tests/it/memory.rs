//! Eviction policies and memory reporting over real sockets. (Tests that depend on how
//! much memory the node holds run against the binary in its own process, in
//! `crates/shardcache/tests/memory.rs`: jemalloc's counters are per process.)

use resp::Frame;

use crate::support::{bulk, err, simple, Node, RawClient, RedisServer};

async fn fill(
    c: &mut RawClient,
    prefix: &str,
    n: usize,
    value_len: usize,
    extra: &[&str],
) -> Vec<Frame> {
    let mut wire = Vec::new();
    let value = "v".repeat(value_len);
    for i in 0..n {
        let key = format!("{prefix}:{i}");
        let mut args = vec!["SET", key.as_str(), value.as_str()];
        args.extend_from_slice(extra);
        resp::request::encode_command(&args, &mut wire);
    }
    c.send_raw(&wire).await;
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        replies.push(c.read().await.unwrap());
    }
    replies
}

#[tokio::test]
async fn noeviction_and_volatile_without_ttl_keys_refuse_writes() {
    for policy in ["noeviction", "volatile-lru", "volatile-ttl"] {
        let node = Node::start().await;
        let mut c = node.client().await;
        fill(&mut c, "k", 20_000, 100, &[]).await;
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]).await,
            simple("OK")
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "maxmemory", "1mb"]).await,
            simple("OK")
        );
        assert_eq!(
            c.run("SET another value").await,
            err("OOM command not allowed when used memory > 'maxmemory'."),
            "{policy}"
        );
        assert_eq!(
            c.run("GET k:1").await,
            bulk(&"v".repeat(100)),
            "reads still work under {policy}"
        );
    }
}

#[tokio::test]
async fn lfu_policy_object_freq_and_idletime_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for c in [&mut ours, &mut theirs] {
        c.run("CONFIG SET maxmemory-policy allkeys-lfu").await;
        c.run("SET k v").await;
    }
    for cmd in [
        "OBJECT FREQ k",
        "GET k",
        "OBJECT FREQ k",
        "OBJECT IDLETIME k",
        "OBJECT FREQ missing",
    ] {
        assert_eq!(ours.run(cmd).await, theirs.run(cmd).await, "{cmd}");
    }
    for c in [&mut ours, &mut theirs] {
        c.run("CONFIG SET maxmemory-policy allkeys-lru").await;
    }
    // Back under LRU, FREQ is refused again (IDLETIME reads LFU data as a clock for a
    // while on both servers, as Redis documents, so it is not compared).
    assert_eq!(
        ours.run("OBJECT FREQ k").await,
        theirs.run("OBJECT FREQ k").await
    );
}

#[tokio::test]
async fn memory_stats_and_usage() {
    let node = Node::start().await;
    let mut c = node.client().await;
    fill(&mut c, "k", 1000, 32, &[]).await;
    let Frame::Array(stats) = c.run("MEMORY STATS").await else {
        panic!("MEMORY STATS must be a map")
    };
    assert_eq!(stats.len(), 56, "28 fields");
    let field = |name: &str| {
        let i = stats
            .iter()
            .position(|f| *f == bulk(name))
            .unwrap_or_else(|| panic!("{name}"));
        stats[i + 1].clone()
    };
    assert_eq!(field("keys.count"), Frame::Integer(1000));
    let Frame::Integer(dataset) = field("dataset.bytes") else {
        panic!()
    };
    assert!(dataset > 1000 * 48, "{dataset}");
    let Frame::Integer(usage) = c.run("MEMORY USAGE k:1").await else {
        panic!()
    };
    assert!(
        (48..=96).contains(&usage),
        "a 10-byte key with a 32-byte value costs {usage}"
    );
    c.run("HELLO 3").await;
    assert!(matches!(c.run("MEMORY STATS").await, Frame::Map(m) if m.len() == 28));
}

/// MEMORY DOCTOR (Redis's texts: an empty instance, and the report over a dataset), PURGE,
/// MALLOC-STATS (jemalloc's own report) and HELP against redis-server.
#[tokio::test]
async fn memory_doctor_purge_malloc_stats_and_help() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in ["MEMORY HELP", "MEMORY PURGE", "MEMORY DOCTOR extra"] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    // The report depends on this process's memory figures (every test node shares the
    // allocator here), so only its form is checked: one of Redis's three.
    let empty = theirs.run("MEMORY DOCTOR").await.as_text().unwrap();
    assert!(
        empty.starts_with("Hi Sam, this instance is empty"),
        "{empty}"
    );
    fill(&mut ours, "k", 50_000, 100, &[]).await;
    let report = ours.run("MEMORY DOCTOR").await.as_text().unwrap();
    assert!(
        report.starts_with("Hi Sam, I can't find any memory issue")
            || report == empty
            || (report.starts_with("Sam, I detected a few issues")
                && report.ends_with("I'm here to keep you safe, Sam. I want to help you.\n")),
        "{report}"
    );
    assert_eq!(ours.run("MEMORY PURGE").await, Frame::Simple("OK".into()));
    let stats = ours.run("MEMORY MALLOC-STATS").await.as_text().unwrap();
    assert!(
        stats.starts_with("___ Begin jemalloc statistics ___"),
        "{stats}"
    );
    assert!(
        stats.contains("--- End jemalloc statistics ---"),
        "{}",
        &stats[stats.len().saturating_sub(200)..]
    );
}
