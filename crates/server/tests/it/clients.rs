//! Real client libraries against the node: the `redis` crate (sync and async, pipelines).

use redis::AsyncCommands;

use resp::Frame;

use crate::support::Node;

#[tokio::test]
async fn redis_crate_async_commands_and_pipeline() {
    let node = Node::start().await;
    let client = redis::Client::open(format!("redis://{}/", node.addr)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = con.set("name", "shard-cache").await.unwrap();
    let name: String = con.get("name").await.unwrap();
    assert_eq!(name, "shard-cache");
    let n: i64 = con.incr("counter", 5).await.unwrap();
    assert_eq!(n, 5);
    let _: () = con.set_ex("session", "x", 100).await.unwrap();
    let ttl: i64 = con.ttl("session").await.unwrap();
    assert!((99..=100).contains(&ttl));
    let missing: Option<String> = con.get("missing").await.unwrap();
    assert_eq!(missing, None);
    let (a, b): (i64, Vec<Option<String>>) = redis::pipe()
        .incr("counter", 1)
        .cmd("MGET")
        .arg("name")
        .arg("nope")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(a, 6);
    assert_eq!(b, vec![Some("shard-cache".to_string()), None]);
    let deleted: i64 = con.del(&["name", "counter", "missing"]).await.unwrap();
    assert_eq!(deleted, 2);
    let err = con.incr::<_, _, i64>("session", 1).await.unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}

#[tokio::test]
async fn redis_crate_many_concurrent_connections() {
    let node = Node::start().await;
    let client = redis::Client::open(format!("redis://{}/", node.addr)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..20 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            for i in 0..200 {
                let _: () = con.set(format!("t{t}:{i}"), i).await.unwrap();
                let _: i64 = con.incr("shared", 1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let total: i64 = con.get("shared").await.unwrap();
    assert_eq!(
        total,
        20 * 200,
        "INCR must be atomic across connections and cores"
    );
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 20 * 200 + 1);
}

#[test]
fn redis_crate_sync_client_with_resp3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt.block_on(Node::start());
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", node.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET").arg("k").arg("v").exec(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let info: redis::InfoDict = redis::cmd("INFO").query(&mut con).unwrap();
    assert_eq!(info.get::<String>("role").as_deref(), Some("master"));
    drop(con);
    rt.block_on(node.stop()).unwrap();
}

/// MONITOR against redis-server: the same lines (after the time and client address) for
/// the same commands — quoting and escaping, errors included, administrative commands and
/// rejected commands left out, passwords redacted, a script shown before the commands it
/// runs (which show as the `lua` client), EXEC after its transaction's commands.
#[tokio::test]
async fn monitor_shows_what_redis_shows() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let mut seen = Vec::new();
    for (mut m, mut c) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        assert_eq!(m.run("MONITOR").await, Frame::Simple("OK".into()));
        c.cmd(&["SET", "k", "v"]).await;
        c.cmd(&["GET", "k"]).await;
        c.cmd(&["SET", "a b", "x\ny\"z\\\u{1}"]).await;
        c.cmd(&["LPUSH", "k", "1"]).await;
        c.cmd(&["AUTH", "nosuchpass"]).await;
        c.cmd(&["CONFIG", "GET", "maxmemory"]).await;
        c.cmd(&["NOSUCHCOMMAND", "x"]).await;
        c.cmd(&["GET"]).await;
        c.cmd(&["HELLO", "2", "AUTH", "default", "secret"]).await;
        // A script: itself first, then what it runs, as the `lua` client.
        c.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "mk"])
            .await;
        c.cmd(&["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"])
            .await;
        // Transactions: EXEC after what it ran, and after an aborted queue too.
        for t in [
            &["multi"][..],
            &["set", "foo", "bar"],
            &["exec"],
            &["multi"],
            &["syntax", "error"],
            &["exec"],
        ] {
            c.cmd(t).await;
        }
        c.cmd(&["PING"]).await;
        let mut lines = Vec::new();
        loop {
            let Frame::Simple(line) = m.read().await.unwrap() else {
                panic!("a status line")
            };
            // "<seconds>.<micros> [0 <addr>] <args>"
            let (time, rest) = line.split_once(' ').unwrap();
            assert!(time.contains('.') && time.len() > 10, "{line}");
            let (client, args) = rest.split_once("] ").unwrap();
            let args = if client == "[0 lua" {
                format!("(lua) {args}")
            } else {
                args.to_string()
            };
            let done = args == "\"PING\"";
            lines.push(args);
            if done {
                break;
            }
        }
        seen.push(lines);
    }
    assert_eq!(seen[0], seen[1]);
}

