//! DEBUG against redis-server 7.0 (started with `enable-debug-command yes`): DIGEST and
//! DIGEST-VALUE give the same hex for the same data of every type and encoding (integers,
//! intsets, small and large collections, infinite scores, TTLs); PROTOCOL in RESP2 and RESP3,
//! ERROR, the errors of unknown subcommands and bad RELOAD options answer alike; RELOAD
//! keeps the digest; SET-ACTIVE-EXPIRE 0 leaves expired keys in place; POPULATE.

use resp::Frame;

use crate::support::{Node, RawClient, RedisServer};

/// The same mixed dataset on a server: `n` of each kind.
async fn fill(c: &mut RawClient, n: usize) {
    let mut buf = Vec::new();
    let mut push = |args: Vec<String>| resp::request::encode_command(&args, &mut buf);
    let mut sent = 0;
    for i in 0..n {
        let s = |x: &str| x.to_string();
        push(vec![s("SET"), format!("str:{i}"), format!("value {i}")]);
        push(vec![
            s("SET"),
            format!("int:{i}"),
            format!("{}", i as i64 * 7919 - 5000),
        ]);
        push(vec![
            s("RPUSH"),
            format!("list:{i}"),
            s("a"),
            format!("{i}"),
            s("c"),
        ]);
        push(vec![
            s("SADD"),
            format!("intset:{i}"),
            s("1"),
            format!("{}", i + 2),
            s("-3"),
        ]);
        push(vec![
            s("SADD"),
            format!("set:{i}"),
            s("x"),
            format!("m{i}"),
            s("z"),
        ]);
        push(vec![
            s("ZADD"),
            format!("zset:{i}"),
            s("1.5"),
            s("a"),
            format!("{}", i as f64 / 3.0),
            s("b"),
            s("-inf"),
            s("c"),
        ]);
        push(vec![
            s("HSET"),
            format!("hash:{i}"),
            s("f"),
            format!("{i}"),
            s("g"),
            s("v"),
        ]);
        push(vec![
            s("SET"),
            format!("ttl:{i}"),
            s("v"),
            s("EX"),
            s("1000"),
        ]);
        sent += 8;
    }
    // Large encodings.
    for i in 0..300 {
        push(vec!["RPUSH".into(), "biglist".into(), format!("e{i}")]);
        push(vec!["SADD".into(), "bigset".into(), format!("m{i}")]);
        push(vec![
            "ZADD".into(),
            "bigzset".into(),
            format!("{i}.25"),
            format!("m{i}"),
        ]);
        push(vec![
            "HSET".into(),
            "bighash".into(),
            format!("f{i}"),
            format!("{i}"),
        ]);
        sent += 4;
    }
    c.send_raw(&buf).await;
    for _ in 0..sent {
        c.read().await;
    }
}

