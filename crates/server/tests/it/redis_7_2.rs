//! What Redis 7.2 added to commands Redis 7.0 has, which the node answers because it reports
//! 7.2.0 by default (`--compat-version`): ZRANK/ZREVRANK WITHSCORE, CLIENT NO-TOUCH, XINFO's
//! consumer activity times. There is no 7.2 redis-server here to compare with, so replies are
//! checked against Redis 7.2's documented ones; a node reporting 7.0.15 is compared with
//! redis-server 7.0 for the same commands (the 7.0 answers must not change).

use std::time::Duration;

use resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{bulk, err, simple, Node, RedisServer};

/// The raw reply bytes of one command (to tell `*-1` from `$-1`).
async fn raw_reply(node: &Node, line: &str) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let args: Vec<Vec<u8>> = line.split(' ').map(|a| a.as_bytes().to_vec()).collect();
    let mut buf = Vec::new();
    resp::request::encode_command(&args, &mut buf);
    s.write_all(&buf).await.unwrap();
    let mut out = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
        .await
        .unwrap()
        .unwrap();
    out.truncate(n);
    out
}

#[tokio::test]
async fn zrank_withscore_as_redis_7_2() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.run("ZADD z 1 a 2.5 b 3 c -inf m").await;
    let ranked = |rank: i64, score: &str| Frame::Array(vec![Frame::Integer(rank), bulk(score)]);
    assert_eq!(c.run("ZRANK z b WITHSCORE").await, ranked(2, "2.5"));
    assert_eq!(c.run("ZREVRANK z b withscore").await, ranked(1, "2.5"));
    assert_eq!(c.run("ZRANK z m WITHSCORE").await, ranked(0, "-inf"));
    assert_eq!(c.run("ZRANK z a").await, Frame::Integer(1));
    // A missing member or key: a null array with WITHSCORE, a null bulk without.
    assert_eq!(raw_reply(&node, "ZRANK z nope WITHSCORE").await, b"*-1\r\n");
    assert_eq!(
        raw_reply(&node, "ZREVRANK nokey a WITHSCORE").await,
        b"*-1\r\n"
    );
    assert_eq!(raw_reply(&node, "ZRANK z nope").await, b"$-1\r\n");
    // Errors: the option's spelling, too many arguments, the key's type.
    assert_eq!(c.run("ZRANK z a WITHSCORES").await, err("ERR syntax error"));
    assert_eq!(
        c.run("ZRANK z a WITHSCORE x").await,
        err("ERR wrong number of arguments for 'zrank' command")
    );
    c.run("SET s x").await;
    assert!(
        matches!(c.run("ZRANK s a WITHSCORE").await, Frame::Error(e) if e.starts_with("WRONGTYPE"))
    );
    // RESP3: the score is a double.
    c.run("HELLO 3").await;
    assert_eq!(
        c.run("ZRANK z c WITHSCORE").await,
        Frame::Array(vec![Frame::Integer(3), Frame::Double("3".into())])
    );
    assert_eq!(c.run("ZRANK z nope WITHSCORE").await, Frame::Null);
}

#[tokio::test]
async fn zrank_takes_no_withscore_as_redis_7_0() {
    let redis = RedisServer::start().await;
    let node = Node::start_as_redis_7_0().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in [
        "ZADD z 1 a 2 b",
        "ZRANK z b WITHSCORE",
        "ZREVRANK z b WITHSCORE",
        "ZRANK z b",
        "ZRANK z",
        // Refused while queued, as 7.0's arity says.
        "MULTI",
        "ZREVRANK z b WITHSCORE",
        "EXEC",
        "COMMAND GETKEYS ZRANK z b WITHSCORE",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
}

/// Under allkeys-lfu a key's OBJECT FREQ moves on every read while its counter is at the
/// initial 5 (the first increment is certain): a read that does not move it did not touch.
#[tokio::test]
async fn client_no_touch_leaves_access_data_alone() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let mut other = node.client().await;
    c.run("CONFIG SET maxmemory-policy allkeys-lfu").await;
    c.run("SET k v").await;
    assert_eq!(c.run("OBJECT FREQ k").await, Frame::Integer(5));
    assert_eq!(c.run("CLIENT NO-TOUCH ON").await, simple("OK"));
    for _ in 0..20 {
        assert_eq!(c.run("GET k").await, bulk("v"));
    }
    c.run("APPEND k w").await;
    c.run("EVAL return(redis.call('get',KEYS[1])) 1 k").await;
    assert_eq!(c.run("OBJECT FREQ k").await, Frame::Integer(5));
    let Frame::Bulk(info) = c.run("CLIENT INFO").await else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    assert!(info.contains(" flags=T "), "{info}");
    // TOUCH still touches; so does another client.
    assert_eq!(c.run("TOUCH k").await, Frame::Integer(1));
    assert_eq!(c.run("OBJECT FREQ k").await, Frame::Integer(6));
    c.run("SET j v").await;
    other.run("GET j").await;
    assert_eq!(c.run("OBJECT FREQ j").await, Frame::Integer(6));
    // Off again, and RESET turns it off.
    assert_eq!(c.run("CLIENT NO-TOUCH OFF").await, simple("OK"));
    c.run("SET i v").await;
    c.run("GET i").await;
    assert_eq!(c.run("OBJECT FREQ i").await, Frame::Integer(6));
    c.run("CLIENT NO-TOUCH on").await;
    c.run("RESET").await;
    let Frame::Bulk(info) = c.run("CLIENT INFO").await else {
        panic!()
    };
    assert!(String::from_utf8(info).unwrap().contains(" flags=N "));
    assert_eq!(
        c.run("CLIENT NO-TOUCH maybe").await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.run("CLIENT NO-TOUCH").await,
        err("ERR wrong number of arguments for 'client|no-touch' command")
    );
}