/// CLIENT PAUSE holds commands back without refusing them: WRITE lets reads through and
/// holds writes until the pause ends or CLIENT UNPAUSE; ALL holds everything.
#[tokio::test]
async fn client_pause_holds_writes_or_everything_until_it_ends() {
    use std::time::{Duration, Instant};
    let node = Node::start().await;
    let (mut a, mut b) = (node.client().await, node.client().await);
    assert_eq!(
        a.run("CLIENT PAUSE 10000 WRITE").await,
        Frame::Simple("OK".into())
    );
    let t = Instant::now();
    assert_eq!(b.run("GET k").await, Frame::Null);
    assert!(t.elapsed() < Duration::from_millis(500));
    b.send(&["SET", "k", "v"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a.run("GET k").await, Frame::Null, "the write was held");
    // A held client counts as blocked (Redis's BLOCKED_POSTPONE): its test suite waits on it.
    // It is looked at again every few milliseconds (each look runs the command once more), so
    // both are polled, as Redis's wait_for_blocked_clients_count does.
    let mut seen = (String::new(), String::new());
    for _ in 0..100 {
        seen = (
            a.run("INFO clients").await.as_text().unwrap(),
            a.run("CLIENT LIST").await.as_text().unwrap(),
        );
        if seen.0.contains("blocked_clients:1\r\n")
            && seen.1.lines().any(|l| l.contains("flags=b "))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen.0.contains("blocked_clients:1\r\n"), "{}", seen.0);
    assert!(seen.1.lines().any(|l| l.contains("flags=b ")), "{}", seen.1);
    assert_eq!(a.run("CLIENT UNPAUSE").await, Frame::Simple("OK".into()));
    assert_eq!(b.read().await.unwrap(), Frame::Simple("OK".into()));
    assert_eq!(a.run("GET k").await, resp::Frame::Bulk(b"v".to_vec()));
    let info = a.run("INFO clients").await.as_text().unwrap();
    assert!(info.contains("blocked_clients:0\r\n"), "{info}");

    assert_eq!(a.run("CLIENT PAUSE 300").await, Frame::Simple("OK".into()));
    let t = Instant::now();
    assert_eq!(b.run("GET k").await, resp::Frame::Bulk(b"v".to_vec()));
    let held = t.elapsed();
    assert!(held >= Duration::from_millis(250), "{held:?}");
}

/// What CLIENT PAUSE WRITE holds back, against redis-server: writes and the commands that
/// may replicate (PFCOUNT, PUBLISH, scripts without flags or not declared `no-writes`,
/// a transaction queuing one), but not read-only scripts (`no-writes`, EVAL_RO, a
/// `no-writes` function, EVALSHA of a `no-writes` script) nor a read-only transaction.
#[tokio::test]
async fn client_pause_write_holds_what_may_replicate_like_redis() {
    use std::time::Duration;
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let ro_script = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    let mut seen = Vec::new();
    for (mut admin, mut c) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        admin.run("PFADD hll a").await;
        admin.run("SET k v").await;
        admin
            .cmd(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}",
            ])
            .await;
        let sha = admin.cmd(&["SCRIPT", "LOAD", ro_script]).await;
        let sha = sha.as_text().unwrap();
        assert_eq!(
            admin.run("CLIENT PAUSE 100000 WRITE").await,
            Frame::Simple("OK".into())
        );
        let mut outcome = Vec::new();
        let cases: Vec<Vec<&str>> = vec![
            vec!["EVAL", ro_script, "1", "k"],
            vec!["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"],
            vec!["EVALSHA", &sha, "1", "k"],
            vec!["FCALL", "ro", "1", "k"],
            vec!["GET", "k"],
            vec!["PFCOUNT", "hll"],
            vec!["PUBLISH", "ch", "m"],
            vec!["EVAL", "return 1", "0"],
            vec!["SET", "k", "w"],
        ];
        for case in &cases {
            c.send(case).await;
            let answered = tokio::time::timeout(Duration::from_millis(300), c.read()).await;
            let held = answered.is_err();
            outcome.push((case[0].to_string(), held));
            if held {
                // Let it through, take its reply, and pause again for the next case.
                admin.run("CLIENT UNPAUSE").await;
                c.read().await;
                admin.run("CLIENT PAUSE 100000 WRITE").await;
            }
        }
        admin.run("CLIENT UNPAUSE").await;
        seen.push(outcome);
    }
    // Read-only scripts may not call what may replicate, as Redis's scriptCall.
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for case in [
        vec!["EVAL_RO", "return redis.call('publish','ch','msg')", "0"],
        vec![
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('publish','ch','msg')",
            "0",
        ],
        vec!["EVAL_RO", "return redis.call('pfcount','hll')", "0"],
        vec!["EVAL", "return redis.call('publish','ch','msg')", "0"],
    ] {
        let (a, b) = (ours.cmd(&case).await, theirs.cmd(&case).await);
        let strip = |f: Frame| match f {
            // The error names the script by its SHA, which Redis also tells by position.
            Frame::Error(e) => Frame::Error(e.split(" script:").next().unwrap().to_string()),
            other => other,
        };
        assert_eq!(strip(a), strip(b), "{case:?}");
    }
    assert_eq!(seen[0], seen[1]);
    let held: Vec<&str> = seen[0]
        .iter()
        .filter(|(_, h)| *h)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(held, ["PFCOUNT", "PUBLISH", "EVAL", "SET"]);
}

