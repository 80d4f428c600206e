//! The node as a replica of a real redis-server 7.0 (REPLICAOF): full sync in both of
//! Redis's forms (a sized RDB from disk, the disk-less EOF-marker stream), the command stream
//! after it (non-deterministic commands arrive as their effects), partial resync after a
//! broken link, expiry decided by the primary, READONLY for the replica's own clients,
//! REPLICAOF NO ONE, and the errors of bad targets.
//!
//! Fault injected: the primary drops the replica's connection (CLIENT KILL TYPE replica).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use resp::Frame;
use server::Config;

use crate::support::{err, show, temp_dir, Node, RawClient, RedisServer};

/// A node whose snapshot files (the replica's temporary copy of the primary's) go to a
/// temporary directory.
async fn replica_node(tag: &str) -> Node {
    let config = Config {
        dir: temp_dir(tag),
        ..Config::default()
    };
    Node::start_with(config).await
}

/// A redis-server that syncs at once (no disk-less delay) and writes into a temp dir.
async fn primary(diskless: bool) -> RedisServer {
    let dir = temp_dir("redis");
    let redis = RedisServer::start_with(&["--dir", dir.to_str().unwrap()]).await;
    let mut c = redis.client().await;
    for line in [
        "CONFIG SET repl-diskless-sync-delay 0".to_string(),
        format!(
            "CONFIG SET repl-diskless-sync {}",
            if diskless { "yes" } else { "no" }
        ),
    ] {
        assert_eq!(c.run(&line).await, Frame::Simple("OK".into()), "{line}");
    }
    redis
}

fn info_field(info: &Frame, name: &str) -> Option<String> {
    let text = info.as_text()?;
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Waits until the replica's link is up and it has applied everything the primary sent.
async fn wait_in_sync(primary: &mut RawClient, replica: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ours = replica.run("INFO replication").await;
        let theirs = primary.run("INFO replication").await;
        let up = info_field(&ours, "master_link_status").as_deref() == Some("up");
        let (a, b) = (
            info_field(&ours, "slave_repl_offset"),
            info_field(&theirs, "master_repl_offset"),
        );
        if up && a.is_some() && a == b {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica never caught up: ours {ours:?}, primary {theirs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn text(f: &Frame) -> String {
    f.as_text().unwrap_or_else(|| format!("{f:?}"))
}

fn items(f: Frame) -> Vec<Frame> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v,
        Frame::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("not a collection: {other:?}"),
    }
}

/// Every key with its type, contents (unordered collections sorted) and whether it has a
/// TTL, as a client reads them.
async fn contents(c: &mut RawClient) -> BTreeMap<String, (String, Vec<String>, i64)> {
    let mut out = BTreeMap::new();
    let keys: Vec<String> = items(c.run("KEYS *").await).iter().map(text).collect();
    for k in keys {
        let t = text(&c.cmd(&["TYPE", &k]).await);
        let mut v: Vec<String> = match t.as_str() {
            "string" => vec![text(&c.cmd(&["GET", &k]).await)],
            "list" => items(c.cmd(&["LRANGE", &k, "0", "-1"]).await)
                .iter()
                .map(text)
                .collect(),
            "set" => items(c.cmd(&["SMEMBERS", &k]).await)
                .iter()
                .map(text)
                .collect(),
            "zset" => items(c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]).await)
                .iter()
                .map(text)
                .collect(),
            "hash" => {
                let flat: Vec<String> = items(c.cmd(&["HGETALL", &k]).await)
                    .iter()
                    .map(text)
                    .collect();
                flat.chunks(2)
                    .map(|p| format!("{}={}", p[0], p[1]))
                    .collect()
            }
            // Entries, then groups (names, last IDs, counters, lag) and their pending
            // summaries; no times (the two servers read their clocks at other instants).
            "stream" => {
                let mut v = vec![format!("{:?}", c.cmd(&["XRANGE", &k, "-", "+"]).await)];
                let groups = items(c.cmd(&["XINFO", "GROUPS", &k]).await);
                // Without `entries-read` and `lag`: a replica's read counter can be unknown
                // where its primary's is known (XCLAIM does not carry it), in Redis too.
                for g in &groups {
                    if let Frame::Array(f) = g {
                        let kept: Vec<String> = f
                            .chunks(2)
                            .filter(|kv| !matches!(text(&kv[0]).as_str(), "entries-read" | "lag"))
                            .map(|kv| format!("{}={:?}", text(&kv[0]), kv[1]))
                            .collect();
                        v.push(kept.join(","));
                    }
                }
                for g in groups {
                    let name = match &g {
                        Frame::Array(f) => text(&f[1]),
                        Frame::Map(f) => text(&f[0].1),
                        other => panic!("{other:?}"),
                    };
                    v.push(format!("{:?}", c.cmd(&["XPENDING", &k, &name]).await));
                }
                v
            }
            "none" => continue, // expired between KEYS and TYPE
            other => panic!("unexpected type {other}"),
        };
        if t == "set" || t == "hash" {
            v.sort();
        }
        let pttl = match c.cmd(&["PTTL", &k]).await {
            Frame::Integer(n) => n,
            other => panic!("{other:?}"),
        };
        // Only whether a TTL is set: the two servers read their clocks at other instants.
        out.insert(k, (t, v, pttl.signum()));
    }
    out
}

async fn assert_same_data(primary: &mut RawClient, replica: &mut RawClient) {
    wait_in_sync(primary, replica).await;
    let (a, b) = (contents(primary).await, contents(replica).await);
    assert_eq!(a.len(), b.len(), "key counts differ");
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "key {k} differs");
    }
}

/// Every type and encoding Redis 7.0 writes: small and big hashes, lists, sets (intset and
/// not), sorted sets, integer/short/long strings, keys with TTLs.
async fn dataset(c: &mut RawClient) {
    let mut lines: Vec<String> = vec![
        "SET int 12345".into(),
        "SET short hello".into(),
        format!("SET long {}", "x".repeat(300)),
        "SET ttl v EX 1000".into(),
        "HSET hsmall f1 v1 f2 v2".into(),
        "RPUSH lsmall a b c".into(),
        "SADD sint 1 2 3 -7 300000".into(),
        "SADD sstr a b c".into(),
        "ZADD zsmall 1 a 2.5 b -3 c".into(),
    ];
    let big_hash: Vec<String> = (0..600).map(|i| format!("f{i} v{i}")).collect();
    lines.push(format!("HSET hbig {}", big_hash.join(" ")));
    let big_list: Vec<String> = (0..300).map(|i| format!("e{i}")).collect();
    lines.push(format!("RPUSH lbig {}", big_list.join(" ")));
    let big_set: Vec<String> = (0..700).map(|i| i.to_string()).collect();
    lines.push(format!("SADD sbig {}", big_set.join(" ")));
    let big_zset: Vec<String> = (0..200).map(|i| format!("{i} m{i}")).collect();
    lines.push(format!("ZADD zbig {}", big_zset.join(" ")));
    lines.push("PEXPIRE hbig 500000".into());
    for i in 1..=120 {
        lines.push(format!("XADD stream {i}-0 f {i} g x{i}"));
    }
    lines.extend([
        "XDEL stream 7-0".into(),
        "XGROUP CREATE stream g1 0".into(),
        "XGROUP CREATE stream g2 $".into(),
        "XREADGROUP GROUP g1 alice COUNT 10 STREAMS stream >".into(),
        "XGROUP CREATECONSUMER stream g1 bob".into(),
    ]);
    for l in lines {
        let r = c.run(&l).await;
        assert!(!matches!(r, Frame::Error(_)), "{l}: {r:?}");
    }
}