fn field(map: &Frame, name: &str) -> Frame {
    let Frame::Array(items) = map else {
        panic!("{map:?}")
    };
    let at = items
        .iter()
        .position(|f| *f == bulk(name))
        .unwrap_or_else(|| panic!("no {name} in {map:?}"));
    items[at + 1].clone()
}

fn int(f: Frame) -> i64 {
    match f {
        Frame::Integer(i) => i,
        other => panic!("{other:?}"),
    }
}

/// Redis 7.2's `inactive` (XINFO CONSUMERS) and `active-time` (XINFO STREAM FULL): the time
/// of a consumer's last delivery or claim, -1 before any. When consumers are created stays
/// 7.0's (XREADGROUP only when it serves something, XCLAIM on its first claim): Redis 7.0's
/// own test suite checks that, and 7.2 changed it.
#[tokio::test]
async fn xinfo_reports_consumer_activity_as_redis_7_2() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.run("XGROUP CREATE s g $ MKSTREAM").await;
    c.run("XGROUP CREATECONSUMER s g alice").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let Frame::Array(consumers) = c.run("XINFO CONSUMERS s g").await else {
        panic!()
    };
    assert!(int(field(&consumers[0], "idle")) >= 100);
    assert_eq!(field(&consumers[0], "inactive"), Frame::Integer(-1));
    // She gets an entry: active now.
    c.run("XADD s 1-1 f v").await;
    c.run("XREADGROUP GROUP g alice COUNT 1 STREAMS s >").await;
    let Frame::Array(consumers) = c.run("XINFO CONSUMERS s g").await else {
        panic!()
    };
    assert!(int(field(&consumers[0], "idle")) < 100);
    assert!((0..100).contains(&int(field(&consumers[0], "inactive"))));
    // Asking again without getting anything does not make her active.
    tokio::time::sleep(Duration::from_millis(120)).await;
    c.run("XREADGROUP GROUP g alice COUNT 1 STREAMS s >").await;
    let Frame::Array(consumers) = c.run("XINFO CONSUMERS s g").await else {
        panic!()
    };
    assert!(int(field(&consumers[0], "inactive")) >= 100);
    // Bob claims her entry: active.
    c.run("XCLAIM s g bob 0 1-1").await;
    let Frame::Array(full) = c.run("XINFO STREAM s FULL").await else {
        panic!()
    };
    let Frame::Array(groups) = field(&Frame::Array(full), "groups") else {
        panic!()
    };
    let Frame::Array(consumers) = field(&groups[0], "consumers") else {
        panic!()
    };
    let Frame::Array(bob) = &consumers[1] else {
        panic!()
    };
    let keys: Vec<Frame> = bob.iter().step_by(2).cloned().collect();
    let expected: Vec<Frame> = ["name", "seen-time", "active-time", "pel-count", "pending"]
        .into_iter()
        .map(bulk)
        .collect();
    assert_eq!(keys, expected);
    let bob = Frame::Array(bob.clone());
    assert_eq!(field(&bob, "name"), bulk("bob"));
    assert_eq!(field(&bob, "active-time"), field(&bob, "seen-time"));
    // Alice was last seen when she was last served: reads that find nothing leave her
    // alone (7.0's rule).
    assert_eq!(
        field(&consumers[0], "active-time"),
        field(&consumers[0], "seen-time")
    );
}