/// CLIENT UNBLOCK against redis-server: a blocked BLPOP ends as if timed out (null) or with
/// -UNBLOCKED; a client not blocked answers 0; bad arguments answer Redis's errors.
#[tokio::test]
async fn client_unblock_matches_redis() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let mut seen = Vec::new();
    for (mut a, mut b) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        let Frame::Integer(id) = b.run("CLIENT ID").await else {
            panic!()
        };
        let id = id.to_string();
        let mut t = Vec::new();
        t.push(a.cmd(&["CLIENT", "UNBLOCK", id.as_str()]).await);
        b.send(&["BLPOP", "q", "0"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        t.push(a.cmd(&["CLIENT", "UNBLOCK", id.as_str()]).await);
        t.push(b.read().await.unwrap());
        b.send(&["BZPOPMIN", "z", "0"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        t.push(a.cmd(&["CLIENT", "UNBLOCK", id.as_str(), "ERROR"]).await);
        t.push(b.read().await.unwrap());
        t.push(a.cmd(&["CLIENT", "UNBLOCK", id.as_str(), "FOO"]).await);
        t.push(a.cmd(&["CLIENT", "UNBLOCK", "x"]).await);
        t.push(b.run("PING").await);
        seen.push(t);
    }
    assert_eq!(seen[0], seen[1]);
}

fn expired_keys(info: &Frame) -> i64 {
    info.as_text()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// As Redis 7: during CLIENT PAUSE keys do not expire — they read as gone but stay (neither
/// lazy nor active expiry removes them); after UNPAUSE the next access does (redis's own
/// test "Test both active and passive expires are skipped during client pause").
#[tokio::test]
async fn expiry_waits_during_client_pause_like_redis() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for c in [&mut ours, &mut theirs] {
        let before = expired_keys(&c.run("INFO stats").await);
        for line in [
            "MULTI",
            "SET foo{t} bar PX 10",
            "SET bar{t} foo PX 10",
            "CLIENT PAUSE 50000 WRITE",
        ] {
            c.run(line).await;
        }
        assert!(matches!(c.run("EXEC").await, Frame::Array(_)));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(c.run("GET foo{t}").await, Frame::Null);
        assert_eq!(c.run("GET bar{t}").await, Frame::Null);
        assert_eq!(c.run("DBSIZE").await, Frame::Integer(2), "they stay");
        assert_eq!(expired_keys(&c.run("INFO stats").await), before);
        c.run("CLIENT UNPAUSE").await;
        c.run("GET foo{t}").await;
        c.run("GET bar{t}").await;
        assert_eq!(expired_keys(&c.run("INFO stats").await), before + 2);
        assert_eq!(c.run("DBSIZE").await, Frame::Integer(0));
    }
}
