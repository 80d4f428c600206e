//! Wire-level behaviour: malformed input, inline commands, pipelining, RESP3.

use resp::Frame;

use crate::support::{bulk, err, simple, Node, RawClient, RedisServer};

/// Sends raw bytes to both servers and returns (our replies, redis replies, our connection
/// closed, redis connection closed).
async fn raw_both(
    ours: &Node,
    redis: &RedisServer,
    bytes: &[u8],
    replies: usize,
) -> (Vec<Frame>, Vec<Frame>, bool, bool) {
    let mut results = Vec::new();
    for addr in [ours.addr, redis.addr] {
        let mut c = RawClient::connect(addr).await;
        c.send_raw(bytes).await;
        let mut got = Vec::new();
        for _ in 0..replies {
            match c.read().await {
                Some(f) => got.push(f),
                None => break,
            }
        }
        let closed = c.is_closed().await;
        results.push((got, closed));
    }
    let (b, a) = (results.pop().unwrap(), results.pop().unwrap());
    (a.0, b.0, a.1, b.1)
}

#[tokio::test]
async fn malformed_requests_get_redis_errors_and_close() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let cases: &[&[u8]] = &[
        b"*abc\r\n",
        b"*3000000000\r\n",
        b"*1\r\n+foo\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$999999999999\r\n",
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"set a \"b\r\n",
        b"set a \"b\"c\r\n",
    ];
    for case in cases {
        let (ours, theirs, ours_closed, theirs_closed) = raw_both(&node, &redis, case, 1).await;
        assert_eq!(ours, theirs, "reply to {:?}", String::from_utf8_lossy(case));
        assert_eq!(
            ours_closed,
            theirs_closed,
            "close after {:?}",
            String::from_utf8_lossy(case)
        );
        assert!(ours_closed);
    }
    // A protocol error on one connection does not disturb another.
    let mut other = node.client().await;
    assert_eq!(other.run("PING").await, simple("PONG"));
}

#[tokio::test]
async fn oversized_headers_are_refused_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let long_count = [b"*1".as_slice(), &vec![b'1'; 70 * 1024]].concat();
    let long_inline = vec![b'a'; 70 * 1024];
    let long_bulk_header = [b"*1\r\n$".as_slice(), &vec![b'1'; 70 * 1024]].concat();
    for case in [long_count, long_inline, long_bulk_header] {
        let (ours, theirs, ours_closed, theirs_closed) = raw_both(&node, &redis, &case, 1).await;
        assert_eq!(ours, theirs);
        assert!(ours_closed && theirs_closed);
    }
}

#[tokio::test]
async fn negative_and_zero_counts_are_empty_commands() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.send_raw(b"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n").await;
    assert_eq!(c.read().await, Some(simple("PONG")));
}

#[tokio::test]
async fn inline_commands_work_like_telnet() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.send_raw(b"SET greeting \"hello world\"\r\nGET greeting\nPING\r\n\r\n  \r\nECHO 'it''s'\r\n")
        .await;
    assert_eq!(c.read().await, Some(simple("OK")));
    assert_eq!(c.read().await, Some(bulk("hello world")));
    assert_eq!(c.read().await, Some(simple("PONG")));
    assert_eq!(
        c.read().await,
        Some(err("ERR Protocol error: unbalanced quotes in request"))
    );
}

#[tokio::test]
async fn pipelined_replies_arrive_in_order() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let mut wire = Vec::new();
    for i in 0..1000 {
        resp::request::encode_command(&["SET", &format!("key{i}"), &format!("{i}")], &mut wire);
        resp::request::encode_command(&["GET", &format!("key{i}")], &mut wire);
        resp::request::encode_command(&["INCR", &format!("key{i}")], &mut wire);
    }
    // Send it in awkward pieces so commands straddle reads.
    for chunk in wire.chunks(7_777) {
        c.send_raw(chunk).await;
    }
    for i in 0..1000 {
        assert_eq!(c.read().await, Some(simple("OK")));
        assert_eq!(c.read().await, Some(bulk(&i.to_string())));
        assert_eq!(c.read().await, Some(Frame::Integer(i + 1)));
    }
}

