//! Blocking list pops across connections: wake-up on push, FIFO order, timeouts, BLMOVE
//! chains, many clients on several workers, disconnects, pipelining, MULTI/EXEC.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use resp::Frame;
use server::Config;

use crate::support::{bulk, simple, split_quoted, Node, RawClient, RedisServer};

fn two_workers() -> Config {
    Config {
        threads: 2,
        ..Config::default()
    }
}

fn pair(k: &str, v: &str) -> Frame {
    Frame::Array(vec![bulk(k), bulk(v)])
}

/// Polls INFO until `n` clients are blocked (so a test pushes only once they wait).
async fn until_blocked(c: &mut RawClient, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Frame::Bulk(info) = c.run("INFO clients").await else {
            panic!()
        };
        let text = String::from_utf8(info).unwrap();
        if text.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {n} blocked clients: {text}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_push_wakes_the_blocked_client_before_the_pusher_goes_on() {
    let node = Node::start_with(two_workers()).await;
    let (mut a, mut b) = (node.client().await, node.client().await);
    a.send(&["BLPOP", "q", "other", "0"]).await;
    until_blocked(&mut b, 1).await;
    assert_eq!(b.run("RPUSH q x").await, Frame::Integer(1));
    // Served before B's next command: the element is gone already.
    assert_eq!(b.run("LLEN q").await, Frame::Integer(0));
    assert_eq!(a.read().await.unwrap(), pair("q", "x"));
    until_blocked(&mut b, 0).await;
}

#[tokio::test]
async fn waiters_are_served_first_come_first_served() {
    let node = Node::start_with(two_workers()).await;
    let mut pusher = node.client().await;
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut c = node.client().await;
        c.send(&["BRPOP", "q", "0"]).await;
        until_blocked(&mut pusher, i + 1).await;
        waiters.push(c);
    }
    assert_eq!(pusher.run("LPUSH q 1 2 3 4").await, Frame::Integer(4));
    for (i, c) in waiters.iter_mut().enumerate() {
        assert_eq!(c.read().await.unwrap(), pair("q", &(i + 1).to_string()));
    }
    assert_eq!(
        pusher.run("LRANGE q 0 -1").await,
        Frame::Array(vec![bulk("4")])
    );
}

#[tokio::test]
async fn timeouts_return_nil_after_the_time() {
    let node = Node::start_with(two_workers()).await;
    let mut c = node.client().await;
    let started = Instant::now();
    assert_eq!(c.run("BLPOP q 0.2").await, Frame::Null);
    assert_eq!(c.run("BLMOVE q d LEFT LEFT 0.1").await, Frame::Null);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    c.run("HELLO 3").await;
    assert_eq!(c.run("BRPOP q 0.05").await, Frame::Null);
    assert_eq!(c.run("PING").await, simple("PONG"));
}

#[tokio::test]
async fn blmove_chains_serve_the_next_waiter() {
    let node = Node::start_with(two_workers()).await;
    let (mut mover, mut popper, mut pusher) = (
        node.client().await,
        node.client().await,
        node.client().await,
    );
    mover
        .send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"])
        .await;
    until_blocked(&mut pusher, 1).await;
    popper.send(&["BLPOP", "dst", "0"]).await;
    until_blocked(&mut pusher, 2).await;
    pusher.run("RPUSH src v").await;
    assert_eq!(mover.read().await.unwrap(), bulk("v"));
    assert_eq!(popper.read().await.unwrap(), pair("dst", "v"));
    assert_eq!(pusher.run("EXISTS src dst").await, Frame::Integer(0));
}

