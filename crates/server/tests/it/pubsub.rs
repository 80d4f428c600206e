//! Pub/Sub across connections: channel and pattern delivery (RESP2 arrays, RESP3 pushes),
//! many subscribers on several workers, the output buffer limit cutting off a subscriber
//! that does not read, and the `redis` crate's pub/sub API.

use std::time::{Duration, Instant};

use resp::Frame;
use server::Config;

use crate::support::{bulk, Node, RawClient};

fn two_workers() -> Config {
    Config {
        threads: 2,
        ..Config::default()
    }
}

fn message(channel: &str, payload: &str) -> Frame {
    Frame::Array(vec![bulk("message"), bulk(channel), bulk(payload)])
}

#[tokio::test]
async fn messages_reach_channel_and_pattern_subscribers() {
    let node = Node::start_with(two_workers()).await;
    let (mut sub, mut publisher) = (node.client().await, node.client().await);
    sub.run("SUBSCRIBE news").await;
    sub.run("PSUBSCRIBE n*").await;
    assert_eq!(publisher.run("PUBLISH news hello").await, Frame::Integer(2));
    assert_eq!(publisher.run("PUBLISH other x").await, Frame::Integer(0));
    assert_eq!(sub.read().await.unwrap(), message("news", "hello"));
    assert_eq!(
        sub.read().await.unwrap(),
        Frame::Array(vec![
            bulk("pmessage"),
            bulk("n*"),
            bulk("news"),
            bulk("hello")
        ])
    );
    assert_eq!(
        publisher.run("PUBSUB NUMSUB news other").await,
        Frame::Array(vec![
            bulk("news"),
            Frame::Integer(1),
            bulk("other"),
            Frame::Integer(0)
        ])
    );
    assert_eq!(publisher.run("PUBSUB NUMPAT").await, Frame::Integer(1));
    assert_eq!(
        publisher.run("PUBSUB CHANNELS").await,
        Frame::Array(vec![bulk("news")])
    );
    // Gone when the subscriber disconnects.
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.run("PUBLISH news bye").await != Frame::Integer(0) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(publisher.run("PUBSUB NUMPAT").await, Frame::Integer(0));
}

#[tokio::test]
async fn resp3_subscribers_get_pushes_and_keep_running_commands() {
    let node = Node::start_with(two_workers()).await;
    let (mut sub, mut publisher) = (node.client().await, node.client().await);
    sub.run("HELLO 3").await;
    assert_eq!(
        sub.run("SUBSCRIBE c").await,
        Frame::Push(vec![bulk("subscribe"), bulk("c"), Frame::Integer(1)])
    );
    // RESP3 allows ordinary commands in subscribed mode.
    assert_eq!(sub.run("SET k v").await, Frame::Simple("OK".into()));
    publisher.run("PUBLISH c m").await;
    assert_eq!(
        sub.read().await.unwrap(),
        Frame::Push(vec![bulk("message"), bulk("c"), bulk("m")])
    );
    assert_eq!(sub.run("GET k").await, bulk("v"));
}

