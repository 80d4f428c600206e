//! HSCAN, SSCAN and ZSCAN over big collections: a real cursor (COUNT elements a call, not
//! the whole collection in one reply), and Redis's guarantee under change — every element
//! present from the first call to the last is returned at least once — while elements are
//! removed and added between the calls. Small (packed, intset) collections come back whole
//! with cursor 0, as Redis answers for a listpack or an intset.

use std::collections::HashSet;

use resp::Frame;

use crate::support::{Node, RawClient};

/// One scan call: the next cursor and the elements (for HSCAN/ZSCAN, every other item).
async fn scan_call(
    c: &mut RawClient,
    cmd: &str,
    key: &str,
    cursor: &str,
    count: usize,
    pairs: bool,
) -> (String, Vec<String>) {
    let reply = c
        .cmd(&[cmd, key, cursor, "COUNT", &count.to_string()])
        .await;
    let Frame::Array(parts) = reply else {
        panic!("{cmd}: {reply:?}")
    };
    let next = parts[0].as_text().unwrap();
    let Frame::Array(items) = &parts[1] else {
        panic!("{cmd}: {parts:?}")
    };
    let items: Vec<String> = items
        .iter()
        .step_by(if pairs { 2 } else { 1 })
        .map(|f| f.as_text().unwrap())
        .collect();
    (next, items)
}

async fn check(c: &mut RawClient, cmd: &str, key: &str, pairs: bool, add: &str, remove: &str) {
    let all: Vec<String> = (0..2000).map(|i| format!("m{i}")).collect();
    let (mut cursor, mut seen, mut calls) = ("0".to_string(), HashSet::new(), 0);
    let mut removed = HashSet::new();
    loop {
        let (next, items) = scan_call(c, cmd, key, &cursor, 25, pairs).await;
        assert!(
            items.len() <= 25,
            "{cmd} returned {} elements for COUNT 25",
            items.len()
        );
        seen.extend(items);
        calls += 1;
        if next == "0" {
            break;
        }
        cursor = next;
        // Between calls: remove one element, add two new ones.
        let victim = format!("m{}", (calls * 37) % 2000);
        c.cmd(&[remove, key, &victim]).await;
        removed.insert(victim);
        for j in 0..2 {
            let m = format!("new{calls}_{j}");
            match add {
                "HSET" | "ZADD" => {
                    c.cmd(&[
                        add,
                        key,
                        if add == "ZADD" { "1" } else { &m },
                        if add == "ZADD" { &m } else { "v" },
                    ])
                    .await
                }
                _ => c.cmd(&[add, key, &m]).await,
            };
        }
    }
    assert!(calls >= 2000 / 25, "{cmd}: {calls} calls");
    for m in &all {
        if !removed.contains(m) {
            assert!(seen.contains(m), "{cmd}: {m} was never returned");
        }
    }
}

#[tokio::test]
async fn big_collections_scan_with_a_cursor_that_misses_nothing() {
    let node = Node::start().await;
    let mut c = node.client().await;
    for i in 0..2000 {
        let m = format!("m{i}");
        c.cmd(&["HSET", "h", &m, "v"]).await;
        c.cmd(&["SADD", "s", &m]).await;
        c.cmd(&["ZADD", "z", &i.to_string(), &m]).await;
    }
    check(&mut c, "HSCAN", "h", true, "HSET", "HDEL").await;
    check(&mut c, "SSCAN", "s", false, "SADD", "SREM").await;
    check(&mut c, "ZSCAN", "z", true, "ZADD", "ZREM").await;

    // MATCH filters what a call visits: fewer elements, the same walk.
    let (_, items) = scan_call(&mut c, "SSCAN", "s", "0", 2000, false).await;
    assert!(items.len() > 1000);
    let reply = c.run("SSCAN s 0 MATCH m1?? COUNT 100000").await;
    let Frame::Array(parts) = reply else { panic!() };
    assert_eq!(parts[0], Frame::Bulk(b"0".to_vec()));
    let Frame::Array(items) = &parts[1] else {
        panic!()
    };
    assert!(items.iter().all(|i| {
        let t = i.as_text().unwrap();
        t.len() == 4 && t.starts_with("m1")
    }));

    // Small collections: the whole of it, cursor 0, whatever COUNT says.
    c.run("HSET small a 1 b 2 c 3").await;
    c.run("SADD ints 1 2 3 4 5 6 7 8 9 10 11 12").await;
    c.run("ZADD smallz 1 a 2 b 3 c").await;
    for (cmd, key, n) in [
        ("HSCAN", "small", 3),
        ("SSCAN", "ints", 12),
        ("ZSCAN", "smallz", 3),
    ] {
        let (next, items) = scan_call(&mut c, cmd, key, "0", 1, cmd != "SSCAN").await;
        assert_eq!((next.as_str(), items.len()), ("0", n), "{cmd}");
    }
}