/// 60 clients blocked on 6 keys from both workers; 60 pushed elements reach exactly one
/// client each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_blocked_clients_each_get_exactly_one_element() {
    let node = Node::start_with(two_workers()).await;
    let mut pusher = node.client().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let mut c = node.client().await;
        let key = format!("k{}", i % 6);
        tasks.push(tokio::spawn(async move {
            match c.cmd(&["BLPOP", &key, "10"]).await {
                Frame::Array(v) => v[1].clone(),
                other => panic!("{other:?}"),
            }
        }));
    }
    until_blocked(&mut pusher, 60).await;
    for k in 0..6 {
        let mut args = vec!["RPUSH".to_string(), format!("k{k}")];
        args.extend((0..10).map(|j| format!("{k}-{j}")));
        pusher.cmd(&args).await;
    }
    let mut got = HashSet::new();
    for t in tasks {
        let Frame::Bulk(v) = t.await.unwrap() else {
            panic!()
        };
        assert!(got.insert(v), "an element was delivered twice");
    }
    assert_eq!(got.len(), 60);
    for k in 0..6 {
        assert_eq!(
            pusher.cmd(&["LLEN", &format!("k{k}")]).await,
            Frame::Integer(0)
        );
    }
}

#[tokio::test]
async fn a_client_that_disconnects_while_blocked_loses_nothing() {
    let node = Node::start_with(two_workers()).await;
    let mut pusher = node.client().await;
    let mut gone = node.client().await;
    gone.send(&["BLPOP", "q", "0"]).await;
    until_blocked(&mut pusher, 1).await;
    drop(gone);
    until_blocked(&mut pusher, 0).await;
    pusher.run("RPUSH q x").await;
    assert_eq!(pusher.run("LLEN q").await, Frame::Integer(1));
}

#[tokio::test]
async fn the_node_keeps_serving_while_clients_block_and_pipelines_wait() {
    let node = Node::start_with(Config {
        threads: 1,
        ..Config::default()
    })
    .await;
    let (mut blocked, mut other) = (node.client().await, node.client().await);
    // Commands pipelined after a blocking one run once it is served, in order.
    blocked
        .send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
        .await;
    until_blocked(&mut other, 1).await;
    for _ in 0..100 {
        assert_eq!(other.run("PING").await, simple("PONG"));
    }
    other.run("RPUSH q x").await;
    assert_eq!(blocked.read().await.unwrap(), pair("q", "x"));
    assert_eq!(blocked.read().await.unwrap(), simple("PONG"));
}

#[tokio::test]
async fn transactions_never_block_and_serve_waiters_after_exec() {
    let node = Node::start_with(two_workers()).await;
    let (mut a, mut b) = (node.client().await, node.client().await);
    b.run("MULTI").await;
    b.run("BLPOP empty 0").await;
    assert_eq!(b.run("EXEC").await, Frame::Array(vec![Frame::Null]));

    a.send(&["BLPOP", "q", "0"]).await;
    until_blocked(&mut b, 1).await;
    b.run("MULTI").await;
    b.run("RPUSH q x").await;
    b.run("LLEN q").await;
    // As in Redis, the waiter is served after EXEC, so LLEN inside still sees the element.
    assert_eq!(
        b.run("EXEC").await,
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(1)])
    );
    assert_eq!(a.read().await.unwrap(), pair("q", "x"));
    assert_eq!(b.run("LLEN q").await, Frame::Integer(0));
}

