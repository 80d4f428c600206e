//! MULTI/EXEC/WATCH across connections on a multi-threaded node: atomicity, optimistic
//! locking under contention, invalidation by expiry. (Single-connection semantics are in the
//! differential tests; invalidation by eviction is tested against the binary.)

use std::time::Duration;

use resp::Frame;
use server::Config;

use crate::support::{bulk, simple, Node};

fn two_workers() -> Config {
    Config {
        threads: 2,
        ..Config::default()
    }
}

/// A reader on another worker never sees half a transaction: `x` and `y` are always changed
/// together inside MULTI/EXEC, and MGET must always find them equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_is_atomic_for_readers_on_other_workers() {
    let node = Node::start_with(two_workers()).await;
    let mut setup = node.client().await;
    setup.run("MSET x 0 y 0").await;
    let mut writers = Vec::new();
    for _ in 0..3 {
        let mut c = node.client().await;
        writers.push(tokio::spawn(async move {
            for _ in 0..300 {
                // A long queue between the two INCRs widens the window a non-atomic EXEC
                // would expose.
                c.send(&["MULTI"]).await;
                c.send(&["INCR", "x"]).await;
                for _ in 0..50 {
                    c.send(&["SET", "pad", "v"]).await;
                }
                c.send(&["INCR", "y"]).await;
                c.send(&["EXEC"]).await;
                for _ in 0..53 {
                    c.read().await.unwrap();
                }
                let Frame::Array(r) = c.read().await.unwrap() else {
                    panic!("EXEC is an array")
                };
                assert_eq!(r.len(), 52);
            }
        }));
    }
    let mut reader = node.client().await;
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let Frame::Array(v) = reader.run("MGET x y").await else {
            panic!()
        };
        assert_eq!(v[0], v[1], "MGET saw half a transaction");
        reads += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        reads > 10,
        "the reader ran alongside the writers ({reads} reads)"
    );
    assert_eq!(
        setup.run("MGET x y").await,
        Frame::Array(vec![bulk("900"), bulk("900")])
    );
}

/// The WATCH/GET/MULTI/SET/EXEC retry loop of every client library: under contention some
/// EXECs abort, and no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_makes_optimistic_increments_exact() {
    let node = Node::start_with(two_workers()).await;
    let (clients, each) = (4, 60);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut c = node.client().await;
        tasks.push(tokio::spawn(async move {
            let mut aborted = 0;
            for _ in 0..each {
                loop {
                    c.run("WATCH counter").await;
                    let n: i64 = match c.run("GET counter").await {
                        Frame::Bulk(b) => std::str::from_utf8(&b).unwrap().parse().unwrap(),
                        _ => 0,
                    };
                    c.run("MULTI").await;
                    assert_eq!(
                        c.cmd(&["SET", "counter", &(n + 1).to_string()]).await,
                        simple("QUEUED")
                    );
                    match c.run("EXEC").await {
                        Frame::Array(_) => break,
                        Frame::Null => aborted += 1,
                        other => panic!("EXEC: {other:?}"),
                    }
                }
            }
            aborted
        }));
    }
    let mut aborted = 0;
    for t in tasks {
        aborted += t.await.unwrap();
    }
    let mut c = node.client().await;
    assert_eq!(
        c.run("GET counter").await,
        bulk(&(clients * each).to_string())
    );
    assert!(aborted > 0, "contention should abort some transactions");
}

#[tokio::test]
async fn watch_is_broken_by_another_client_and_by_expiry() {
    let node = Node::start_with(two_workers()).await;
    let (mut a, mut b) = (node.client().await, node.client().await);
    a.run("SET k 1").await;
    a.run("WATCH k").await;
    b.run("SET k 2").await;
    a.run("MULTI").await;
    a.run("SET k 3").await;
    assert_eq!(a.run("EXEC").await, Frame::Null);
    assert_eq!(a.run("GET k").await, bulk("2"));

    // Another client writing a different key does not disturb the transaction.
    a.run("WATCH k").await;
    b.run("SET other 1").await;
    a.run("MULTI").await;
    a.run("SET k 3").await;
    assert_eq!(a.run("EXEC").await, Frame::Array(vec![simple("OK")]));

    // A watched key that expires before EXEC aborts it, even if nothing reclaimed it yet.
    a.run("SET t v PX 50").await;
    a.run("WATCH t").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    a.run("MULTI").await;
    a.run("PING").await;
    assert_eq!(a.run("EXEC").await, Frame::Null);

    // A client that disconnects while watching leaves nothing behind.
    let mut c = node.client().await;
    c.run("WATCH k t other").await;
    drop(c);
    a.run("MULTI").await;
    a.run("PING").await;
    assert_eq!(a.run("EXEC").await, Frame::Array(vec![simple("PONG")]));
}

