//! Streams against a real redis-server: the same commands, the same replies (curated edge
//! cases in RESP2 and RESP3; generated sequences that split nodes and trim approximately,
//! where Redis's node boundaries show), DUMP payloads both ways, and blocking reads.

use std::time::Duration;

use resp::Frame;

use crate::support::{
    assert_cases_match, bulk, compare, split_quoted, Node, RawClient, RedisServer,
};

/// Edge cases with explicit IDs only (automatic ones come from each server's clock), and
/// no reply that shows a time (idle times, seen times).
const CASES: &str = r#"
XADD s 1-1 a 1
XADD s 1-2 a 2 b 3
XADD s 1-2 a 2
XADD s 0-0 a 1
XADD s 0 a 1
XADD s 1 a 1
XADD s 1-* a 1
XADD s 2-* f v
XADD s 3 f v
XADD s 3-x f v
XADD s 18446744073709551616 f v
XADD s -1 f v
XLEN s
XRANGE s - +
XRANGE s - + COUNT 2
XRANGE s - + COUNT 0
XRANGE s - + COUNT -1
XRANGE s (1-1 +
XRANGE s 1 1
XRANGE s (0-0 (3-0
XREVRANGE s + -
XREVRANGE s + - COUNT 1
XREVRANGE s (3 -
XRANGE s - + COUNT
XRANGE s - + FOO 1
XRANGE s a +
XRANGE s (- +
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE nokey - +
XLEN nokey
SET str x
XLEN str
XADD str 1-1 a 1
XRANGE str - +
XADD s 5-0 a
XADD s
XADD s 5-0
XADD s MAXLEN 2 5-0 a 1
XRANGE s - +
XADD s MAXLEN ~ 2 6-0 a 1
XADD s MAXLEN = 2 7-0 a 1
XADD s MAXLEN -1 8-0 a 1
XADD s MAXLEN abc 8-0 a 1
XADD s MAXLEN 1 MINID 1 8-0 a 1
XADD s LIMIT 10 8-0 a 1
XADD s MAXLEN 2 LIMIT 10 8-0 a 1
XADD s MAXLEN ~ 2 LIMIT -1 8-0 a 1
XADD s MAXLEN ~ 2 LIMIT 10 8-0 a 1
XADD s MINID 7 9-0 a 1
XADD s MINID ~ 7 10-0 a 1
XRANGE s - +
XADD s NOMKSTREAM 11-0 a 1
XADD nostream NOMKSTREAM 10-0 a 1
EXISTS nostream
XADD s 18446744073709551615-18446744073709551615 a 1
XADD s 18446744073709551615-* a 1
XADD s 5-5 a 1
XDEL s 9-0 10-0 11-0 12-0
XDEL s abc
XDEL nokey 1-0
XDEL str 1-0
XLEN s
XINFO STREAM s
XTRIM s MAXLEN 0
XTRIM s
XTRIM s FOO
XTRIM s MAXLEN
XTRIM nokey MAXLEN 0
XTRIM str MAXLEN 0
XINFO STREAM s
XADD t 1-0 a 1
XADD t 2-0 a 1
XADD t 3-0 a 1
XADD t 4-0 b 2 c 3
XTRIM t MINID 2
XRANGE t - +
XTRIM t MAXLEN ~ 0
XTRIM t MAXLEN 1 LIMIT 1
XTRIM t MAXLEN ~ 1 LIMIT 1
XSETID t 5-0
XSETID t 1-0
XSETID t 5-0 ENTRIESADDED 0
XSETID t 5-0 ENTRIESADDED -1
XSETID t 5-0 ENTRIESADDED 10 MAXDELETEDID 6-0
XSETID t 6-0 ENTRIESADDED 10 MAXDELETEDID 6-0
XSETID nokey 1-0
XSETID str 1-0
XSETID t 1-0 FOO
XSETID t + 
XINFO STREAM t
XINFO STREAM nokey
XINFO STREAM str
XINFO STREAM t FOO
XINFO STREAM t FULL COUNT
XINFO GROUPS t
XINFO GROUPS nokey
XINFO HELP
XINFO HELP extra
XINFO
XINFO FOO t
XGROUP CREATE t g 0
XGROUP CREATE t g 0
XGROUP CREATE t g2 $
XGROUP CREATE nokey g 0
XGROUP CREATE str g 0
XGROUP CREATE nokey2 g 0 MKSTREAM
XGROUP CREATE t g3 0 ENTRIESREAD 5
XGROUP CREATE t g4 0 ENTRIESREAD -5
XGROUP CREATE t g5 0 FOO
XGROUP CREATE t g6 abc
XGROUP CREATE t g7 + 
XINFO GROUPS t
XINFO STREAM nokey2
XREADGROUP GROUP g c1 COUNT 1 STREAMS t >
XREADGROUP GROUP g c1 STREAMS t >
XREADGROUP GROUP g c1 STREAMS t 0
XREADGROUP GROUP g c2 STREAMS t 0
XREADGROUP GROUP g c1 STREAMS t $
XREADGROUP GROUP nog c1 STREAMS t >
XREADGROUP GROUP g c1 STREAMS nokey >
XREADGROUP STREAMS t >
XREADGROUP GROUP g c1 STREAMS t
XREADGROUP GROUP g c1 NOACK STREAMS t 0
XREAD GROUP g c STREAMS t >
XREAD STREAMS t 0
XREAD COUNT 1 STREAMS t 0
XREAD COUNT -1 STREAMS t 0
XREAD STREAMS t $
XREAD STREAMS t >
XREAD STREAMS t
XREAD STREAMS t nokey 0 0
XREAD STREAMS nokey 0
XREAD STREAMS str 0
XREAD NOACK STREAMS t 0
XREAD BLOCK -1 STREAMS t 0
XREAD BLOCK abc STREAMS t 0
XREAD FOO STREAMS t 0
XPENDING t g
XPENDING t g - + 10 nobody
XPENDING t g IDLE 0 - + 
XPENDING t nog
XPENDING nokey g
XPENDING str g
XPENDING t g - +
XPENDING t g - + abc
XPENDING t g (- + 10
XACK t g 3-0
XACK t g 3-0
XACK t nog 1-0
XACK nokey g 1-0
XACK str g 1-0
XACK t g abc
XPENDING t g
XINFO CONSUMERS t nog
XINFO CONSUMERS nokey g
XGROUP CREATECONSUMER t g c3
XGROUP CREATECONSUMER t g c3
XGROUP CREATECONSUMER t nog c3
XGROUP CREATECONSUMER nokey g c3
XGROUP DELCONSUMER t g c3
XGROUP DELCONSUMER t g nobody
XGROUP DELCONSUMER t nog c
XGROUP SETID t g 0
XGROUP SETID t g $ ENTRIESREAD 2
XGROUP SETID t g 0 ENTRIESREAD
XGROUP SETID t g 0 MKSTREAM
XGROUP SETID t nog 0
XGROUP SETID nokey g 0
XINFO GROUPS t
XGROUP DESTROY t g2
XGROUP DESTROY t g2
XGROUP DESTROY nokey g2
XGROUP HELP
XGROUP FOO
XGROUP CREATE t
XGROUP DESTROY t
XADD u 1-0 a 1
XADD u 2-0 b 2
XADD u 3-0 c 3
XGROUP CREATE u g 0
XREADGROUP GROUP g alice STREAMS u >
XCLAIM u g bob 0 1-0
XCLAIM u g bob 0 1-0 JUSTID
XCLAIM u g bob 0 5-0 FORCE
XCLAIM u g bob 0 2-0 RETRYCOUNT 7 JUSTID
XCLAIM u g bob 0 1-0 FOO
XCLAIM u g bob abc 1-0
XCLAIM u nog bob 0 1-0
XCLAIM nokey g bob 0 1-0
XCLAIM u g bob 0 1-0 IDLE abc
XCLAIM u g bob 0 1-0 TIME abc
XCLAIM u g bob 0 1-0 RETRYCOUNT abc
XCLAIM u g bob 0 1-0 LASTID abc
XCLAIM u g bob 3600000 1-0
XAUTOCLAIM u g carol 0 0
XAUTOCLAIM u g carol 0 0 COUNT 1
XAUTOCLAIM u g carol 0 0 COUNT 0
XAUTOCLAIM u g carol 0 0 COUNT abc
XAUTOCLAIM u g carol 0 0 JUSTID
XAUTOCLAIM u g carol 0 0 FOO
XAUTOCLAIM u g carol 0 (0
XAUTOCLAIM u g carol 0 (18446744073709551615-18446744073709551615
XAUTOCLAIM u g carol abc 0
XAUTOCLAIM u nog carol 0 0
XAUTOCLAIM nokey g carol 0 0
XDEL u 1-0
XAUTOCLAIM u g dave 0 0
XPENDING u g
XINFO STREAM u
TYPE u
OBJECT ENCODING u
XGROUP CREATE str g 0
COPY u u2
XRANGE u2 - +
XPENDING u2 g
RENAME u u3
XPENDING u3 g
DEL u3
XINFO STREAM u3
"#;

#[tokio::test]
async fn stream_commands_match_redis() {
    let redis = RedisServer::start().await;
    for resp3 in [false, true] {
        let node = Node::start_as_redis_7_0().await;
        let mut c = redis.client().await;
        c.run("FLUSHALL").await;
        assert_cases_match(&node, &redis, CASES, split_quoted, resp3).await;
    }
}

/// A sequence that splits nodes by entries and by bytes, deletes, and trims approximately:
/// where approximate trimming stops depends on Redis's node boundaries, and the node count
/// shows in XINFO.
fn node_sequence() -> String {
    let mut s = String::from("CONFIG SET stream-node-max-entries 10\n");
    let values = ["1", "abc", "-5", "99999999999", "3.5", ""];
    let mut seed: u64 = 7;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for i in 1..300u64 {
        let fields = 1 + next(3);
        let mut line = format!("XADD big {i}-{} ", next(4));
        for f in 0..fields {
            let v = if next(4) == 0 {
                "x".repeat(next(90) as usize)
            } else {
                values[next(values.len() as u64) as usize].to_string()
            };
            let v = if v.is_empty() { "\"\"".to_string() } else { v };
            line.push_str(&format!("f{f} {v} "));
        }
        s.push_str(line.trim_end());
        s.push('\n');
        if i % 37 == 0 {
            s.push_str(&format!("XDEL big {}-0 {}-1 {}-2\n", i - 5, i - 3, i - 2));
        }
        if i % 50 == 0 {
            s.push_str("XINFO STREAM big\n");
        }
    }
    s.push_str(
        "XADD big MAXLEN ~ 100 1000-0 a 1\nXINFO STREAM big\nXADD big MINID ~ 150 1001-0 a 1\n\
         XINFO STREAM big\nXTRIM big MAXLEN ~ 50 LIMIT 10\nXTRIM big MAXLEN ~ 50 LIMIT 30\n\
         XINFO STREAM big\nXTRIM big MINID 200\nXRANGE big - + COUNT 5\nXREVRANGE big + - COUNT 5\n\
         CONFIG SET stream-node-max-bytes 200\n",
    );
    for i in 2000..2100 {
        s.push_str(&format!(
            "XADD big {i}-0 field{} {}\n",
            i % 3,
            "v".repeat(1 + i % 50)
        ));
    }
    s.push_str("XINFO STREAM big\nXTRIM big MAXLEN ~ 30\nXINFO STREAM big\nXRANGE big - +\n");
    s.push_str("CONFIG SET stream-node-max-bytes 0\nCONFIG SET stream-node-max-entries 0\n");
    for i in 3000..3300 {
        s.push_str(&format!("XADD big {i}-0 f {i}\n"));
    }
    s.push_str("XINFO STREAM big\nXTRIM big MAXLEN ~ 10\nXLEN big\n");
    s
}

#[tokio::test]
async fn node_splits_and_approximate_trims_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start_as_redis_7_0().await;
    assert_cases_match(&node, &redis, &node_sequence(), split_quoted, false).await;
}

/// A stream with tombstones, groups, pending entries and consumers, built with commands.
const STREAM_SETUP: &str = r#"
XADD ds 1-1 name alice n 1
XADD ds 1-2 name bob n 2
XADD ds 2-0 other field
XADD ds 3-0 name carol n 3
XDEL ds 1-2
XGROUP CREATE ds g1 0
XGROUP CREATE ds g2 $ ENTRIESREAD 4
XREADGROUP GROUP g1 c1 COUNT 2 STREAMS ds >
XREADGROUP GROUP g1 c2 STREAMS ds >
XGROUP CREATECONSUMER ds g2 idle
"#;

async fn run_lines(c: &mut RawClient, lines: &str) {
    for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let reply = c.cmd(&split_quoted(l)).await;
        assert!(!matches!(reply, Frame::Error(_)), "{l}: {reply:?}");
    }
}

/// DUMP on one server, RESTORE on the other, both ways: same entries (DEBUG DIGEST-VALUE),
/// same metadata, groups, pending lists and consumers (XINFO STREAM FULL: the times
/// travel in the payload).
#[tokio::test]
async fn dump_payloads_of_streams_interoperate_with_redis() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]).await;
    let node = Node::start_as_redis_7_0().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for ours_first in [true, false] {
        let (from, to, name) = if ours_first {
            (&mut ours, &mut theirs, "ours")
        } else {
            (&mut theirs, &mut ours, "redis")
        };
        from.run("FLUSHALL").await;
        to.run("FLUSHALL").await;
        run_lines(from, STREAM_SETUP).await;
        let Frame::Bulk(payload) = from.run("DUMP ds").await else {
            panic!("DUMP of {name}'s stream")
        };
        let restored = to
            .cmd(&[
                b"RESTORE".to_vec(),
                b"ds".to_vec(),
                b"0".to_vec(),
                payload.to_vec(),
            ])
            .await;
        assert_eq!(
            restored,
            Frame::Simple("OK".into()),
            "RESTORE of {name}'s DUMP"
        );
        for probe in [
            "DEBUG DIGEST-VALUE ds",
            "XINFO STREAM ds FULL",
            "XINFO STREAM ds",
            "XPENDING ds g1",
            "XINFO GROUPS ds",
        ] {
            let args = split_quoted(probe);
            let (a, b) = (from.cmd(&args).await, to.cmd(&args).await);
            assert_eq!(a, b, "{probe} after RESTORE of {name}'s DUMP");
        }
    }
    // A corrupt payload is refused, never loaded.
    let Frame::Bulk(payload) = ours.run("DUMP ds").await else {
        panic!()
    };
    let mut bad = payload.to_vec();
    let at = bad.len() / 2;
    bad[at] ^= 0x5a;
    let reply = ours
        .cmd(&[b"RESTORE".to_vec(), b"bad".to_vec(), b"0".to_vec(), bad])
        .await;
    assert!(matches!(reply, Frame::Error(_)), "{reply:?}");
    // DEBUG RELOAD: through our own snapshot and back.
    let before = ours.run("XINFO STREAM ds FULL").await;
    assert_eq!(ours.run("DEBUG RELOAD").await, Frame::Simple("OK".into()));
    assert_eq!(ours.run("XINFO STREAM ds FULL").await, before);
}

/// Every bulk string in a reply, as text.
fn texts(f: &Frame) -> Vec<String> {
    match f {
        Frame::Bulk(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Frame::Array(items) | Frame::Set(items) => items.iter().flat_map(texts).collect(),
        Frame::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| texts(k).into_iter().chain(texts(v)))
            .collect(),
        _ => Vec::new(),
    }
}

async fn blocked_clients(c: &mut RawClient, n: i64) {
    for _ in 0..200 {
        if let Frame::Bulk(info) = c.run("INFO clients").await {
            let text = String::from_utf8_lossy(&info).into_owned();
            if text.contains(&format!("blocked_clients:{n}\r")) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never {n} blocked clients");
}

/// `XREADGROUP GROUP g alice BLOCK 0 STREAMS s >` on `reader`, once `c` sees it blocked.
async fn block_as_alice(reader: &mut RawClient, c: &mut RawClient) {
    reader
        .send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ])
        .await;
    blocked_clients(c, 1).await;
}

#[tokio::test]
async fn blocked_reads_are_served_by_xadd_and_ended_by_deletion() {
    let node = Node::start_as_redis_7_0().await;
    let mut c = node.client().await;
    let mut reader = node.client().await;
    // XREAD $ waits for the next entry and gets only it.
    c.run("XADD s 1-0 old 1").await;
    reader
        .send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
        .await;
    blocked_clients(&mut c, 1).await;
    c.run("XDEL s 1-0").await; // no new entry: the reader waits on
    c.run("XADD s 2-0 new 2").await;
    let got = reader.read().await.unwrap();
    let Frame::Array(streams) = &got else {
        panic!("{got:?}")
    };
    let Frame::Array(s0) = &streams[0] else {
        panic!()
    };
    assert_eq!(s0[0], bulk("s"));
    let got = texts(&got);
    assert!(
        got.contains(&"2-0".to_string()) && !got.contains(&"1-0".to_string()),
        "{got:?}"
    );
    // A group reader blocked on `>` gets the new entry into its pending list.
    c.run("XGROUP CREATE s g $").await;
    block_as_alice(&mut reader, &mut c).await;
    c.run("XADD s 3-0 f v").await;
    let got = texts(&reader.read().await.unwrap());
    assert!(got.contains(&"3-0".to_string()), "{got:?}");
    let Frame::Array(summary) = c.run("XPENDING s g").await else {
        panic!()
    };
    assert_eq!(summary[0], Frame::Integer(1));
    // Deleting the key ends a group read with Redis's error; destroying the group too.
    block_as_alice(&mut reader, &mut c).await;
    c.run("XGROUP DESTROY s g").await;
    let got = reader.read().await.unwrap();
    assert!(
        matches!(&got, Frame::Error(e) if e.starts_with("NOGROUP")),
        "{got:?}"
    );
    c.run("XGROUP CREATE s g $").await;
    block_as_alice(&mut reader, &mut c).await;
    c.run("DEL s").await;
    let got = reader.read().await.unwrap();
    assert!(
        matches!(&got, Frame::Error(e) if e.starts_with("UNBLOCKED")),
        "{got:?}"
    );
    // A timeout answers a null array; inside MULTI a blocking read does not block.
    assert_eq!(reader.run("XREAD BLOCK 20 STREAMS s $").await, Frame::Null);
    reader.run("MULTI").await;
    reader.run("XREAD BLOCK 0 STREAMS s $").await;
    assert_eq!(reader.run("EXEC").await, Frame::Array(vec![Frame::Null]));
    // In RESP3 the reply is a map of stream to entries.
    reader.run("HELLO 3").await;
    reader
        .send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
        .await;
    blocked_clients(&mut c, 1).await;
    c.run("XADD s 9-0 f v").await;
    assert!(matches!(reader.read().await.unwrap(), Frame::Map(_)));
}

/// Differential check of a blocked read's reply shape against Redis (RESP2).
#[tokio::test]
async fn a_served_blocked_read_answers_as_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start_as_redis_7_0().await;
    let mut replies = Vec::new();
    for addr in [node.client().await, redis.client().await] {
        let mut writer = addr;
        writer.run("XADD s 1-0 a 1").await;
        replies.push(writer.run("XREAD COUNT 5 STREAMS s 0").await);
    }
    assert_eq!(replies[0], replies[1]);
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    assert!(compare(
        &mut ours,
        &mut theirs,
        &split_quoted("XREAD BLOCK 10 STREAMS s 1-0")
    )
    .await
    .is_none());
}
