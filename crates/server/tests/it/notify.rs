//! Keyspace notifications against redis-server 7.0: the same commands on both, every
//! message a subscriber to `__key*__:*` receives compared in order (channel and payload),
//! under several `notify-keyspace-events` settings.

use resp::Frame;

use crate::support::{Node, RawClient, RedisServer};

/// Commands covering every event a node emits: the command's own events, `del` after an
/// emptied collection, `new`, `expired`, moves between keys, stores, pops from the first
/// non-empty key, RENAME, MSET, transactions.
const SCRIPT: &str = r#"
SET s v
SET s v EX 100
SETEX se 100 v
PSETEX spe 100000 v
SETNX s x
SETNX s2 x
GETSET s y
MSET m1 1 m2 2
MSETNX m1 1 m3 3
MSETNX m4 1 m5 2
APPEND s zz
INCR n
INCRBY n 5
DECR n
DECRBY n 2
INCRBYFLOAT f 1.5
SETRANGE s 1 abc
SETRANGE s 1 <empty>
SETBIT b 7 1
SETBIT b 7 1
BITFIELD bf SET u8 0 255
BITOP AND bdst b b
BITOP AND bempty nokey
GETEX s EX 100
GETEX s PERSIST
GETEX s PERSIST
GETDEL s2
PFADD hll a b c
PFADD hll a
PFMERGE hll2 hll
EXPIRE n 100
EXPIRE n 100 NX
PEXPIREAT n 99999999999999
PERSIST n
PERSIST n
EXPIRE m1 0
DEL m2 m3 nokey
UNLINK m4
RENAME m5 m6
RENAME m6 m6
RENAMENX m6 s
COPY m6 m7
RPUSH l a b c
LPUSH l z
LPUSHX l y
RPUSHX nolist y
LINSERT l BEFORE a x
LSET l 0 q
LPOP l
RPOP l 2
LREM l 0 x
LTRIM l 0 0
LPOP l
RPUSH src a b
LMOVE src dst LEFT RIGHT
RPOPLPUSH src dst
LMOVE nosrc dst LEFT LEFT
LMPOP 2 empty dst LEFT COUNT 1
BLPOP dst 0.01
BRPOP nolist dst 0.01
HSET h f v g w
HSET h f v
HSETNX h f x
HSETNX h n 1
HINCRBY h n 2
HINCRBYFLOAT h n 0.5
HDEL h f
HDEL h f
HDEL h g n
SADD st a b c
SADD st a
SREM st a
SREM st nope
SMOVE st st2 b
SMOVE st st2 c
SPOP st2
SADD i1 1 2 3
SADD i2 2 3 4
SINTERSTORE is i1 i2
SUNIONSTORE us i1 i2
SDIFFSTORE ds i1 i1
SDIFFSTORE is i1 i1
ZADD z 1 a 2 b 3 c
ZADD z 1 a
ZADD z INCR 5 a
ZINCRBY z 1 b
ZREM z c
ZREMRANGEBYSCORE z 100 200
ZREMRANGEBYRANK z 0 0
ZADD z2 1 x 2 y 3 z 4 w
ZREMRANGEBYLEX z2 [x [x
ZPOPMIN z2
ZPOPMAX z2
ZMPOP 1 z2 MIN COUNT 5
BZPOPMIN z 0.01
ZADD za 1 a 2 b
ZADD zb 2 b 3 c
ZUNIONSTORE zu 2 za zb
ZINTERSTORE zi 2 za zb
ZDIFFSTORE zd 2 za za
ZRANGESTORE zr za 0 -1
GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km
GEORADIUS g 15 37 200 km STORE gr
GEOSEARCHSTORE gs g FROMLONLAT 0 0 BYRADIUS 1 m
MULTI
SET t1 a
INCR t2
LPUSH t3 x
EXEC
RESTORE rs 0 "\x00\x03bar\n\x00\x17\x0b\x9c\x8a\xd0\x0c\x9e\xd5"
SET px v PX 1
"#;

fn args(line: &str) -> Vec<Vec<u8>> {
    if let Some((head, quoted)) = line.split_once('"') {
        let mut a: Vec<Vec<u8>> = head
            .split_whitespace()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        a.push(unescape(quoted.trim_end_matches('"')));
        return a;
    }
    line.split(' ')
        .map(|a| {
            if a == "<empty>" {
                Vec::new()
            } else {
                a.as_bytes().to_vec()
            }
        })
        .collect()
}

/// `\xNN`, `\n` escapes in a quoted argument.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            if b[i + 1] == b'x' && i + 3 < b.len() {
                out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                i += 4;
                continue;
            }
            if b[i + 1] == b'n' {
                out.push(b'\n');
                i += 2;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Messages a subscriber received until the sentinel, as "channel payload".
async fn drain(sub: &mut RawClient) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let Some(Frame::Array(items) | Frame::Push(items)) = sub.read().await else {
            panic!("subscriber closed");
        };
        let texts: Vec<String> = items
            .iter()
            .map(|f| f.as_text().unwrap_or_default())
            .collect();
        match texts.first().map(String::as_str) {
            Some("pmessage") if texts[2] == "sentinel" => return got,
            Some("pmessage") => got.push(format!("{} {}", texts[2], texts[3])),
            _ => {}
        }
    }
}