/// 40 subscribers spread over both workers each receive all 200 messages, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_gets_every_message_in_order() {
    let node = Node::start_with(two_workers()).await;
    let mut subs = Vec::new();
    for _ in 0..40 {
        let mut c = node.client().await;
        c.run("SUBSCRIBE feed").await;
        subs.push(c);
    }
    let mut publisher = node.client().await;
    for i in 0..200 {
        assert_eq!(
            publisher.cmd(&["PUBLISH", "feed", &i.to_string()]).await,
            Frame::Integer(40)
        );
    }
    let tasks: Vec<_> = subs
        .into_iter()
        .map(|mut c: RawClient| {
            tokio::spawn(async move {
                for i in 0..200 {
                    assert_eq!(c.read().await.unwrap(), message("feed", &i.to_string()));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// A subscriber that never reads is disconnected once what waits for it passes the pubsub
/// output buffer limit; the publisher and the server carry on.
#[tokio::test]
async fn a_subscriber_that_does_not_read_is_cut_off() {
    let node = Node::start_with(two_workers()).await;
    let (mut slow, mut publisher) = (node.client().await, node.client().await);
    publisher
        .cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 256kb 60",
        ])
        .await;
    slow.run("SUBSCRIBE firehose").await;
    let payload = "x".repeat(4096);
    let mut cut_off = false;
    // The kernel's socket buffers absorb a few MB before anything waits in the server.
    for _ in 0..20_000 {
        if publisher.cmd(&["PUBLISH", "firehose", &payload]).await == Frame::Integer(0) {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the slow subscriber was never disconnected");
    let Frame::Bulk(info) = publisher.run("INFO stats").await else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    // What was written before the cut is still readable; then the connection ends.
    let mut buf = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        loop {
            match slow.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the slow subscriber's connection stayed open"
    );
    assert_eq!(
        publisher.run("PUBSUB NUMSUB firehose").await,
        Frame::Array(vec![bulk("firehose"), Frame::Integer(0)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_pubsub_api() {
    let node = Node::start_with(two_workers()).await;
    let url = format!("redis://{}/", node.addr);
    let subscriber = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let client = redis::Client::open(url).unwrap();
            let mut con = client.get_connection().unwrap();
            let mut ps = con.as_pubsub();
            ps.subscribe("orders").unwrap();
            ps.psubscribe("audit.*").unwrap();
            ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            while got.len() < 2 {
                let m = ps.get_message().unwrap();
                let payload: String = m.get_payload().unwrap();
                got.push((m.get_channel_name().to_string(), payload));
            }
            got
        }
    });
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = redis::cmd("PUBSUB")
            .arg("NUMPAT")
            .query_async(&mut con)
            .await
            .unwrap();
        let subs: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("orders")
            .query_async(&mut con)
            .await
            .unwrap();
        if n == 1 && subs.get(1) == Some(&redis::Value::Int(1)) {
            break;
        }
        assert!(Instant::now() < deadline, "subscriber never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let n: i64 = redis::cmd("PUBLISH")
        .arg("orders")
        .arg("o-1")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let _: i64 = redis::cmd("PUBLISH")
        .arg("audit.login")
        .arg("alice")
        .query_async(&mut con)
        .await
        .unwrap();
    let got = subscriber.await.unwrap();
    assert_eq!(
        got,
        vec![
            ("orders".to_string(), "o-1".to_string()),
            ("audit.login".to_string(), "alice".to_string())
        ]
    );
}

/// CLIENT LIST shows subscriptions, transactions and blocked clients as Redis does.
#[tokio::test]
async fn client_list_shows_pubsub_multi_and_blocked_clients() {
    let node = Node::start_with(two_workers()).await;
    let (mut sub, mut tx, mut blocked, mut admin) = (
        node.client().await,
        node.client().await,
        node.client().await,
        node.client().await,
    );
    sub.run("SUBSCRIBE a b").await;
    sub.read().await.unwrap(); // the confirmation for b
    sub.run("PSUBSCRIBE p*").await;
    tx.run("MULTI").await;
    tx.run("SET k v").await;
    tx.run("GET k").await;
    blocked.send(&["BLPOP", "nothing", "0"]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let Frame::Bulk(t) = admin.run("CLIENT LIST").await else {
            panic!()
        };
        let t = String::from_utf8(t).unwrap();
        if t.contains("flags=b ") || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        text.contains(" flags=P db=0 sub=2 psub=1 ssub=0 multi=-1 "),
        "{text}"
    );
    assert!(
        text.contains(" flags=x db=0 sub=0 psub=0 ssub=0 multi=2 "),
        "{text}"
    );
    assert!(
        text.contains(" flags=b db=0 sub=0 psub=0 ssub=0 multi=-1 "),
        "{text}"
    );
    let Frame::Bulk(only) = admin.run("CLIENT LIST TYPE pubsub").await else {
        panic!()
    };
    let only = String::from_utf8(only).unwrap();
    assert_eq!(only.lines().count(), 1, "{only}");
    assert!(only.contains("flags=P"));
}

/// Sharded pub/sub against redis-server, frame for frame: SSUBSCRIBE counts only shard
/// subscriptions, SPUBLISH reaches shard subscribers only (and PUBLISH does not), PUBSUB
/// SHARDCHANNELS / SHARDNUMSUB, SUNSUBSCRIBE with and without names, the RESP2 subscribed
/// mode, RESP3 pushes.
#[tokio::test]
async fn sharded_pubsub_matches_redis() {
    let redis = crate::support::RedisServer::start().await;
    let node = Node::start().await;
    let mut transcripts = Vec::new();
    for (mut s, mut p) in [
        (node.client().await, node.client().await),
        (redis.client().await, redis.client().await),
    ] {
        let mut t: Vec<Frame> = Vec::new();
        s.send(&["SUBSCRIBE", "a"]).await;
        t.push(s.read().await.unwrap());
        s.send(&["SSUBSCRIBE", "b", "c", "b"]).await;
        for _ in 0..3 {
            t.push(s.read().await.unwrap());
        }
        t.push(p.run("SPUBLISH b hi").await);
        t.push(s.read().await.unwrap());
        t.push(p.run("PUBLISH b hi2").await);
        t.push(p.run("SPUBLISH a nobody").await);
        t.push(p.run("PUBSUB SHARDNUMSUB b x").await);
        t.push(p.run("PUBSUB SHARDCHANNELS c*").await);
        t.push(p.run("PUBSUB CHANNELS").await);
        t.push(s.run("GET x").await);
        s.send(&["SUNSUBSCRIBE", "b", "zz"]).await;
        t.push(s.read().await.unwrap());
        t.push(s.read().await.unwrap());
        s.send(&["SUNSUBSCRIBE"]).await;
        t.push(s.read().await.unwrap());
        s.send(&["SUNSUBSCRIBE"]).await;
        t.push(s.read().await.unwrap());
        s.send(&["UNSUBSCRIBE"]).await;
        t.push(s.read().await.unwrap());
        t.push(s.run("PING").await);
        t.push(p.run("HELLO 3").await.map_len());
        p.send(&["SSUBSCRIBE", "r"]).await;
        t.push(p.read().await.unwrap());
        t.push(s.run("SPUBLISH r x").await);
        t.push(p.read().await.unwrap());
        t.push(p.run("GET x").await);
        transcripts.push(t);
    }
    assert_eq!(transcripts[0], transcripts[1]);
}

trait MapLen {
    /// A HELLO reply reduced to its size (the server identity differs).
    fn map_len(self) -> Frame;
}

impl MapLen for Frame {
    fn map_len(self) -> Frame {
        match self {
            Frame::Map(m) => Frame::Integer(m.len() as i64),
            other => other,
        }
    }
}

/// (Un)subscribing confirmations are pushes: CLIENT REPLY OFF does not silence them, in
/// RESP2 or RESP3, while an ordinary reply stays silenced — what arrives compared with
/// redis-server.
#[tokio::test]
async fn subscribe_confirmations_pass_client_reply_off_like_redis() {
    let node = crate::support::Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let mut seen = Vec::new();
    for resp3 in [false, true] {
        for addr in [node.addr, redis.addr] {
            let mut c = crate::support::RawClient::connect(addr).await;
            if resp3 {
                c.run("HELLO 3").await;
            }
            let mut got = Vec::new();
            c.send(&["CLIENT", "REPLY", "OFF"]).await;
            c.send(&["SUBSCRIBE", "a", "b"]).await;
            for _ in 0..2 {
                got.push(format!("{:?}", c.read().await));
            }
            c.send(&["PSUBSCRIBE", "p*"]).await;
            got.push(format!("{:?}", c.read().await));
            c.send(&["UNSUBSCRIBE", "a"]).await;
            got.push(format!("{:?}", c.read().await));
            // An ordinary reply (PING) is silenced; the next confirmation is what arrives.
            c.send(&["PING"]).await;
            c.send(&["PUNSUBSCRIBE"]).await;
            got.push(format!("{:?}", c.read().await));
            seen.push(got);
        }
        assert_eq!(seen[seen.len() - 2], seen[seen.len() - 1], "resp3={resp3}");
    }
}