/// Writes whose effect a replica must receive as the primary applied it: random pops,
/// float increments, relative expiries, a transaction, moves between keys.
const WORKLOAD: &[&str] = &[
    "INCR int",
    "INCRBYFLOAT fl 1.1",
    "INCRBYFLOAT fl 2.25",
    "HINCRBYFLOAT hsmall n 0.5",
    "APPEND short -world",
    "SETRANGE long 5 abc",
    "SET ex v EX 100",
    "SET px v PX 100000",
    "EXPIRE short 1000",
    "PERSIST ttl",
    "SPOP sstr",
    "SPOP sbig 5",
    "LPUSH lsmall z",
    "RPOP lbig",
    "LMOVE lsmall lbig LEFT RIGHT",
    "SMOVE sint sstr 300000",
    "ZINCRBY zsmall 2 a",
    "ZPOPMIN zbig 3",
    "HDEL hbig f1 f2",
    "DEL int",
    "RENAME lsmall lrenamed",
    "GETDEL long",
    "SINTERSTORE inter sint sbig",
    "MULTI",
    "SET t1 a",
    "INCR t2",
    "EXEC",
    "SETBIT bits 100 1",
    "PFADD hll a b c",
    "MSET m1 1 m2 2",
    "COPY m1 m3",
    "GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOSEARCHSTORE near geo FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "XADD stream * f auto",
    "XADD stream MAXLEN ~ 50 * f trimmed",
    "XADD stream2 NOMKSTREAM * f v",
    "XADD stream3 * f v",
    "XREADGROUP GROUP g1 bob COUNT 3 STREAMS stream >",
    "XREADGROUP GROUP g2 carol NOACK STREAMS stream >",
    "XACK stream g1 75-0",
    "XCLAIM stream g1 bob 0 80-0",
    "XCLAIM stream g1 dave 0 80-0 JUSTID FORCE",
    "XAUTOCLAIM stream g1 erin 0 0 COUNT 2",
    "XDEL stream 81-0",
    "XAUTOCLAIM stream g1 erin 0 0",
    "XGROUP SETID stream g2 100-0",
    "XGROUP DELCONSUMER stream g1 bob",
    "XTRIM stream MINID ~ 90",
    "XSETID stream3 99999999999999-0",
];

#[tokio::test]
async fn follows_redis_through_full_sync_stream_and_partial_resync() {
    let redis = primary(true).await;
    let node = replica_node("a").await;
    let (mut p, mut r) = (redis.client().await, node.client().await);
    dataset(&mut p).await;
    let target = format!("REPLICAOF 127.0.0.1 {}", redis.addr.port());
    assert_eq!(r.run(&target).await, Frame::Simple("OK".into()));
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(
        r.run(&target).await,
        Frame::Simple("OK Already connected to specified master".into())
    );

    for line in WORKLOAD {
        p.run(line).await;
    }
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(
        r.run("SET mine 1").await,
        err("READONLY You can't write against a read only replica.")
    );
    let role = items(r.run("ROLE").await);
    assert_eq!(text(&role[0]), "slave");
    assert_eq!(role[2], Frame::Integer(i64::from(redis.addr.port())));
    assert_eq!(text(&role[3]), "connected");

    // The primary drops the link; the replica resumes where it was (+CONTINUE).
    assert!(matches!(
        p.run("CLIENT KILL TYPE replica").await,
        Frame::Integer(1)
    ));
    for i in 0..50 {
        p.cmd(&["SET", &format!("after:{i}"), &i.to_string()]).await;
    }
    assert_same_data(&mut p, &mut r).await;
    let stats = p.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));

    // Expiry is the primary's: a key that expired there goes away on the replica too.
    p.run("SET soon v PX 50").await;
    wait_in_sync(&mut p, &mut r).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Expired by the replica's clock: hidden from its clients, not deleted by it.
    assert_eq!(r.run("GET soon").await, Frame::Null);
    assert_eq!(p.run("GET soon").await, Frame::Null); // the primary reclaims it: DEL
    assert_same_data(&mut p, &mut r).await;

    // Promoted: it keeps the data and takes writes; the old history is replid2.
    let before = info_field(&r.run("INFO replication").await, "master_replid").unwrap();
    assert_eq!(r.run("REPLICAOF NO ONE").await, Frame::Simple("OK".into()));
    assert_eq!(r.run("SET mine 1").await, Frame::Simple("OK".into()));
    let info = r.run("INFO replication").await;
    assert_eq!(info_field(&info, "role").as_deref(), Some("master"));
    assert_eq!(info_field(&info, "master_replid2"), Some(before));
    assert_eq!(text(&items(r.run("ROLE").await)[0]), "master");
    assert_eq!(r.run("GET after:7").await, Frame::Bulk(b"7".to_vec()));
}