/// Differential with redis-server: once another client lowers maxmemory below what is used,
/// a command queued inside MULTI is refused with -OOM and EXEC aborts the transaction, as
/// Redis does (the queue may not grow while over the limit).
#[tokio::test]
async fn queueing_over_maxmemory_is_refused_and_exec_aborts_like_redis() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let mut replies = Vec::new();
    for (mut a, mut b) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        let filler = "x".repeat(100_000);
        a.cmd(&["SET", "filler", filler.as_str()]).await;
        let mut got = vec![b.run("MULTI").await, a.run("CONFIG SET maxmemory 1").await];
        got.push(b.run("SET x y").await);
        got.push(b.run("GET x").await);
        got.push(b.run("EXEC").await);
        got.push(a.run("CONFIG SET maxmemory 0").await);
        got.push(b.run("MULTI").await);
        got.push(b.run("SET x y").await);
        got.push(b.run("EXEC").await);
        replies.push(got);
    }
    assert_eq!(replies[0], replies[1]);
    assert_eq!(
        replies[0][4],
        Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
}

/// Which commands break a WATCH, against redis-server: a command that changes nothing
/// (a refused increment, an out-of-range LSET, a SETBIT that flips no bit, a BITFIELD whose
/// only write failed, a PFADD that moves no register) leaves the transaction alone; one that
/// changes the key (or, like APPEND "" and LTRIM 0 -1, that Redis counts as a change)
/// aborts it.
#[tokio::test]
async fn watch_is_broken_exactly_when_redis_breaks_it() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let cases: &[(&str, &str)] = &[
        ("HSET h f abc", "HINCRBY h f 1"),
        ("HSET h f 1", "HINCRBY h f 9223372036854775807"),
        ("HSET h f abc", "HINCRBYFLOAT h f 1"),
        ("HSET h f 1", "HINCRBY h f 1"),
        ("ZADD h 1 a", "ZADD h XX 1 b"),
        ("ZADD h 1 a", "ZADD h NX 5 a"),
        ("SET h x", "SETRANGE h 0 x"),
        ("SET h x", "APPEND h x"),
        ("RPUSH h x", "LREM h 0 nope"),
        ("RPUSH h x", "LTRIM h 0 -1"),
        ("RPUSH h x", "LSET h 5 y"),
        ("RPUSH h x", "LSET h 0 y"),
        ("SADD h x", "SREM h nope"),
        ("SET h abc", "INCR h"),
        ("SET h x", "SETBIT h 0 0"),
        ("SET h x", "SETBIT h 1 1"),
        ("SET h x", "SETBIT h 100 0"),
        ("SET h x", "BITFIELD h GET u8 0"),
        ("SET h x", "BITFIELD h OVERFLOW FAIL INCRBY u2 0 100"),
        ("SET h x", "BITFIELD h SET u8 0 120"),
        ("PFADD h a", "PFADD h a"),
        ("PFADD h a", "PFADD h zzz"),
        ("PFADD h a", "PFCOUNT h"),
        ("ZADD h 1 a", "ZPOPMIN h 0"),
        ("ZADD h 1 a 2 b", "SORT h ALPHA"),
        ("SET h x", "GETEX h"),
        ("SET h x", "GETEX h PERSIST"),
        ("SET h x EX 100", "GETEX h PERSIST"),
        ("SET h x", "EXPIRE h 100 XX"),
        ("SET h x EX 100", "EXPIRE h 50 GT"),
        ("SET h x", "PERSIST h"),
        ("SET h x", "EXPIRE h -1"),
        ("SET h x", "SET h x XX"),
        ("SET h x", "SET h y NX"),
        ("SET h x", "SETNX h y"),
        ("SET h x", "MSETNX h y z w"),
        ("SET h x", "RENAME h h"),
        ("SET h x", "RENAMENX h h"),
        ("SET h x", "COPY h h2"),
        ("SET h2 y", "COPY h2 h"),
        ("SADD h a", "SMOVE h h a"),
        ("SADD h a", "SADD h a"),
        ("SADD h a", "SINTERSTORE h h"),
        ("SADD h a", "SPOP h 0"),
        ("HSET h f v", "HSETNX h f w"),
        ("HSET h f v", "HSET h f v"),
        ("HSET h f v", "HDEL h g"),
        ("ZADD h 1 a", "ZADD h 1 a"),
        ("ZADD h 1 a", "ZINCRBY h 0 a"),
        ("ZADD h 1 a", "ZREM h b"),
        ("ZADD h 1 a", "ZREMRANGEBYRANK h 5 6"),
        ("ZADD h 1 a", "ZRANGESTORE h h 0 -1"),
        ("RPUSH h x", "LINSERT h BEFORE nope y"),
        ("RPUSH h x", "LPUSHX h y"),
        ("RPUSH h x", "LMOVE h h LEFT RIGHT"),
        ("RPUSH h x", "RPOPLPUSH h h"),
        ("SET h 5", "INCRBY h 0"),
        ("SET h 5", "INCRBYFLOAT h 0"),
        ("SET h 5", "INCRBY h 9223372036854775807"),
        ("SET h x", "SETRANGE h 0 <empty>"),
        ("SET h x", "APPEND h <empty>"),
        ("SET h x", "DEL nope"),
        ("SET h x", "UNLINK h"),
        ("SET h x", "TOUCH h"),
        ("SET h x", "RESTORE h 0 junk"),
        ("SET h x", "BITOP AND h nope"),
        ("SET h x", "PFMERGE h"),
        ("SET h x", "LMPOP 1 h LEFT"),
        ("SET h x", "FLUSHALL"),
    ];
    let mut results = Vec::new();
    for mut c in [node.client().await, redis.client().await] {
        let mut got = Vec::new();
        for (setup, cmd) in cases {
            c.run("DEL h h2").await;
            c.run(setup).await;
            c.run("WATCH h").await;
            let args: Vec<&str> = cmd
                .split(' ')
                .map(|a| if a == "<empty>" { "" } else { a })
                .collect();
            c.cmd(&args).await;
            c.run("MULTI").await;
            c.run("PING").await;
            got.push((*cmd, c.run("EXEC").await));
        }
        results.push(got);
    }
    assert_eq!(results[0], results[1]);
}