#[tokio::test]
async fn debug_matches_redis() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]).await;
    let dir = std::env::temp_dir().join(format!("debug-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node = Node::start_with(server::Config {
        dir: dir.clone(),
        ..server::Config::default()
    })
    .await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    assert_eq!(
        ours.run("DEBUG DIGEST").await,
        theirs.run("DEBUG DIGEST").await
    );
    fill(&mut ours, 50).await;
    fill(&mut theirs, 50).await;
    let digest = ours.run("DEBUG DIGEST").await;
    assert_eq!(digest, theirs.run("DEBUG DIGEST").await);
    let mut lines = vec![
        "DEBUG DIGEST-VALUE str:1 int:2 list:3 intset:4 set:5 zset:6 hash:7 ttl:8 nokey"
            .to_string(),
        "DEBUG DIGEST-VALUE biglist bigset bigzset bighash".into(),
        "DEBUG DIGEST-VALUE".into(),
        "DEBUG NOPE".into(),
        "DEBUG DIGEST extra".into(),
        "DEBUG OBJECT nokey".into(),
        "DEBUG HTSTATS-KEY nokey".into(),
        "DEBUG HTSTATS-KEY str:1".into(),
        "DEBUG HTSTATS-KEY intset:4".into(),
        "DEBUG HTSTATS-KEY list:3".into(),
        "DEBUG ERROR \"CUSTOM an error\"".into(),
        "DEBUG PROTOCOL nope".into(),
        "DEBUG RELOAD BOGUS".into(),
        "DEBUG".into(),
    ];
    for t in [
        "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
        "true", "false", "verbatim",
    ] {
        lines.push(format!("DEBUG PROTOCOL {t}"));
    }
    for line in &lines {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    // RESP3: the same types with their own markers (push/attrib replies come with a real one).
    for c in [&mut ours, &mut theirs] {
        c.run("HELLO 3").await;
    }
    for t in [
        "string", "integer", "double", "bignum", "null", "array", "set", "map", "true", "false",
        "verbatim",
    ] {
        let line = format!("DEBUG PROTOCOL {t}");
        assert_eq!(ours.run(&line).await, theirs.run(&line).await, "{line}");
    }
    // An attribute is read with the reply it precedes; a push reply is followed by one.
    let line = "DEBUG PROTOCOL attrib";
    assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    let line = "DEBUG PROTOCOL push";
    assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    assert_eq!(ours.read().await, theirs.read().await, "{line}");
    for c in [&mut ours, &mut theirs] {
        c.run("HELLO 2").await;
    }

    // OBJECT: Redis's fields, our encoding names and serialized lengths.
    let object = ours.run("DEBUG OBJECT list:1").await.as_text().unwrap();
    let redis_object = theirs.run("DEBUG OBJECT list:1").await.as_text().unwrap();
    let fields = |s: &str| -> Vec<String> {
        s.split(' ')
            .filter_map(|f| f.split_once(':'))
            .filter(|(k, _)| ["refcount", "encoding", "serializedlength"].contains(k))
            .map(|(k, v)| format!("{k}:{v}"))
            .collect()
    };
    assert_eq!(fields(&object), fields(&redis_object));
    assert!(object.starts_with("Value at:0x"), "{object}");

    // RELOAD keeps everything (TTLs included).
    assert_eq!(ours.run("DEBUG RELOAD").await, Frame::Simple("OK".into()));
    assert_eq!(ours.run("DEBUG DIGEST").await, digest);
    assert_eq!(
        ours.run("DEBUG RELOAD NOSAVE").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(ours.run("DEBUG DIGEST").await, digest);

    // Active expiry off: an expired key stays until it is touched.
    for c in [&mut ours, &mut theirs] {
        c.run("FLUSHALL").await;
        c.run("DEBUG SET-ACTIVE-EXPIRE 0").await;
        c.run("SET gone v PX 1").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for line in ["DBSIZE", "GET gone", "DBSIZE", "DEBUG SET-ACTIVE-EXPIRE 1"] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    // PAUSE-CRON: no background expiry while the periodic work is paused.
    for c in [&mut ours, &mut theirs] {
        c.run("FLUSHALL").await;
        assert_eq!(
            c.run("DEBUG PAUSE-CRON 1").await,
            Frame::Simple("OK".into())
        );
        c.run("SET gone v PX 1").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // With the cron back, each server's active expiry removes `gone` at its own moment:
    // reading it removes it on both now, before the counts below.
    for line in ["DBSIZE", "DEBUG PAUSE-CRON 0", "GET gone"] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    // POPULATE, with and without a prefix and a size.
    for line in [
        "DEBUG POPULATE 10",
        "DEBUG POPULATE 5 pre 20",
        "DEBUG POPULATE 3 pre",
        "DEBUG POPULATE -1",
        "DEBUG POPULATE 3 x -2",
        "DBSIZE",
        "GET key:9",
        "GET pre:4",
        "DEBUG DIGEST",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// DEBUG RELOAD's options with function libraries, as Redis 7.0's functions tests run them:
/// NOFLUSH refuses a file whose library exists, NOFLUSH MERGE keeps the node's other
/// libraries and replaces the file's, a plain RELOAD brings back the saved set.
#[tokio::test]
async fn debug_reload_options_keep_or_merge_functions_like_redis() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]).await;
    let node = Node::start().await;
    let lib = |name: &str| {
        format!(
            "FUNCTION LOAD \"#!lua name={name}\\nredis.register_function('{name}', function() return '{name}' end)\""
        )
    };
    let lines = [
        lib("test"),
        "SET x 1".into(),
        "DEBUG RELOAD NOFLUSH".into(),
        "DEBUG RELOAD NOFLUSH MERGE".into(),
        "FUNCTION LIST".into(),
        "FUNCTION DELETE test".into(),
        lib("test1"),
        "DEBUG RELOAD".into(),
        lib("test2"),
        "DEBUG RELOAD NOSAVE NOFLUSH MERGE".into(),
        "FCALL test1 0".into(),
        "FCALL test2 0".into(),
        "DEBUG RELOAD NOSAVE".into(),
        "FCALL test2 0".into(),
        "FUNCTION LIST LIBRARYNAME test".into(),
        "GET x".into(),
    ];
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let mut mismatches = Vec::new();
    for line in &lines {
        let args = crate::support::split_quoted(line);
        if let Some(report) = crate::support::compare(&mut ours, &mut theirs, &args).await {
            mismatches.push(report);
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