/// A keyspace past `warm`'s threshold (1 MiB), so pipelines are walked ahead and their keys
/// prefetched: mixed pipelines — long keys, commands without a key, an inline command, a
/// command split across writes, a malformed one at the end — answer as redis-server does.
#[tokio::test]
async fn pipelines_over_a_big_keyspace_answer_as_redis() {
    let ours = Node::start().await;
    let redis = RedisServer::start().await;
    let value = "v".repeat(100);
    let mut fill = Vec::new();
    for i in 0..12_000 {
        resp::request::encode_command(&["SET", &format!("k{i}"), &value], &mut fill);
    }
    let long = "L".repeat(300);
    let mut mixed = Vec::new();
    for i in 0..40 {
        resp::request::encode_command(&["GET", &format!("k{}", i * 97)], &mut mixed);
        resp::request::encode_command(&["SET", &long, &format!("{i}")], &mut mixed);
        resp::request::encode_command(&["INCR", &format!("n{}", i % 3)], &mut mixed);
        resp::request::encode_command(&["PING"], &mut mixed);
        resp::request::encode_command(&["GET", &long], &mut mixed);
        resp::request::encode_command(&["DEL", &format!("k{}", i * 7), "absent"], &mut mixed);
        resp::request::encode_command(&["EXISTS", &format!("k{}", i * 7)], &mut mixed);
    }
    mixed.extend_from_slice(b"GET k5\r\n");
    resp::request::encode_command(&["MGET", "k1", "k2", "nope"], &mut mixed);
    mixed.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$x\r\n");
    let replies = 40 * 7 + 2;
    for addr in [ours.addr, redis.addr] {
        let mut c = RawClient::connect(addr).await;
        c.send_raw(&fill).await;
        for _ in 0..12_000 {
            assert_eq!(c.read().await, Some(simple("OK")));
        }
    }
    let mut results = Vec::new();
    for addr in [ours.addr, redis.addr] {
        let mut c = RawClient::connect(addr).await;
        let (head, tail) = mixed.split_at(mixed.len() / 2 + 3);
        c.send_raw(head).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        c.send_raw(tail).await;
        let mut got = Vec::new();
        for _ in 0..replies + 1 {
            got.push(c.read().await);
        }
        got.push(Some(Frame::Boolean(c.is_closed().await)));
        results.push(got);
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn large_values_round_trip() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let big = vec![b'x'; 20 * 1024 * 1024];
    assert_eq!(
        c.cmd(&[b"SET".as_slice(), b"big", &big]).await,
        simple("OK")
    );
    assert_eq!(
        c.cmd(&["STRLEN", "big"]).await,
        Frame::Integer(big.len() as i64)
    );
    assert_eq!(c.cmd(&["GET", "big"]).await, Frame::Bulk(big));
}

#[tokio::test]
async fn resp3_reply_types() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let Frame::Map(hello) = c.run("HELLO 3").await else {
        panic!("HELLO 3 must answer a map")
    };
    assert!(hello.contains(&(bulk("proto"), Frame::Integer(3))));
    assert_eq!(c.run("GET missing").await, Frame::Null);
    assert!(matches!(c.run("CONFIG GET maxmemory").await, Frame::Map(_)));
    assert!(matches!(c.run("INFO server").await, Frame::Verbatim(..)));
    assert!(matches!(c.run("COMMAND DOCS get").await, Frame::Map(_)));
    c.run("HELLO 2").await;
    assert_eq!(c.run("GET missing").await, Frame::Null);
    assert!(matches!(
        c.run("CONFIG GET maxmemory").await,
        Frame::Array(_)
    ));
}

/// Our COMMAND INFO must equal Redis's for every command and every subcommand we implement
/// (Redis lists more subcommands; Redis 7.0 lacks CLIENT SETINFO and NO-TOUCH, which are
/// from 7.2, and takes no WITHSCORE in ZRANK).
#[tokio::test]
async fn command_metadata_matches_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let Frame::Array(our_list) = ours.run("COMMAND").await else {
        panic!()
    };
    // Redis 7.0's 240 less MODULE.
    assert_eq!(our_list.len(), 239);
    for info in our_list {
        let Frame::Array(fields) = &info else {
            panic!()
        };
        let name = fields[0].as_text().unwrap();
        let Frame::Array(mut reply) = theirs.cmd(&["COMMAND", "INFO", &name]).await else {
            panic!()
        };
        let Frame::Array(mut theirs_fields) = reply.remove(0) else {
            panic!("redis has no {name}")
        };
        // Redis 7.2 takes ZRANK/ZREVRANK ... WITHSCORE (arity -3 instead of 3).
        if name == "zrank" || name == "zrevrank" {
            assert_eq!(theirs_fields[1], Frame::Integer(3));
            theirs_fields[1] = Frame::Integer(-3);
        }
        assert_eq!(fields[..9], theirs_fields[..9], "COMMAND INFO {name}");
        let (Frame::Array(our_subs), Frame::Array(their_subs)) = (&fields[9], &theirs_fields[9])
        else {
            continue;
        };
        for sub in our_subs {
            let Frame::Array(sub) = sub else { panic!() };
            let sub_name = sub[0].as_text().unwrap();
            if sub_name == "client|setinfo" || sub_name == "client|no-touch" {
                continue;
            }
            let theirs_sub = their_subs
                .iter()
                .find(|s| matches!(s, Frame::Array(f) if f[0] == sub[0]))
                .unwrap_or_else(|| panic!("redis has no {sub_name}"));
            assert_eq!(
                &Frame::Array(sub.clone()),
                theirs_sub,
                "COMMAND INFO {sub_name}"
            );
        }
    }
}

/// LOLWUT as Redis 7.0 answers it (the node reporting 7.0.15 for the comparison): the
/// version line, VERSION 5's Schotter in Braille and VERSION 6's skyline (random drawings:
/// their shape and captions are compared), and the argument errors.
#[tokio::test]
async fn lolwut_answers_as_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start_with(server::Config {
        compat_version: "7.0.15".into(),
        ..server::Config::default()
    })
    .await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in [
        "LOLWUT",
        "LOLWUT VERSION 7",
        "LOLWUT VERSION 99",
        "LOLWUT VERSION x",
        "LOLWUT VERSION 5 x",
        "LOLWUT VERSION 6 10 x",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    for line in [
        "LOLWUT VERSION 5",
        "LOLWUT VERSION 5 40 4 6",
        "LOLWUT VERSION 6",
        "LOLWUT VERSION 6 30 10",
    ] {
        let (a, b) = (
            ours.run(line).await.as_text().unwrap(),
            theirs.run(line).await.as_text().unwrap(),
        );
        // Characters per line for Braille; coloured cells per line for the skyline.
        let shape = |t: &str| {
            t.lines()
                .map(|l| match l.matches("\x1b[0m").count() {
                    0 => l.chars().count(),
                    cells => cells,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&a), shape(&b), "{line}");
        assert_eq!(a.lines().last(), b.lines().last(), "{line}");
    }
}
