//! Client-side caching (CLIENT TRACKING) against redis-server 7.0: the same steps on both,
//! and the invalidations each tracking connection receives compared message for message —
//! default mode in RESP3, a RESP2 redirect to a Pub/Sub connection, a RESP3 redirect to a
//! connection that never subscribed, BCAST with prefixes,
//! NOLOOP, OPTIN/OPTOUT with CLIENT CACHING, expiry, FLUSHALL, a broken redirect — plus the
//! argument errors and CLIENT TRACKINGINFO / GETREDIR replies.

use resp::Frame;

use crate::support::{Node, RawClient, RedisServer};

/// Frames a connection received before the reply to a PING sent now (its pushes).
async fn pushes(c: &mut RawClient) -> Vec<Frame> {
    c.send(&["PING"]).await;
    let mut got = Vec::new();
    loop {
        let f = c.read().await.expect("connection open");
        match &f {
            Frame::Simple(s) if s == "PONG" => return got,
            // A RESP2 subscriber answers PING with ["pong", ""].
            Frame::Array(items)
                if items.first().and_then(Frame::as_text).as_deref() == Some("pong") =>
            {
                return got
            }
            _ => got.push(f),
        }
    }
}

/// Runs the scenario on one server; returns everything the tracking connections saw.
async fn scenario(addr: std::net::SocketAddr) -> Vec<String> {
    let mut log = Vec::new();
    let mut other = RawClient::connect(addr).await;
    // Default mode, RESP3.
    let mut t = RawClient::connect(addr).await;
    t.run("HELLO 3").await;
    log.push(format!("{:?}", t.run("CLIENT TRACKING ON").await));
    log.push(format!("{:?}", t.run("CLIENT TRACKINGINFO").await));
    log.push(format!("{:?}", t.run("CLIENT GETREDIR").await));
    t.run("GET a").await;
    t.run("MGET b c").await;
    t.run("HGET h f").await;
    other.run("SET a 1").await;
    other.run("SET a 2").await;
    other.run("DEL b nokey").await;
    other.run("HSET h f v").await;
    log.push(format!("1 {:?}", pushes(&mut t).await));
    t.run("GET a").await;
    t.run("SET a 3").await;
    log.push(format!("2 {:?}", pushes(&mut t).await));
    t.run("GET e").await;
    other.run("SET e v PX 30").await;
    t.run("GET e").await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    other.run("GET e").await;
    log.push(format!("3 {:?}", pushes(&mut t).await));
    t.run("GET z").await;
    other.run("FLUSHALL").await;
    log.push(format!("4 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;
    t.run("GET a").await;
    other.run("SET a 9").await;
    log.push(format!("5 {:?}", pushes(&mut t).await));

    // NOLOOP: its own writes are not reported, others' are.
    t.run("CLIENT TRACKING ON NOLOOP").await;
    t.run("GET n").await;
    t.run("SET n 1").await;
    log.push(format!("6 {:?}", pushes(&mut t).await));
    t.run("GET n").await;
    other.run("SET n 2").await;
    log.push(format!("7 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;

    // OPTIN / OPTOUT.
    t.run("CLIENT TRACKING ON OPTIN").await;
    t.run("GET k1").await;
    t.run("CLIENT CACHING yes").await;
    log.push(format!("{:?}", t.run("CLIENT TRACKINGINFO").await));
    t.run("GET k2").await;
    other.run("MSET k1 1 k2 2").await;
    log.push(format!("8 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;
    t.run("CLIENT TRACKING ON OPTOUT").await;
    t.run("CLIENT CACHING no").await;
    t.run("GET k3").await;
    t.run("GET k4").await;
    other.run("MSET k3 1 k4 2").await;
    log.push(format!("9 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;

    // BCAST with prefixes.
    t.run("CLIENT TRACKING ON BCAST PREFIX user: PREFIX obj:")
        .await;
    log.push(format!("{:?}", t.run("CLIENT TRACKINGINFO").await));
    other.run("SET user:1 a").await;
    other.run("SET other:1 a").await;
    other.run("SET obj:7 a").await;
    log.push(format!("10 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;
    // BCAST gathers what one command (or transaction) changed: one message per prefix,
    // keys in byte order; NOLOOP leaves out the client's own changes.
    t.run("CLIENT TRACKING ON BCAST PREFIX b: PREFIX a:").await;
    other.run("MSET a:2 1 b:1 3 a:1 2 c:1 4 a:2 5").await;
    log.push(format!("13 {:?}", pushes(&mut t).await));
    other.run("MULTI").await;
    other.run("SET a:3 1").await;
    other.run("DEL b:1 a:1").await;
    other.run("EXEC").await;
    log.push(format!("14 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;
    t.run("CLIENT TRACKING ON BCAST NOLOOP").await;
    t.run("MSET mine1 1 mine2 2").await;
    other.run("MSET o2 1 o1 2").await;
    log.push(format!("15 {:?}", pushes(&mut t).await));
    t.run("CLIENT TRACKING OFF").await;

    // RESP2, redirected to a Pub/Sub connection.
    let mut r = RawClient::connect(addr).await;
    let id = match r.run("CLIENT ID").await {
        Frame::Integer(n) => n,
        f => panic!("{f:?}"),
    };
    r.run("SUBSCRIBE __redis__:invalidate").await;
    let mut t2 = RawClient::connect(addr).await;
    log.push(format!(
        "{:?}",
        t2.run(&format!("CLIENT TRACKING ON REDIRECT {id}")).await
    ));
    log.push(format!(
        "{:?}",
        t2.run("CLIENT GETREDIR").await == Frame::Integer(id)
    ));
    t2.run("GET r1").await;
    other.run("SET r1 x").await;
    other.run("FLUSHALL").await;
    log.push(format!("11 {:?}", pushes(&mut r).await));
    // A RESP3 redirect target that never subscribed gets the pushes (with replies off too).
    let mut r3 = RawClient::connect(addr).await;
    r3.run("HELLO 3").await;
    let id3 = match r3.run("CLIENT ID").await {
        Frame::Integer(n) => n,
        f => panic!("{f:?}"),
    };
    let mut t4 = RawClient::connect(addr).await;
    t4.run(&format!("CLIENT TRACKING ON REDIRECT {id3}")).await;
    t4.run("GET p1").await;
    r3.send(&["CLIENT", "REPLY", "OFF"]).await;
    other.run("SET p1 x").await;
    log.push(format!("13 {:?}", r3.read().await));
    log.push(format!("13 {:?}", r3.run("CLIENT REPLY ON").await));
    // The redirect target goes away: a RESP3 tracking client is told.
    let mut t3 = RawClient::connect(addr).await;
    t3.run("HELLO 3").await;
    let mut gone = RawClient::connect(addr).await;
    let gone_id = match gone.run("CLIENT ID").await {
        Frame::Integer(n) => n,
        f => panic!("{f:?}"),
    };
    t3.run(&format!("CLIENT TRACKING ON REDIRECT {gone_id}"))
        .await;
    drop(gone);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    t3.run("GET b1").await;
    other.run("SET b1 x").await;
    // The ids differ between the servers: compare the message with the id taken out.
    let broken: Vec<String> = pushes(&mut t3)
        .await
        .into_iter()
        .map(|f| match f {
            Frame::Push(mut items) if items.len() == 2 && items[1] == Frame::Integer(gone_id) => {
                items[1] = Frame::Integer(0);
                format!("{:?}", Frame::Push(items))
            }
            other => format!("{other:?}"),
        })
        .collect();
    log.push(format!("12 {broken:?}"));
    log
}

#[tokio::test]
async fn invalidations_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let ours = scenario(node.addr).await;
    let theirs = scenario(redis.addr).await;
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
    assert_eq!(ours.len(), theirs.len());
}

#[tokio::test]
async fn tracking_errors_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in [
        "CLIENT TRACKING",
        "CLIENT TRACKING maybe",
        "CLIENT TRACKING ON PREFIX a",
        "CLIENT TRACKING ON BCAST OPTIN",
        "CLIENT TRACKING ON OPTIN OPTOUT",
        "CLIENT TRACKING ON REDIRECT 999999",
        "CLIENT TRACKING ON REDIRECT x",
        "CLIENT TRACKING ON BCAST PREFIX ab PREFIX a",
        "CLIENT TRACKING ON WHAT",
        "CLIENT CACHING yes",
        "CLIENT GETREDIR",
        "CLIENT TRACKINGINFO",
        "CLIENT TRACKING ON OPTIN",
        "CLIENT CACHING no",
        "CLIENT CACHING maybe",
        "CLIENT CACHING yes",
        "CLIENT TRACKING ON OPTOUT",
        "CLIENT TRACKING ON BCAST",
        "CLIENT TRACKING OFF",
        "CLIENT TRACKING ON BCAST PREFIX a",
        "CLIENT TRACKING ON BCAST PREFIX ab",
        "CLIENT TRACKING ON BCAST PREFIX b",
        "CLIENT TRACKINGINFO",
        "CLIENT TRACKING ON",
        "CLIENT TRACKING OFF",
        "CLIENT GETREDIR",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
}

/// Scripts, as Redis 7.0 tracks them: a script that calls a read-only command tracks the
/// keys it declared (not the ones it read), one that only writes or pings tracks nothing,
/// and EVAL_RO / FCALL_RO are not tracked as reads themselves; OPTIN's CLIENT CACHING YES
/// covers the whole script.
async fn script_scenario(addr: std::net::SocketAddr) -> Vec<String> {
    let mut log = Vec::new();
    let mut other = RawClient::connect(addr).await;
    let mut t = RawClient::connect(addr).await;
    t.run("HELLO 3").await;
    t.run("CLIENT TRACKING ON").await;
    let steps: &[&[&str]] = &[
        &[
            "EVAL",
            "redis.call('set', 'key3{t}', 'bar')",
            "2",
            "key1{t}",
            "key2{t}",
        ],
        &[
            "EVAL",
            "redis.call('get', 'key3{t}')",
            "2",
            "key1{t}",
            "key2{t}",
        ],
        &["EVAL_RO", "redis.call('ping')", "2", "key1{t}", "key2{t}"],
        &[
            "EVAL_RO",
            "redis.call('get', 'key1{t}')",
            "2",
            "key1{t}",
            "key2{t}",
        ],
    ];
    for (i, step) in steps.iter().enumerate() {
        t.cmd(step).await;
        other
            .cmd(&["MSET", "key2{t}", "x", "key1{t}", "y", "key3{t}", "z"])
            .await;
        log.push(format!("{i} {:?}", pushes(&mut t).await));
    }
    // OPTIN: CLIENT CACHING YES, then a script that reads.
    t.run("CLIENT TRACKING OFF").await;
    t.run("CLIENT TRACKING ON OPTIN").await;
    t.run("CLIENT CACHING YES").await;
    t.cmd(steps[1]).await;
    other.cmd(&["MSET", "key2{t}", "x", "key1{t}", "y"]).await;
    log.push(format!("optin {:?}", pushes(&mut t).await));
    t.cmd(steps[1]).await;
    other.cmd(&["MSET", "key2{t}", "x", "key1{t}", "y"]).await;
    log.push(format!("optin, no CACHING {:?}", pushes(&mut t).await));
    log
}

#[tokio::test]
async fn scripts_are_tracked_as_redis_tracks_them() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (ours, theirs) = (
        script_scenario(node.addr).await,
        script_scenario(redis.addr).await,
    );
    assert_eq!(ours, theirs);
    assert_ne!(ours[1], "1 []", "a reading script tracks its declared keys");
}

/// Over maxmemory, a read evicts first, as Redis's processCommand does for every command:
/// a tracked volatile key evicted by GETBIT has its invalidation pushed before the GETBIT's
/// reply (Redis's "Tracking invalidation message of eviction keys should be before
/// response"). Each server's limit is its own memory in use plus 100 KB.
#[tokio::test]
async fn a_read_over_maxmemory_evicts_first_and_invalidates_before_its_reply_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let scenario = async |addr: std::net::SocketAddr| {
        let mut c = RawClient::connect(addr).await;
        c.run("HELLO 3").await;
        c.run("CLIENT TRACKING ON").await;
        let info = c.run("INFO memory").await.as_text().unwrap();
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let limit = field("used_memory") - field("mem_not_counted_for_evict") + 100 * 1024;
        c.run(&format!("CONFIG SET maxmemory {limit}")).await;
        c.run("CONFIG SET maxmemory-policy volatile-random").await;
        let mut seen = vec![format!("{:?}", c.run("SETEX volatile-key 10000 x").await)];
        seen.push(format!("{:?}", c.run("GET volatile-key").await));
        seen.push(format!("{:?}", c.run("SETBIT big-key 1600000 0").await));
        c.send(&["GETBIT", "big-key", "0"]).await;
        for _ in 0..2 {
            seen.push(format!("{:?}", c.read().await.expect("reply")));
        }
        seen.push(format!("{:?}", c.run("EXISTS volatile-key").await));
        c.run("CONFIG SET maxmemory 0").await;
        seen
    };
    let ours = scenario(node.addr).await;
    let theirs = scenario(redis.addr).await;
    assert_eq!(ours, theirs);
    assert!(
        ours[3].starts_with("Push("),
        "the invalidation first: {ours:?}"
    );
}

/// `tracking-table-max-keys` bounds the table: lowered to 1 with two keys tracked, one of
/// them is forgotten and its reader told (Redis's "Tracking gets notification on tracking
/// table key eviction"); the key is the server's pick, so what is compared is how many
/// invalidations came and what INFO counts then. Both servers.
#[tokio::test]
async fn the_tracking_table_stays_within_its_limit_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let scenario = async |addr: std::net::SocketAddr| {
        let mut r = RawClient::connect(addr).await;
        let id = match r.run("CLIENT ID").await {
            Frame::Integer(n) => n,
            f => panic!("{f:?}"),
        };
        r.run("SUBSCRIBE __redis__:invalidate").await;
        let mut c = RawClient::connect(addr).await;
        c.run(&format!("CLIENT TRACKING ON REDIRECT {id} NOLOOP"))
            .await;
        c.run("MSET key1 1 key2 2").await;
        c.run("MGET key1 key2").await;
        c.run("CONFIG SET tracking-table-max-keys 1").await;
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), r.read())
            .await
            .expect("an invalidation within the housekeeping period")
            .expect("open");
        let key = match &message {
            Frame::Array(items) | Frame::Push(items) => items[2].clone(),
            f => panic!("{f:?}"),
        };
        assert!(
            key == Frame::Array(vec![Frame::Bulk(b"key1".to_vec())])
                || key == Frame::Array(vec![Frame::Bulk(b"key2".to_vec())]),
            "{message:?}"
        );
        let info = c.run("INFO stats").await.as_text().unwrap();
        let keys = info
            .lines()
            .find(|l| l.starts_with("tracking_total_keys:"))
            .map(str::to_string)
            .expect("INFO stats has tracking_total_keys");
        c.run("CONFIG SET tracking-table-max-keys 1000000").await;
        keys
    };
    let ours = scenario(node.addr).await;
    let theirs = scenario(redis.addr).await;
    assert_eq!(ours, theirs);
}

/// FLUSHALL empties the tracking table even when nobody tracks at that moment (entries of a
/// client that turned tracking off are not counted afterwards), and CLIENT TRACKINGINFO
/// shows BCAST without a prefix as the empty prefix. Both servers.
#[tokio::test]
async fn flushall_empties_the_tracking_table_and_bcast_shows_its_empty_prefix_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let scenario = async |addr: std::net::SocketAddr| {
        let mut c = RawClient::connect(addr).await;
        let mut seen = Vec::new();
        for line in [
            "CLIENT TRACKING ON",
            "GET stale",
            "CLIENT TRACKING OFF",
            "FLUSHALL",
            "CLIENT TRACKING ON",
            "GET a",
            "GET b",
        ] {
            c.run(line).await;
        }
        let info = c.run("INFO stats").await.as_text().unwrap();
        seen.extend(
            info.lines()
                .filter(|l| l.starts_with("tracking_total_"))
                .map(str::to_string),
        );
        c.run("CLIENT TRACKING OFF").await;
        c.run("CLIENT TRACKING ON BCAST").await;
        seen.push(format!("{:?}", c.run("CLIENT TRACKINGINFO").await));
        seen
    };
    let ours = scenario(node.addr).await;
    let theirs = scenario(redis.addr).await;
    assert_eq!(ours, theirs);
}

/// The tracking table's limit is applied before every command, as Redis's processCommand
/// does (its #11715): lowered while the housekeeping tick is paused, the next command — even
/// one queued in MULTI — first forgets a key, and the client hears of it before the reply.
#[tokio::test]
async fn the_tracking_limit_applies_before_the_next_command_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let scenario = async |addr: std::net::SocketAddr| {
        let mut other = RawClient::connect(addr).await;
        other.run("CONFIG SET tracking-table-max-keys 2").await;
        other.run("DEBUG PAUSE-CRON 1").await;
        let mut c = RawClient::connect(addr).await;
        c.run("HELLO 3").await;
        c.run("CLIENT TRACKING ON").await;
        c.run("MGET 1{tag} 2{tag}").await;
        c.run("MULTI").await;
        other.run("CONFIG SET tracking-table-max-keys 1").await;
        c.send(&["PING"]).await;
        c.send(&["EXEC"]).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            // Which key is forgotten is the server's pick.
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), c.read())
                .await
                .expect("three frames: the invalidation, QUEUED, EXEC's reply");
            seen.push(match next.expect("open") {
                Frame::Push(items) => format!("push {:?} of {}", items[0], items.len()),
                f => format!("{f:?}"),
            });
        }
        other.run("DEBUG PAUSE-CRON 0").await;
        other
            .run("CONFIG SET tracking-table-max-keys 1000000")
            .await;
        seen
    };
    let ours = scenario(node.addr).await;
    let theirs = scenario(redis.addr).await;
    assert_eq!(ours, theirs);
}