/// EXEC is refused as a write when what it queued writes (Redis reads the transaction's
/// flags): with `min-replicas-to-write` unmet it answers EXECABORT … NOREPLICAS and runs
/// nothing; a read-only transaction still runs — unless the node became a stale replica
/// (MASTERDOWN). Compared with redis-server.
#[tokio::test]
async fn exec_of_queued_writes_is_refused_like_a_write() {
    let node = crate::support::Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let mut seen = Vec::new();
    for (mut a, mut b) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        let mut log = Vec::new();
        for (who, line) in [
            ('a', "SET xx 1"),
            ('a', "MULTI"),
            ('a', "INCR xx"),
            ('b', "CONFIG SET min-replicas-to-write 2"),
            ('a', "EXEC"),
            ('a', "GET xx"),
            ('a', "MULTI"),
            ('a', "GET xx"),
            ('a', "EXEC"),
            ('b', "CONFIG SET min-replicas-to-write 0"),
            ('a', "MULTI"),
            ('a', "INCR xx"),
            ('a', "EXEC"),
            // A replica gone stale after the queueing: EXEC of reads is refused too.
            ('a', "CONFIG SET replica-serve-stale-data no"),
            ('a', "MULTI"),
            ('a', "GET xx"),
            ('b', "REPLICAOF localhsot 0"),
            ('a', "EXEC"),
            ('b', "REPLICAOF NO ONE"),
            ('a', "MULTI"),
            ('a', "PING"),
            ('b', "REPLICAOF localhsot 0"),
            ('a', "EXEC"),
            ('b', "REPLICAOF NO ONE"),
            ('a', "CONFIG SET replica-serve-stale-data yes"),
        ] {
            let c = if who == 'a' { &mut a } else { &mut b };
            log.push(format!("{line}: {:?}", c.run(line).await));
        }
        seen.push(log);
    }
    assert_eq!(seen[0], seen[1]);
}

/// One worker runs its connections in the order they became readable, as Redis's event
/// loop: an EXEC sent just before another client's LPUSH (which serves a blocked BRPOPLPUSH
/// into the watched list) runs first, so the transaction is not aborted (Redis's "BRPOPLPUSH
/// does not affect WATCH while still blocked"; tokio's LIFO slot ran the last connection
/// woken first and aborted about half of these).
#[tokio::test]
async fn a_worker_runs_connections_in_the_order_their_commands_arrived() {
    let node = Node::start_with(Config {
        threads: 1,
        ..Config::default()
    })
    .await;
    let mut r = node.client().await;
    for round in 0..20 {
        let (mut blocked, mut watching) = (node.client().await, node.client().await);
        r.run("DEL src dst somekey").await;
        r.run("SET somekey somevalue").await;
        blocked.send(&["BRPOPLPUSH", "src", "dst", "0"]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        for line in ["WATCH dst", "MULTI", "GET somekey"] {
            watching.run(line).await;
        }
        watching.send(&["EXEC"]).await;
        r.send(&["LPUSH", "src", "element"]).await;
        assert_eq!(
            watching.read().await.unwrap(),
            Frame::Array(vec![bulk("somevalue")]),
            "round {round}"
        );
        r.read().await.unwrap();
        blocked.read().await.unwrap();
    }
}