#[tokio::test]
async fn full_sync_from_disk_and_with_a_password() {
    let redis = primary(false).await;
    let node = replica_node("b").await;
    let (mut p, mut r) = (redis.client().await, node.client().await);
    dataset(&mut p).await;
    p.run("CONFIG SET requirepass sesame").await;
    p.run("AUTH sesame").await;
    let target = format!("REPLICAOF 127.0.0.1 {}", redis.addr.port());
    r.run(&target).await;
    // Without the password the link stays down (and says so), the node keeps serving.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = r.run("INFO replication").await;
    assert_eq!(
        info_field(&info, "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(r.run("DBSIZE").await, Frame::Integer(0));
    assert_eq!(
        r.run("CONFIG SET masterauth sesame").await,
        Frame::Simple("OK".into())
    );
    assert_same_data(&mut p, &mut r).await;
    for line in WORKLOAD {
        p.run(line).await;
    }
    assert_same_data(&mut p, &mut r).await;
}

#[tokio::test]
async fn bad_targets_and_arguments() {
    let redis = RedisServer::start().await;
    let node = replica_node("c").await;
    let (mut theirs, mut ours) = (redis.client().await, node.client().await);
    // The same refusals as Redis for bad arguments, and for writes without enough replicas.
    for c in [&mut ours, &mut theirs] {
        c.run("CONFIG SET min-replicas-to-write 1").await;
    }
    for line in [
        "SET k v",
        "INCR n",
        "GET k",
        "CONFIG SET min-replicas-to-write 0",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    for line in [
        "REPLCONF listening-port",
        "REPLCONF listening-port 7000",
        "REPLCONF capa eof capa psync2",
        "REPLCONF nonsense 1",
        "REPLCONF listening-port notanumber",
        "WAIT 0 0",
        "WAIT 1 notanumber",
        "WAIT 1 -1",
        "WAIT x 0",
        "PSYNC ? notanumber",
        "REPLICAOF 127.0.0.1 notaport",
        "REPLICAOF 127.0.0.1 70000",
        "REPLICAOF 127.0.0.1",
        "SLAVEOF",
        "ROLE extra",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    assert_eq!(ours.run("ROLE").await, {
        let mut role = items(theirs.run("ROLE").await);
        role[1] = Frame::Integer(0);
        Frame::Array(role)
    });
    // Nothing listens there: the link stays down, retries, and the node serves.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    ours.run("SET k v").await;
    assert_eq!(
        ours.run(&format!("REPLICAOF 127.0.0.1 {port}")).await,
        Frame::Simple("OK".into())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = ours.run("INFO replication").await;
    assert_eq!(
        info_field(&info, "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(ours.run("GET k").await, Frame::Bulk(b"v".to_vec()));
    let role = items(ours.run("ROLE").await);
    assert_eq!(role[4], Frame::Integer(-1));
    // A replica without its primary's data cannot serve replicas of its own yet.
    theirs.run(&format!("REPLICAOF 127.0.0.1 {port}")).await;
    for line in ["PSYNC ? -1", "SYNC"] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    theirs.run("REPLICAOF NO ONE").await;
    // Something that is not Redis answers: an error for the link, never a crash.
    let junk = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let junk_port = junk.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = junk.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    ours.run(&format!("REPLICAOF 127.0.0.1 {junk_port}")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = ours.run("INFO replication").await;
    assert_eq!(
        info_field(&info, "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(ours.run("PING").await, Frame::Simple("PONG".into()));
    assert_eq!(
        ours.run("REPLICAOF NO ONE").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(ours.run("GET k").await, Frame::Bulk(b"v".to_vec()));
}

#[tokio::test]
async fn writes_to_other_databases_are_passed_over() {
    let dir = temp_dir("redis16");
    let redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--databases", "16"]).await;
    let node = replica_node("d").await;
    let (mut p, mut r) = (redis.client().await, node.client().await);
    p.run("CONFIG SET repl-diskless-sync-delay 0").await;
    p.run("SELECT 2").await;
    p.run("SET in-db-2-before v").await;
    p.run("SELECT 0").await;
    p.run("SET in-db-0-before v").await;
    r.run(&format!("REPLICAOF 127.0.0.1 {}", redis.addr.port()))
        .await;
    wait_in_sync(&mut p, &mut r).await;
    let mut other = redis.client().await;
    other.run("SELECT 3").await;
    other.run("SET in-db-3 v").await;
    other.run("HSET h-db-3 f v").await;
    p.run("SET in-db-0-after v").await;
    wait_in_sync(&mut p, &mut r).await;
    let mut keys: Vec<String> = items(r.run("KEYS *").await).iter().map(text).collect();
    keys.sort();
    assert_eq!(keys, ["in-db-0-after", "in-db-0-before"]);
}

/// The node as a primary: a real redis-server 7.0 replicates from it — full sync (our RDB),
/// the stream with every non-deterministic command as its effect, blocked clients served,
/// expiry as DEL, a transaction as MULTI/EXEC, WAIT, and a partial resync after the replica's
/// link is cut (fault injected: the replica kills its master link).
#[tokio::test]
async fn redis_replicates_from_the_node() {
    let node = replica_node("p").await;
    let mut p = node.client().await;
    dataset(&mut p).await;
    let dir = temp_dir("redis-replica");
    let target = format!("127.0.0.1 {}", node.addr.port());
    let redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &target]).await;
    let mut r = redis.client().await;
    assert_same_data(&mut p, &mut r).await;
    let info = p.run("INFO replication").await;
    assert_eq!(info_field(&info, "connected_slaves").as_deref(), Some("1"));
    assert_eq!(
        info_field(&info, "repl_backlog_active").as_deref(),
        Some("1")
    );

    for line in WORKLOAD {
        p.run(line).await;
    }
    // A client blocked on an empty list, served by another client's push.
    let mut blocked = node.client().await;
    blocked.send(&["BLPOP", "queue", "0"]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.run("RPUSH queue job1 job2").await;
    assert_eq!(
        blocked.read().await,
        Some(Frame::Array(vec![
            Frame::Bulk(b"queue".to_vec()),
            Frame::Bulk(b"job1".to_vec())
        ]))
    );
    // A group reader blocked on a stream, served by another client's XADD: the replica
    // gets the entry and the pending record the read made.
    p.run("XGROUP CREATE stream gz $").await;
    blocked
        .send(&[
            "XREADGROUP",
            "GROUP",
            "gz",
            "zed",
            "BLOCK",
            "0",
            "STREAMS",
            "stream",
            ">",
        ])
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.run("XADD stream * f for-zed").await;
    let served = blocked.read().await.unwrap();
    fn has(f: &Frame, s: &[u8]) -> bool {
        match f {
            Frame::Bulk(b) => b == s,
            Frame::Array(items) => items.iter().any(|i| has(i, s)),
            _ => false,
        }
    }
    assert!(has(&served, b"for-zed"), "{served:?}");
    p.run("MULTI").await;
    p.run("SPOP sbig").await;
    p.run("INCRBYFLOAT fl 0.25").await;
    p.run("EXEC").await;
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(p.run("WAIT 1 5000").await, Frame::Integer(1));
    assert_eq!(p.run("WAIT 2 100").await, Frame::Integer(1));

    // Expiry is decided here and reaches the replica as DEL.
    p.run("SET soon v PX 30").await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(p.run("GET soon").await, Frame::Null);
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(r.run("EXISTS soon").await, Frame::Integer(0));

    // The replica's link breaks; it continues from its offset.
    r.run("CLIENT KILL TYPE master").await;
    for i in 0..20 {
        p.cmd(&["SET", &format!("later:{i}"), "v"]).await;
    }
    assert_same_data(&mut p, &mut r).await;
    let stats = p.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    let role = items(p.run("ROLE").await);
    assert_eq!(text(&role[0]), "master");
    assert_eq!(items(role[2].clone()).len(), 1);
}

/// A client-side view of a replica's link: `laddr` of its master client (the address its
/// primary sees it from, for CLIENT KILL ADDR there).
async fn master_link_addr(replica: &mut RawClient) -> String {
    let list = text(&replica.run("CLIENT LIST TYPE master").await);
    list.split(' ')
        .find_map(|f| f.strip_prefix("laddr="))
        .unwrap_or_else(|| panic!("no laddr in {list:?}"))
        .to_string()
}

/// Chained replication: redis-server → node → {redis-server, node}. The replicas of the
/// replica get the top primary's stream byte for byte (same replication id and offsets as
/// the top), and continue with a partial resync when their link to the middle breaks
/// (fault injected: the middle node drops its replicas' links).
#[tokio::test]
async fn replicas_of_a_replica_follow_the_top_primary() {
    let top = primary(true).await;
    let mut t = top.client().await;
    dataset(&mut t).await;
    let middle = replica_node("mid").await;
    let mut m = middle.client().await;
    m.run(&format!("REPLICAOF 127.0.0.1 {}", top.addr.port()))
        .await;
    assert_same_data(&mut t, &mut m).await;
    let leaf_node = replica_node("leaf").await;
    let mut ln = leaf_node.client().await;
    ln.run(&format!("REPLICAOF 127.0.0.1 {}", middle.addr.port()))
        .await;
    let dir = temp_dir("redis-leaf");
    let from_middle = format!("127.0.0.1 {}", middle.addr.port());
    let leaf_redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &from_middle])
            .await;
    let mut lr = leaf_redis.client().await;
    for line in WORKLOAD {
        t.run(line).await;
    }
    assert_same_data(&mut t, &mut lr).await;
    assert_same_data(&mut t, &mut ln).await;
    // The leaves are in the top's history, at its offsets.
    let top_info = t.run("INFO replication").await;
    for leaf in [&mut lr, &mut ln] {
        let info = leaf.run("INFO replication").await;
        assert_eq!(
            info_field(&info, "master_replid"),
            info_field(&top_info, "master_replid")
        );
    }
    let info = m.run("INFO replication").await;
    assert_eq!(info_field(&info, "connected_slaves").as_deref(), Some("2"));
    assert_eq!(info_field(&info, "role").as_deref(), Some("slave"));

    // Links to the middle break; both leaves continue from where they were.
    assert_eq!(m.run("CLIENT KILL TYPE replica").await, Frame::Integer(2));
    for i in 0..50 {
        t.cmd(&["SET", &format!("after-cut:{i}"), "v"]).await;
    }
    t.run("INCR after-cut:counter").await;
    assert_same_data(&mut t, &mut lr).await;
    assert_same_data(&mut t, &mut ln).await;
    let stats = m.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("2"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("2"));
    assert_eq!(
        ln.run("GET after-cut:counter").await,
        Frame::Bulk(b"1".to_vec())
    );
}

/// PSYNC2 after a promotion: a replica that lagged behind its sibling when the sibling was
/// promoted continues from the sibling's relayed backlog (`+CONTINUE`), not with a full
/// resync. Fault injected: the lagging replica (a redis-server) is put to sleep and its
/// link cut by the primary; the writes it missed happen before the promotion.
#[tokio::test]
async fn a_promoted_replica_lets_a_lagging_sibling_continue() {
    let p_node = replica_node("pp").await;
    let mut p = p_node.client().await;
    dataset(&mut p).await;
    let a_node = replica_node("pa").await;
    let mut a = a_node.client().await;
    a.run(&format!("REPLICAOF 127.0.0.1 {}", p_node.addr.port()))
        .await;
    let dir = temp_dir("redis-sibling");
    let from_p = format!("127.0.0.1 {}", p_node.addr.port());
    let b_redis = RedisServer::start_with(&[
        "--dir",
        dir.to_str().unwrap(),
        "--replicaof",
        &from_p,
        "--enable-debug-command",
        "yes",
    ])
    .await;
    let mut b = b_redis.client().await;
    assert_same_data(&mut p, &mut a).await;
    assert_same_data(&mut p, &mut b).await;

    let b_link = master_link_addr(&mut b).await;
    let mut sleeper = b_redis.client().await;
    sleeper.send(&["DEBUG", "SLEEP", "3"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        p.run(&format!("CLIENT KILL ADDR {b_link}")).await,
        Frame::Integer(1)
    );
    for i in 0..100 {
        p.cmd(&["SET", &format!("missed:{i}"), "v"]).await;
    }
    p.run("INCR missed:counter").await;
    wait_in_sync(&mut p, &mut a).await;
    assert_eq!(a.run("REPLICAOF NO ONE").await, Frame::Simple("OK".into()));
    a.run("SET on-the-new-primary 1").await;
    // Queued while b sleeps: it switches to a before it could reconnect to p.
    b.send(&["REPLICAOF", "127.0.0.1", &a_node.addr.port().to_string()])
        .await;
    assert_eq!(b.read().await, Some(Frame::Simple("OK".into())));
    assert_same_data(&mut a, &mut b).await;
    assert_eq!(
        b.run("GET missed:counter").await,
        Frame::Bulk(b"1".to_vec())
    );
    assert_eq!(
        b.run("GET on-the-new-primary").await,
        Frame::Bulk(b"1".to_vec())
    );
    let stats = a.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("0"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    // b never went back to p: what it missed came from a's relayed backlog.
    let stats = p.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("0"));
}

/// Writes `SET w:<i % 256> <1 KB>`, about 3 MB/s (32 writes every 10 ms: a steady load a
/// replica keeps up with), until `stop` is set (the key count stays small, so snapshots
/// keep their length); how many it wrote.
fn spawn_writer(
    mut c: RawClient,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let value = "x".repeat(1024);
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for _ in 0..32 {
                c.send(&["SET", &format!("w:{}", n % 256), &value]).await;
                n += 1;
            }
            for _ in 0..32 {
                let r = c.read().await;
                assert_eq!(r, Some(Frame::Simple("OK".into())));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        n
    })
}

/// A full resync under writes heavier than the replica output limit allows to keep: a
/// node replica takes the snapshot on a channel of its own and the stream at once on its
/// main link (dual channel), so one sync is enough; a redis-server replica, which takes the
/// stream only after the snapshot, is cut off at the limit and must sync again (as with a
/// redis-server primary). Fault injected: `rdb-key-save-delay` makes the snapshot last ~1.5 s
/// while a client writes ~3 MB/s; the replica limit is 256 KB.
#[tokio::test]
async fn a_dual_channel_sync_keeps_up_where_the_classic_one_is_cut_off() {
    let p_node = replica_node("dual-p").await;
    let mut p = p_node.client().await;
    assert_eq!(
        p.run("DEBUG POPULATE 3000 key 100").await,
        Frame::Simple("OK".into())
    );
    for line in [
        "CONFIG SET rdb-key-save-delay 500",
        "CONFIG SET repl-backlog-size 16kb",
    ] {
        assert_eq!(p.run(line).await, Frame::Simple("OK".into()), "{line}");
    }
    assert_eq!(
        p.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 256kb 0 0"
        ])
        .await,
        Frame::Simple("OK".into())
    );
    let stat = |info: &Frame, name: &str| -> u64 {
        info_field(info, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {info:?}"))
    };
    let link_up = |info: &Frame| info_field(info, "master_link_status").as_deref() == Some("up");

    // Dual channel: one sync, nothing cut off.
    let b_node = replica_node("dual-b").await;
    let mut b = b_node.client().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = spawn_writer(p_node.client().await, stop.clone());
    b.run(&format!("REPLICAOF 127.0.0.1 {}", p_node.addr.port()))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !link_up(&b.run("INFO replication").await) {
        assert!(
            Instant::now() < deadline,
            "the dual-channel sync never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert_same_data(&mut p, &mut b).await;
    let stats = p.run("INFO stats").await;
    assert_eq!(stat(&stats, "sync_full"), 1);
    assert_eq!(stat(&stats, "client_output_buffer_limit_disconnections"), 0);
    let kept = stat(
        &b.run("INFO replication").await,
        "replica_full_sync_buffer_peak",
    );
    assert!(
        kept > 256 << 10,
        "the stream kept during the load ({kept} bytes, {written} writes) was under the limit: the test proves nothing"
    );
    assert_eq!(
        stat(&p.run("INFO replication").await, "connected_slaves"),
        1
    );

    // Classic (a redis-server replica): the stream waits on the primary behind the
    // snapshot, passes the limit, the link is cut and the replica syncs again.
    let dir = temp_dir("redis-classic");
    let from_p = format!("127.0.0.1 {}", p_node.addr.port());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = spawn_writer(p_node.client().await, stop.clone());
    let r_redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &from_p]).await;
    let mut r = r_redis.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat(
        &p.run("INFO stats").await,
        "client_output_buffer_limit_disconnections",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the classic sync was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    // Once the writes stop, a sync gets through.
    assert_same_data(&mut p, &mut r).await;
    assert!(stat(&p.run("INFO stats").await, "sync_full") >= 2);
    assert_same_data(&mut p, &mut b).await;
}

/// Disk-less full sync (`repl-diskless-sync yes`, the default): the snapshot goes from
/// memory to the replica, so a primary whose disk is gone still syncs replicas; with
/// `repl-diskless-sync no` the snapshot goes through a file and cannot. Fault injected: the
/// primary's `dir` is deleted.
#[tokio::test]
async fn a_diskless_sync_needs_no_disk() {
    let node = replica_node("diskless-p").await;
    let mut p = node.client().await;
    dataset(&mut p).await;
    let gone = temp_dir("diskless-gone");
    assert_eq!(
        p.cmd(&["CONFIG", "SET", "dir", gone.to_str().unwrap()])
            .await,
        Frame::Simple("OK".into())
    );
    std::fs::remove_dir_all(&gone).unwrap();
    let from_p = format!("127.0.0.1 {}", node.addr.port());
    let dir = temp_dir("redis-diskless");
    let redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &from_p]).await;
    let mut r = redis.client().await;
    assert_same_data(&mut p, &mut r).await;
    // A node replica too (its snapshot channel says capa eof).
    let b_node = replica_node("diskless-b").await;
    let mut b = b_node.client().await;
    b.run(&format!("REPLICAOF 127.0.0.1 {}", node.addr.port()))
        .await;
    assert_same_data(&mut p, &mut b).await;

    // Through a file, the same sync fails while the disk is gone.
    p.run("CONFIG SET repl-diskless-sync no").await;
    let dir2 = temp_dir("redis-disk");
    let redis2 =
        RedisServer::start_with(&["--dir", dir2.to_str().unwrap(), "--replicaof", &from_p]).await;
    let mut r2 = redis2.client().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info = r2.run("INFO replication").await;
    assert_eq!(
        info_field(&info, "master_link_status").as_deref(),
        Some("down"),
        "{}",
        text(&info)
    );
    std::fs::create_dir_all(&gone).unwrap();
    assert_same_data(&mut p, &mut r2).await;
}

/// `redis-cli --rdb` (REPLCONF rdb-only, then SYNC) gets the snapshot alone: a file
/// redis-server loads with the node's data, and the link is never counted as a replica.
#[tokio::test]
async fn redis_cli_rdb_takes_the_snapshot_alone() {
    let node = replica_node("cli-rdb").await;
    let mut c = node.client().await;
    dataset(&mut c).await;
    let dir = temp_dir("cli-rdb-out");
    let file = dir.join("dump.rdb");
    let out = tokio::process::Command::new(crate::support::redis_tool("redis-cli"))
        .args(["-p", &node.addr.port().to_string(), "--rdb"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let redis = RedisServer::start_with(&["--dir", dir.to_str().unwrap()]).await;
    let mut r = redis.client().await;
    assert_eq!(contents(&mut r).await, contents(&mut c).await);
    let info = c.run("INFO replication").await;
    assert_eq!(info_field(&info, "connected_slaves").as_deref(), Some("0"));
    assert_eq!(
        c.run("REPLCONF rdb-only 2").await,
        r.run("REPLCONF rdb-only 2").await
    );
    assert_eq!(
        c.run("REPLCONF rdb-only x").await,
        r.run("REPLCONF rdb-only x").await
    );
}

/// Writes from several connections at once, on two workers, in pipelines mixing plain
/// writes, transactions and scripts, reach the replica in the order they took effect: the
/// replica's lists (order-sensitive) and counters equal the primary's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pipelined_writers_replicate_in_effect_order() {
    let p_node = Node::start_with(Config {
        dir: temp_dir("order-p"),
        threads: 2,
        ..Config::default()
    })
    .await;
    let b_node = replica_node("order-b").await;
    let mut p = p_node.client().await;
    let mut b = b_node.client().await;
    b.run(&format!("REPLICAOF 127.0.0.1 {}", p_node.addr.port()))
        .await;
    wait_in_sync(&mut p, &mut b).await;
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = p_node.client().await;
        writers.push(tokio::spawn(async move {
            for round in 0..150 {
                let id = format!("{w}:{round}");
                let batch: Vec<Vec<&str>> = vec![
                    vec!["RPUSH", "shared-list", &id],
                    vec!["INCR", "shared-counter"],
                    vec!["MULTI"],
                    vec!["LPUSH", "shared-list", &id],
                    vec!["SET", "last", &id],
                    vec!["EXEC"],
                    vec![
                        "EVAL",
                        "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('INCR', KEYS[2])",
                        "2",
                        "shared-list",
                        "shared-counter",
                        &id,
                    ],
                    vec!["APPEND", "shared-string", &id],
                ];
                for cmd in &batch {
                    c.send(cmd).await;
                }
                for cmd in &batch {
                    let r = c.read().await;
                    assert!(!matches!(r, Some(Frame::Error(_)) | None), "{cmd:?}: {r:?}");
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_same_data(&mut p, &mut b).await;
    assert_eq!(
        p.run("GET shared-counter").await,
        Frame::Bulk(b"1200".to_vec())
    );
}

/// Node to node, then a failover by hand: the replica is promoted and the old primary
/// follows it with a partial resync (PSYNC2: the new primary's previous history is the old
/// one's), not a full one.
#[tokio::test]
async fn node_replicates_from_node_and_fails_over_without_a_full_resync() {
    let (a, b) = (replica_node("na").await, replica_node("nb").await);
    let (mut pa, mut pb) = (a.client().await, b.client().await);
    dataset(&mut pa).await;
    pb.run(&format!("REPLICAOF 127.0.0.1 {}", a.addr.port()))
        .await;
    assert_same_data(&mut pa, &mut pb).await;
    for line in WORKLOAD {
        pa.run(line).await;
    }
    assert_same_data(&mut pa, &mut pb).await;
    assert_eq!(pa.run("WAIT 1 5000").await, Frame::Integer(1));

    // The links show in CLIENT LIST with Redis's flags, and CLIENT KILL of either end makes
    // the replica reconnect and continue (fault injected: each side drops the link once).
    let listed = |f: Frame| text(&f).lines().map(str::to_string).collect::<Vec<_>>();
    let replicas = listed(pa.run("CLIENT LIST TYPE replica").await);
    assert_eq!(replicas.len(), 1);
    assert!(replicas[0].contains(" flags=S "), "{replicas:?}");
    let masters = listed(pb.run("CLIENT LIST TYPE master").await);
    assert_eq!(masters.len(), 1);
    assert!(masters[0].contains(" flags=M "), "{masters:?}");
    assert_eq!(pa.run("CLIENT KILL TYPE replica").await, Frame::Integer(1));
    pa.run("SET after-kill-1 v").await;
    assert_same_data(&mut pa, &mut pb).await;
    assert_eq!(pb.run("CLIENT KILL TYPE master").await, Frame::Integer(1));
    pa.run("SET after-kill-2 v").await;
    assert_same_data(&mut pa, &mut pb).await;
    // The kill takes effect asynchronously (the write may still travel the old link): the
    // second partial resync is awaited rather than assumed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stats = loop {
        let stats = pa.run("INFO stats").await;
        if info_field(&stats, "sync_partial_ok").as_deref() == Some("2")
            || std::time::Instant::now() > deadline
        {
            break stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("2"));

    // min-replicas-to-write: writes need that many replicas that acknowledged lately.
    pa.run("CONFIG SET min-replicas-to-write 2").await;
    assert_eq!(
        pa.run("SET refused 1").await,
        err("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(
        info_field(&pa.run("INFO replication").await, "min_slaves_good_slaves").as_deref(),
        Some("1")
    );
    pa.run("CONFIG SET min-replicas-to-write 1").await;
    assert_eq!(pa.run("SET accepted 1").await, Frame::Simple("OK".into()));
    pa.run("CONFIG SET min-replicas-to-write 0").await;

    // Promote b once it has all of a's stream (else a holds bytes b lacks and PSYNC2 rightly
    // answers with a full resync); a follows it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let theirs = info_field(&pa.run("INFO replication").await, "master_repl_offset");
        let mine = info_field(&pb.run("INFO replication").await, "slave_repl_offset");
        if theirs.is_some() && theirs == mine {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "b never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pb.run("REPLICAOF NO ONE").await, Frame::Simple("OK".into()));
    pb.run("SET written-on-b 1").await;
    pa.run(&format!("REPLICAOF 127.0.0.1 {}", b.addr.port()))
        .await;
    assert_same_data(&mut pb, &mut pa).await;
    assert_eq!(pa.run("GET written-on-b").await, Frame::Bulk(b"1".to_vec()));
    let stats = pb.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("0"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    assert_eq!(
        pa.run("SET x 1").await,
        err("READONLY You can't write against a read only replica.")
    );
}

/// Scripts replicate as their effects (Redis 7's rule): redis-server following the node
/// ends with the same data, including what a script chose at random (SPOP, `math.random`)
/// and its TTLs, and a script's several writes arrive as one MULTI/EXEC. Writes made after
/// `redis.set_repl(redis.REPL_NONE)` stay on the primary.
#[tokio::test]
async fn scripts_replicate_their_effects() {
    let node = replica_node("ps").await;
    let mut p = node.client().await;
    let dir = temp_dir("redis-replica-s");
    let target = format!("127.0.0.1 {}", node.addr.port());
    let redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &target]).await;
    let mut r = redis.client().await;
    p.run("SADD s a b c d e f g h").await;
    assert_same_data(&mut p, &mut r).await;
    let scripts = [
        "redis.call('set','x','1') redis.call('incr','x') local m = redis.call('spop','s') \
         redis.call('set','popped', m) redis.call('expire','x', 100) return m",
        "redis.call('set','r', tostring(math.random())) \
         redis.call('rpush','l', tostring(math.random(1000)))",
        "redis.call('set','only','one')",
        "redis.set_repl(redis.REPL_NONE) redis.call('set','local','1') \
         redis.set_repl(redis.REPL_ALL) redis.call('set','shared','1')",
    ];
    for s in scripts {
        let reply = p.cmd(&["EVAL", s, "0"]).await;
        assert!(!matches!(reply, Frame::Error(_)), "{s}: {reply:?}");
    }
    let mut late = false;
    for _ in 0..200 {
        if r.run("EXISTS shared").await == Frame::Integer(1) {
            late = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(late, "the replica never got the script's effects");
    assert_eq!(r.run("EXISTS local").await, Frame::Integer(0));
    assert_eq!(p.run("EXISTS local").await, Frame::Integer(1));
    p.cmd(&[
        "EVAL",
        "redis.set_repl(redis.REPL_NONE) redis.call('del','local')",
        "0",
    ])
    .await;
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(p.run("SCARD s").await, Frame::Integer(7));

    // Function libraries reach the replica as the commands that made them; a function's
    // writes as their effects.
    let lib = "#!lua name=replicated\n\
               redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)\n\
               redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(
        p.cmd(&["FUNCTION", "LOAD", lib]).await,
        Frame::Bulk(b"replicated".to_vec())
    );
    assert_eq!(
        p.cmd(&["FCALL", "bump", "1", "fk"]).await,
        Frame::Integer(1)
    );
    assert_same_data(&mut p, &mut r).await;
    assert_eq!(
        r.cmd(&["FCALL_RO", "peek", "1", "fk"]).await,
        Frame::Bulk(b"1".to_vec())
    );
    p.run("FUNCTION DELETE replicated").await;
    wait_in_sync(&mut p, &mut r).await;
    assert_eq!(r.run("FUNCTION LIST").await, Frame::Array(vec![]));
}

/// A full sync from redis-server brings its function libraries (they are in the snapshot)
/// and a FUNCTION LOAD on the primary afterwards arrives through the stream.
#[tokio::test]
async fn a_replica_takes_its_primarys_functions() {
    let redis = primary(true).await;
    let mut p = redis.client().await;
    let lib = "#!lua name=fromredis\nredis.register_function{function_name='rget', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(
        p.cmd(&["FUNCTION", "LOAD", lib]).await,
        Frame::Bulk(b"fromredis".to_vec())
    );
    p.run("SET k v").await;
    let node = replica_node("fn").await;
    let mut r = node.client().await;
    r.run(&format!("REPLICAOF 127.0.0.1 {}", redis.addr.port()))
        .await;
    wait_in_sync(&mut p, &mut r).await;
    assert_eq!(
        r.cmd(&["FCALL_RO", "rget", "1", "k"]).await,
        Frame::Bulk(b"v".to_vec())
    );
    let later = "#!lua name=later\nredis.register_function{function_name='rlen', callback=function(keys) return redis.call('strlen', keys[1]) end, flags={'no-writes'}}";
    p.cmd(&["FUNCTION", "LOAD", later]).await;
    wait_in_sync(&mut p, &mut r).await;
    assert_eq!(
        r.cmd(&["FCALL_RO", "rlen", "1", "k"]).await,
        Frame::Integer(1)
    );
    // A function that may write does not start on a read-only replica.
    let writer = "#!lua name=w\nredis.register_function('wr', function() return 1 end)";
    p.cmd(&["FUNCTION", "LOAD", writer]).await;
    wait_in_sync(&mut p, &mut r).await;
    assert_eq!(
        r.cmd(&["FCALL", "wr", "0"]).await,
        err("READONLY You can't write against a read only replica.")
    );
}

/// `replica-read-only` (alias `slave-read-only`) and `replica-serve-stale-data` as Redis
/// applies them: writes allowed on a replica only when read-only is off; with the link down
/// and stale data refused, only `stale` commands (INFO, CONFIG, ...) answer.
#[tokio::test]
async fn replica_read_only_and_stale_data_settings_apply() {
    let redis = primary(true).await;
    let mut p = redis.client().await;
    p.run("SET k v").await;
    let node = replica_node("settings").await;
    let mut r = node.client().await;
    r.run(&format!("REPLICAOF 127.0.0.1 {}", redis.addr.port()))
        .await;
    wait_in_sync(&mut p, &mut r).await;
    assert_eq!(
        r.run("SET mine 1").await,
        err("READONLY You can't write against a read only replica.")
    );
    assert_eq!(
        r.run("CONFIG SET replica-read-only no").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(r.run("SET mine 1").await, Frame::Simple("OK".into()));
    assert_eq!(
        r.run("CONFIG SET slave-read-only yes").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.run("SET mine 2").await,
        err("READONLY You can't write against a read only replica.")
    );
    // The primary goes away: the link is down.
    drop(p);
    drop(redis);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&r.run("INFO replication").await, "master_link_status").as_deref()
        == Some("up")
    {
        assert!(Instant::now() < deadline, "the link never went down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        r.run("GET k").await,
        Frame::Bulk(b"v".to_vec()),
        "stale data served by default"
    );
    assert_eq!(
        r.run("CONFIG SET replica-serve-stale-data no").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.run("GET k").await,
        err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
    );
    // PING is not a `stale` command (as in Redis); INFO is.
    assert!(matches!(r.run("PING").await, Frame::Error(e) if e.starts_with("MASTERDOWN")));
    assert!(r.run("INFO replication").await.as_text().is_some());
    assert_eq!(
        r.run("CONFIG SET replica-serve-stale-data yes").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(r.run("GET k").await, Frame::Bulk(b"v".to_vec()));
}

/// Polls `c`'s ROLE until its first element is `role`.
async fn wait_role(c: &mut RawClient, role: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = items(c.run("ROLE").await);
        if text(&r[0]) == role {
            return;
        }
        assert!(Instant::now() < deadline, "never became {role}: {r:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// FAILOVER on the node, redis-server 7.0 its replica: writers are held while the replica
/// catches up, the replica is told (`PSYNC ... FAILOVER`) to promote itself, and the node
/// follows it with a partial resync. Every write a client saw acknowledged — before, during
/// (they wait, then get READONLY or were applied) — is on the new primary.
#[tokio::test]
async fn failover_hands_the_node_primary_role_to_a_redis_replica() {
    let node = replica_node("fo-p").await;
    let mut p = node.client().await;
    dataset(&mut p).await;
    let dir = temp_dir("fo-redis");
    let target = format!("127.0.0.1 {}", node.addr.port());
    let redis =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--replicaof", &target]).await;
    let mut r = redis.client().await;
    assert_same_data(&mut p, &mut r).await;

    // A writer keeps writing through the failover; it records what was acknowledged.
    let mut writer = node.client().await;
    let load = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..400 {
            let key = format!("w:{i}");
            match writer.cmd(&["SET", &key, "v"]).await {
                Frame::Simple(ok) if ok == "OK" => acked.push(key),
                Frame::Error(e) if e.starts_with("READONLY") => break,
                other => panic!("{other:?}"),
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        p.run(&format!("FAILOVER TO 127.0.0.1 {}", redis.addr.port()))
            .await,
        Frame::Simple("OK".into())
    );
    wait_role(&mut r, "master").await;
    wait_role(&mut p, "slave").await;
    let acked = load.await.unwrap();
    assert!(!acked.is_empty());
    for key in &acked {
        assert_eq!(
            r.cmd(&["EXISTS", key]).await,
            Frame::Integer(1),
            "{key} lost"
        );
    }
    // The node continued the shared history (no full resync), and now follows redis.
    r.run("SET after-failover 1").await;
    assert_same_data(&mut r, &mut p).await;
    let stats = r.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    assert_eq!(
        info_field(&p.run("INFO replication").await, "master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(
        p.run("SET x 1").await,
        err("READONLY You can't write against a read only replica.")
    );
}

/// FAILOVER on redis-server 7.0, the node its replica: the node promotes itself on
/// `PSYNC <replid> <offset> FAILOVER` and serves redis as its replica, continuing the
/// history.
#[tokio::test]
async fn failover_from_redis_promotes_the_node() {
    let redis = primary(true).await;
    let node = replica_node("fo-r").await;
    let (mut r, mut n) = (redis.client().await, node.client().await);
    dataset(&mut r).await;
    n.run(&format!("REPLICAOF 127.0.0.1 {}", redis.addr.port()))
        .await;
    assert_same_data(&mut r, &mut n).await;
    // Redis matches replicas by the address they announce; ours is 127.0.0.1.
    assert_eq!(r.run("FAILOVER").await, Frame::Simple("OK".into()));
    wait_role(&mut n, "master").await;
    wait_role(&mut r, "slave").await;
    n.run("SET on-node 1").await;
    assert_same_data(&mut n, &mut r).await;
    assert_eq!(r.run("GET on-node").await, Frame::Bulk(b"1".to_vec()));
    let stats = n.run("INFO stats").await;
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("0"));
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
}

/// FAILOVER between two nodes; then the refusals, word for word as redis-server's (a
/// redis-server with and without a replica beside our node in the same state), a timeout
/// that aborts when the replica cannot catch up, and ABORT.
#[tokio::test]
async fn failover_between_nodes_errors_and_aborts() {
    let (a, b) = (replica_node("fo-a").await, replica_node("fo-b").await);
    let (mut pa, mut pb) = (a.client().await, b.client().await);
    dataset(&mut pa).await;
    pb.run(&format!("REPLICAOF 127.0.0.1 {}", a.addr.port()))
        .await;
    assert_same_data(&mut pa, &mut pb).await;
    assert_eq!(
        pa.run("FAILOVER TIMEOUT 5000").await,
        Frame::Simple("OK".into())
    );
    wait_role(&mut pb, "master").await;
    wait_role(&mut pa, "slave").await;
    pb.run("SET on-b 1").await;
    assert_same_data(&mut pb, &mut pa).await;

    // The same refusals as redis-server: standalone with no replica, then as a replica.
    let lone = replica_node("fo-lone").await;
    // Both redis-servers keep their files in temporary directories (a replica saves the
    // snapshot it receives).
    let redis_dir = temp_dir("fo-redis-lone");
    let redis = RedisServer::start_with(&["--dir", redis_dir.to_str().unwrap()]).await;
    let (mut ours, mut theirs) = (lone.client().await, redis.client().await);
    for line in [
        "FAILOVER",
        "FAILOVER ABORT",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT -5",
        "FAILOVER TIMEOUT x",
        "FAILOVER TIMEOUT",
        "FAILOVER FORCE",
        "FAILOVER FORCE FORCE",
        "FAILOVER TO 127.0.0.1",
        "FAILOVER TO 127.0.0.1 x",
        "FAILOVER TO h 1 TO h 2",
        "FAILOVER TIMEOUT 10 TIMEOUT 20",
        "FAILOVER nosuch",
        "FAILOVER ABORT extra",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    let replica_dir = temp_dir("fo-redis-replica");
    let redis_replica = RedisServer::start_with(&["--dir", replica_dir.to_str().unwrap()]).await;
    let mut rr = redis_replica.client().await;
    rr.run(&format!("REPLICAOF 127.0.0.1 {}", redis.addr.port()))
        .await;
    wait_in_sync(&mut theirs, &mut rr).await;
    for line in [
        "FAILOVER FORCE",
        "FAILOVER FORCE TIMEOUT 10",
        "FAILOVER TO 10.9.9.9 1",
    ] {
        // Redis with a replica, against our `a` (now a replica) would differ: compare the
        // primaries' answers, ours being b with a as its replica.
        assert_eq!(pb.run(line).await, theirs.run(line).await, "{line}");
    }
    assert_eq!(pa.run("FAILOVER").await, rr.run("FAILOVER").await);
    assert_eq!(
        pa.run("FAILOVER").await,
        err("ERR FAILOVER is not valid when server is a replica.")
    );

    // A replica that cannot catch up (a redis-server busy in DEBUG SLEEP: it applies and
    // acknowledges nothing meanwhile): the wait times out and the primary carries on.
    let c = replica_node("fo-c").await;
    let mut pc = c.client().await;
    let dir = temp_dir("fo-slow");
    let target = format!("127.0.0.1 {}", c.addr.port());
    let slow = RedisServer::start_with(&[
        "--dir",
        dir.to_str().unwrap(),
        "--replicaof",
        &target,
        "--enable-debug-command",
        "local",
    ])
    .await;
    let mut sc = slow.client().await;
    pc.run("SET first 1").await;
    assert_same_data(&mut pc, &mut sc).await;
    sc.send(&["DEBUG", "SLEEP", "1"]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    pc.run("SET lagging 1").await;
    assert_eq!(
        pc.run("FAILOVER TIMEOUT 200").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(
        info_field(&pc.run("INFO replication").await, "master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    assert_eq!(
        pc.run("FAILOVER").await,
        err("ERR FAILOVER already in progress.")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        info_field(&pc.run("INFO replication").await, "master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(
        pc.run("SET still-primary 1").await,
        Frame::Simple("OK".into())
    );
    let _ = sc.read().await;

    // ABORT while waiting: writes resume, the node stays primary.
    sc.send(&["DEBUG", "SLEEP", "1"]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    pc.run("SET lagging 2").await;
    assert_eq!(pc.run("FAILOVER").await, Frame::Simple("OK".into()));
    assert_eq!(pc.run("FAILOVER ABORT").await, Frame::Simple("OK".into()));
    assert_eq!(pc.run("SET resumed 1").await, Frame::Simple("OK".into()));
    assert_eq!(text(&items(pc.run("ROLE").await)[0]), "master");
    let _ = sc.read().await;
    assert_same_data(&mut pc, &mut sc).await;
}

/// What a replica that sent `SYNC` on `c` reads after the snapshot once a client of
/// `addr` has run `commands`: the first `frames` commands of the stream (PINGs left out).
async fn stream_after_sync(
    c: &mut RawClient,
    addr: std::net::SocketAddr,
    commands: &[&str],
    frames: usize,
) -> Vec<Frame> {
    use tokio::io::AsyncReadExt;
    c.send_raw(b"SYNC\r\n").await;
    let mut buf = Vec::new();
    let read_more = async |c: &mut RawClient, buf: &mut Vec<u8>| {
        let n = tokio::time::timeout(Duration::from_secs(10), c.stream.read_buf(buf))
            .await
            .expect("the primary sends within 10 s")
            .unwrap();
        assert!(n > 0, "the primary closed the link");
    };
    // Keep-alive newlines, then `$<len>\r\n` and the snapshot's bytes.
    let rdb_end = loop {
        while buf.first() == Some(&b'\n') {
            buf.remove(0);
        }
        if let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            let len: usize = std::str::from_utf8(&buf[1..eol]).unwrap().parse().unwrap();
            if buf.len() >= eol + 2 + len {
                break eol + 2 + len;
            }
        }
        read_more(c, &mut buf).await;
    };
    buf.drain(..rdb_end);
    let mut writer = RawClient::connect(addr).await;
    for line in commands {
        writer.run(line).await;
    }
    let wanted = frames;
    let mut frames = Vec::new();
    while frames.len() < wanted {
        match Frame::parse(&buf).unwrap() {
            Some((f, used)) => {
                buf.drain(..used);
                if f != Frame::Array(vec![Frame::Bulk(b"PING".to_vec())]) {
                    frames.push(f);
                }
            }
            None => read_more(c, &mut buf).await,
        }
    }
    frames
}

/// The stream a new replica reads starts with `SELECT 0`, then the writes, as Redis's
/// (tools and Redis's own tests that read the stream expect the SELECT).
#[tokio::test]
async fn the_stream_after_a_sync_starts_with_select_as_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let commands = ["SET k v", "DEL k"];
    let ours = stream_after_sync(&mut node.client().await, node.addr, &commands, 2).await;
    let theirs = stream_after_sync(&mut redis.client().await, redis.addr, &commands, 2).await;
    let select = Frame::Array(vec![
        Frame::Bulk(b"SELECT".to_vec()),
        Frame::Bulk(b"0".to_vec()),
    ]);
    assert_eq!(theirs[0], select, "{}", show(&theirs[0]));
    assert_eq!(ours, theirs, "{} {}", show(&ours[0]), show(&ours[1]));
    // A second replica's sync: SELECT again before the next change.
    let again = stream_after_sync(&mut node.client().await, node.addr, &commands, 2).await;
    assert_eq!(again[0], select);
}

/// How commands travel to replicas, compared with Redis 7.0 command by command: GETDEL as
/// DEL, GETEX as PEXPIREAT or PERSIST (and not at all without options), a transaction with
/// one write as that write alone, one with several as MULTI/EXEC.
#[tokio::test]
async fn commands_reach_the_stream_as_redis_writes_them() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let commands = [
        "SET a 1",
        "GETDEL a",
        "GETDEL a",
        "SET b 2",
        "GETEX b",
        "GETEX b PERSIST",
        "MULTI",
        "SET c 3",
        "GET c",
        "EXEC",
        "MULTI",
        "SET d 4",
        "INCR d",
        "EXEC",
        "MULTI",
        "GET d",
        "EXEC",
        "SET e 5",
    ];
    // SELECT, SET a, DEL a, SET b, SET c, MULTI, SET d, INCR d, EXEC, SET e.
    let ours = stream_after_sync(&mut node.client().await, node.addr, &commands, 10).await;
    let theirs = stream_after_sync(&mut redis.client().await, redis.addr, &commands, 10).await;
    let text = |frames: &[Frame]| frames.iter().map(show).collect::<Vec<_>>();
    assert_eq!(text(&ours), text(&theirs));
}

/// Keys SCAN and RANDOMKEY find expired are reclaimed, each as a `DEL` in the stream (not
/// wrapped in MULTI/EXEC), as Redis's lazy expiry does (its expire.tcl checks the same).
#[tokio::test]
async fn keys_scan_and_randomkey_find_expired_reach_the_stream_as_dels() {
    let node = Node::start().await;
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]).await;
    for reader in ["SCAN 0", "RANDOMKEY"] {
        let commands = [
            "DEBUG SET-ACTIVE-EXPIRE 0",
            "SET foo1 bar PX 1",
            "SET foo2 bar PX 1",
            "DEBUG SLEEP 0.05",
            reader,
            "SET end 1",
        ];
        // SELECT, SET foo1, SET foo2, DEL, DEL, SET end.
        let mut seen = Vec::new();
        for (addr, mut c) in [
            (node.addr, node.client().await),
            (redis.addr, redis.client().await),
        ] {
            let frames = stream_after_sync(&mut c, addr, &commands, 6).await;
            let mut names: Vec<String> = frames
                .iter()
                .map(|f| match f {
                    Frame::Array(parts) => {
                        let words: Vec<String> = parts
                            .iter()
                            .take(2)
                            .map(|p| p.as_text().unwrap_or_default().to_lowercase())
                            .collect();
                        words.join(" ")
                    }
                    other => show(other),
                })
                .collect();
            // Which of the two is met first is the table's order, not the protocol's.
            names[3..5].sort();
            seen.push(names);
            let mut c = RawClient::connect(addr).await;
            c.run("FLUSHALL").await;
            c.run("DEBUG SET-ACTIVE-EXPIRE 1").await;
        }
        assert_eq!(seen[0], seen[1], "{reader}");
        assert_eq!(seen[0][3..5], ["del foo1", "del foo2"], "{reader}");
    }
}

/// After a disk-less snapshot the primary sends nothing past the EOF mark until the replica
/// has sent its first REPLCONF ACK, as Redis does: a replica (Redis's, or ours) recognises
/// the mark only as the last bytes it has read, so a write streamed right behind it used to
/// leave the replica reading "the snapshot" forever (seen once in CI as a node replica of a
/// node stuck in `master_sync_in_progress`). The replica here is a raw socket.
#[tokio::test]
async fn nothing_follows_a_diskless_snapshot_before_the_first_ack() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = replica_node("first-ack").await;
    let mut p = node.client().await;
    p.run("CONFIG SET repl-diskless-sync-delay 0").await;
    p.run("SET before v").await;
    let mut s = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let mut buf = Vec::new();
    async fn read_more(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, wait: Duration) -> usize {
        let mut chunk = [0u8; 65536];
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                n
            }
            _ => 0,
        }
    }
    for cmd in [
        "REPLCONF listening-port 6399",
        "REPLCONF capa eof capa psync2",
    ] {
        let args: Vec<Vec<u8>> = cmd.split(' ').map(|a| a.as_bytes().to_vec()).collect();
        let mut out = Vec::new();
        resp::request::encode_command(&args, &mut out);
        s.write_all(&out).await.unwrap();
        // One command at a time: PSYNC with replies still unread is refused.
        while !buf.ends_with(b"+OK\r\n") {
            assert!(read_more(&mut s, &mut buf, Duration::from_secs(5)).await > 0);
        }
        buf.clear();
    }
    let mut out = Vec::new();
    resp::request::encode_command(
        &[b"PSYNC".to_vec(), b"?".to_vec(), b"-1".to_vec()],
        &mut out,
    );
    s.write_all(&out).await.unwrap();
    // +OK +OK +FULLRESYNC ..., keep-alive newlines, $EOF:<mark>, the snapshot, the mark.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mark = loop {
        assert!(
            Instant::now() < deadline,
            "no EOF mark: {:?}",
            String::from_utf8_lossy(&buf)
        );
        if let Some(at) = buf.windows(5).position(|w| w == b"$EOF:") {
            if buf.len() >= at + 5 + 40 {
                break buf[at + 5..at + 45].to_vec();
            }
        }
        read_more(&mut s, &mut buf, Duration::from_millis(200)).await;
    };
    let body_from = buf.windows(5).position(|w| w == b"$EOF:").unwrap() + 47;
    while !buf[body_from..].ends_with(&mark) {
        assert!(
            Instant::now() < deadline,
            "the snapshot never ended with its mark"
        );
        read_more(&mut s, &mut buf, Duration::from_millis(200)).await;
    }
    // Writes now go to the stream, which must wait for the ACK.
    p.run("SET after v").await;
    assert_eq!(
        read_more(&mut s, &mut buf, Duration::from_millis(500)).await,
        0,
        "bytes followed the EOF mark before any ACK"
    );
    let mut out = Vec::new();
    resp::request::encode_command(
        &[b"REPLCONF".to_vec(), b"ACK".to_vec(), b"0".to_vec()],
        &mut out,
    );
    s.write_all(&out).await.unwrap();
    let before = buf.len();
    while !String::from_utf8_lossy(&buf[before..]).contains("after") {
        assert!(
            Instant::now() < deadline,
            "the stream did not start after the ACK"
        );
        read_more(&mut s, &mut buf, Duration::from_millis(200)).await;
    }
}