/// The sorted-set and multi-element pops block and are served like BLPOP: BZPOPMIN by a
/// ZADD (flat reply), BZMPOP with its nested reply (RESP3 doubles), BLMPOP taking up to
/// COUNT elements from the list a push filled.
#[tokio::test]
async fn zset_and_mpop_waiters_are_served_by_writes() {
    let node = Node::start_with(two_workers()).await;
    let (mut a, mut b) = (node.client().await, node.client().await);
    a.send(&["BZPOPMIN", "z1", "z2", "0"]).await;
    until_blocked(&mut b, 1).await;
    assert_eq!(b.run("ZADD z2 2 two 1 one").await, Frame::Integer(2));
    assert_eq!(b.run("ZCARD z2").await, Frame::Integer(1));
    assert_eq!(
        a.read().await.unwrap(),
        Frame::Array(vec![bulk("z2"), bulk("one"), bulk("1")])
    );

    a.run("HELLO 3").await;
    a.send(&["BZMPOP", "0", "1", "z3", "MAX", "COUNT", "5"])
        .await;
    until_blocked(&mut b, 1).await;
    b.run("ZADD z3 1 a 2 b").await;
    assert_eq!(
        a.read().await.unwrap(),
        Frame::Array(vec![
            bulk("z3"),
            Frame::Array(vec![
                Frame::Array(vec![bulk("b"), Frame::Double("2".into())]),
                Frame::Array(vec![bulk("a"), Frame::Double("1".into())]),
            ]),
        ])
    );

    a.send(&["BLMPOP", "0", "2", "l1", "l2", "RIGHT", "COUNT", "2"])
        .await;
    until_blocked(&mut b, 1).await;
    assert_eq!(b.run("RPUSH l2 x y z").await, Frame::Integer(3));
    assert_eq!(
        a.read().await.unwrap(),
        Frame::Array(vec![bulk("l2"), Frame::Array(vec![bulk("z"), bulk("y")])])
    );
    assert_eq!(b.run("LRANGE l2 0 -1").await, Frame::Array(vec![bulk("x")]));
    // Timeouts answer a null.
    assert_eq!(a.run("BZPOPMAX nothing 0.05").await, Frame::Null);
}

/// What a blocking command answers when its timeout passes, and inside MULTI (where it
/// never blocks): the same kind of null as Redis's (`*-1` for a timeout whatever the
/// command; in a transaction `*-1` for the pops, `$-1` for the moves), RESP2 and RESP3.
#[tokio::test]
async fn timeouts_and_transactions_answer_redis_nulls() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let cases = "
        BZPOPMIN nozset 0.01
        BZPOPMAX nozset nozset2 0.01
        BZMPOP 0.01 1 nozset MIN
        BZMPOP 0.01 2 nozset nozset2 MAX COUNT 3
        BLPOP nolist 0.01
        BRPOP nolist nolist2 0.01
        BLMPOP 0.01 1 nolist LEFT
        BLMPOP 0.01 1 nolist RIGHT COUNT 2
        BRPOPLPUSH nolist dst 0.01
        BLMOVE nolist dst LEFT RIGHT 0.01
        MULTI
        BLPOP nolist 0
        BRPOPLPUSH nolist dst 0
        BLMOVE nolist dst RIGHT LEFT 0
        BZPOPMIN nozset 0
        BZMPOP 0 1 nozset MIN
        BLMPOP 0 1 nolist LEFT
        EXEC
    ";
    for resp3 in [false, true] {
        crate::support::assert_cases_match(&node, &redis, cases, split_quoted, resp3).await;
    }
}

/// A client blocked in BRPOPLPUSH/BLMOVE whose destination holds another type when an
/// element arrives: it is answered WRONGTYPE and unblocked, the element stays (Redis 7.0),
/// and a second waiter behind it is served — compared with redis-server.
#[tokio::test]
async fn a_blocked_move_to_a_wrong_type_answers_wrongtype_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let mut seen = Vec::new();
    for (addr, mut c) in [
        (node.addr, node.client().await),
        (redis.addr, redis.client().await),
    ] {
        c.run("SET target nolist").await;
        let mut first = RawClient::connect(addr).await;
        let mut second = RawClient::connect(addr).await;
        first.send(&["BRPOPLPUSH", "blist", "target", "0"]).await;
        until_blocked(&mut c, 1).await;
        second
            .send(&["BLMOVE", "blist", "other", "RIGHT", "LEFT", "0"])
            .await;
        until_blocked(&mut c, 2).await;
        c.run("RPUSH blist foo").await;
        seen.push(format!(
            "{:?} {:?} {:?} {:?}",
            first.read().await,
            second.read().await,
            c.run("LRANGE blist 0 -1").await,
            c.run("LRANGE other 0 -1").await
        ));
    }
    assert_eq!(seen[0], seen[1]);
}