async fn run(client: &mut RawClient, classes: &str) {
    client
        .cmd(&["CONFIG", "SET", "notify-keyspace-events", classes])
        .await;
    client.run("FLUSHALL").await;
    for l in SCRIPT.lines().map(str::trim).filter(|l| !l.is_empty()) {
        client.cmd(&args(l)).await;
    }
    // The 1 ms key expires by the clock: touching it reclaims it (`expired`).
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    client.run("GET px").await;
    client.run("PUBLISH sentinel done").await;
}

#[tokio::test]
async fn keyspace_events_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    for classes in ["KEA", "KA", "El", "Kg$", "KEzsh", "AKEn", "Ex"] {
        let mut lists = Vec::new();
        for addr in [node.addr, redis.addr] {
            let mut c = RawClient::connect(addr).await;
            let mut sub = RawClient::connect(addr).await;
            sub.send(&["PSUBSCRIBE", "__key*__:*", "sentinel"]).await;
            sub.read().await;
            sub.read().await;
            run(&mut c, classes).await;
            lists.push(drain(&mut sub).await);
        }
        let (ours, theirs) = (&lists[0], &lists[1]);
        if ours != theirs {
            let at = ours
                .iter()
                .zip(theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(theirs.len()));
            panic!(
                "{classes}: {} vs {} messages, first difference at {at}:\n  ours:  {:?}\n  redis: {:?}",
                ours.len(),
                theirs.len(),
                &ours[at.saturating_sub(2)..(at + 4).min(ours.len())],
                &theirs[at.saturating_sub(2)..(at + 4).min(theirs.len())]
            );
        }
    }
    // Read misses (`keymiss`, class m) of read-only commands.
    let mut lists = Vec::new();
    for addr in [node.addr, redis.addr] {
        let mut c = RawClient::connect(addr).await;
        let mut sub = RawClient::connect(addr).await;
        sub.send(&["PSUBSCRIBE", "__key*__:*", "sentinel"]).await;
        sub.read().await;
        sub.read().await;
        c.run("CONFIG SET notify-keyspace-events KEm").await;
        for line in [
            "GET nope",
            "HGET nope f",
            "LRANGE nope 0 -1",
            "SET k v",
            "GET k",
            "EXISTS nope",
            "ZSCORE nope m",
            "SMEMBERS nope",
            "STRLEN nope",
        ] {
            c.run(line).await;
        }
        c.run("PUBLISH sentinel done").await;
        lists.push(drain(&mut sub).await);
    }
    assert_eq!(lists[0], lists[1], "keymiss events");
    // The setting reads back as Redis writes it; a bad class is refused with Redis's words.
    let mut ours = node.client().await;
    let mut theirs = redis.client().await;
    for line in [
        "CONFIG SET notify-keyspace-events KEA",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events g$lshzxetd",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events Kq",
        "CONFIG SET notify-keyspace-events nKmE",
        "CONFIG GET notify-keyspace-events",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
}
