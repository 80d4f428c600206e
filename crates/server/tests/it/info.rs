//! INFO against redis-server 7.0: every field Redis prints in a section the node prints too,
//! so monitoring that reads a field by name (redis_exporter, Datadog, `redis-cli --stat`)
//! finds it. Values are the node's own; only names and sections are compared here.

use resp::Frame;

use crate::support::{Node, RedisServer};

/// Field names of one INFO reply, section by section ("# Server" opens "server").
fn fields(reply: Frame) -> Vec<(String, String)> {
    let text = reply.as_text().expect("INFO answers a bulk string");
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix("# ") {
            section = name.to_ascii_lowercase();
        } else {
            let (name, _) = line.split_once(':').expect("field:value");
            out.push((section.clone(), name.to_string()));
        }
    }
    out
}

#[tokio::test]
async fn every_redis_field_is_present() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for c in [&mut ours, &mut theirs] {
        c.run("SET k v").await;
    }
    for section in [
        "",
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "keyspace",
    ] {
        let line = format!("INFO {section}");
        let (a, b) = (
            fields(ours.run(&line).await),
            fields(theirs.run(&line).await),
        );
        let missing: Vec<_> = b.iter().filter(|f| !a.contains(f)).collect();
        assert!(missing.is_empty(), "{line}: missing {missing:?}");
    }
}

#[tokio::test]
async fn stats_count_reads_writes_and_commands() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let value = |reply: Frame, name: &str| -> u64 {
        let text = reply.as_text().unwrap();
        let line = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} missing"));
        line.parse().unwrap()
    };
    let before = c.run("INFO stats").await;
    for _ in 0..10 {
        c.run("PING").await;
    }
    let after = c.run("INFO stats").await;
    for name in ["total_reads_processed", "total_writes_processed"] {
        let (b, a) = (value(before.clone(), name), value(after.clone(), name));
        assert!(a >= b + 10, "{name}: {b} -> {a}");
    }
}
