//! CONFIG GET/SET against redis-server 7.0: every parameter name Redis lists, and for every
//! parameter the node keeps (not those it acts on itself, nor switches for features it does
//! not have, which it refuses with a reason), the same reply to the same CONFIG SET and the
//! same value read back.

use resp::Frame;
use server::tunables::{Effect, Kind, TUNABLES};

use crate::support::{Node, RedisServer};

fn names(reply: Frame) -> Vec<String> {
    let items = match reply {
        Frame::Array(items) => items,
        Frame::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("{other:?}"),
    };
    let mut names: Vec<String> = items.chunks(2).map(|kv| kv[0].as_text().unwrap()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_redis_parameter_is_known() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let (a, b) = (
        names(ours.run("CONFIG GET *").await),
        names(theirs.run("CONFIG GET *").await),
    );
    let missing: Vec<_> = b.iter().filter(|n| !a.contains(n)).collect();
    let extra: Vec<_> = a.iter().filter(|n| !b.contains(n)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

/// Parameters left out of the value comparison: Redis would act on these for real in the
/// test (move its port, disconnect clients, change process scores) or validates free text
/// by rules of its own.
const SKIP: &[&str] = &[
    "maxmemory-clients",
    "oom-score-adj",
    "oom-score-adj-values",
    "proc-title-template",
    "cluster-announce-hostname",
    "bind-source-addr",
    "replica-announce-ip",
    "cluster-announce-ip",
    "masteruser",
    "masterauth",
    "ignore-warnings",
    // Deliberately "local" here (Redis: "no"), so DEBUG works from this machine.
    "enable-debug-command",
];

#[tokio::test]
async fn kept_parameters_validate_and_answer_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    const VALUES: &[&str] = &[
        "yes",
        "no",
        "YES",
        "maybe",
        "0",
        "1",
        "-1",
        "7",
        "100",
        "1001",
        "2147483648",
        "1kb",
        "1mb",
        "x",
        "",
        "10%",
        "debug",
        "NOTICE",
        "ignore",
        "nosave now",
        "save nosave",
        "50 99.5",
        "1 2 3",
    ];
    let mut failures = Vec::new();
    for t in TUNABLES {
        if SKIP.contains(&t.name) || matches!(t.effect, Effect::Only(..)) {
            continue;
        }
        if matches!(t.kind, Kind::Text) && !matches!(t.effect, Effect::Immutable) {
            continue;
        }
        for name in std::iter::once(t.name).chain(t.alias) {
            for v in VALUES.iter().chain([&t.default]) {
                let set = ["CONFIG", "SET", name, v];
                let (a, b) = (ours.cmd(&set).await, theirs.cmd(&set).await);
                let get = ["CONFIG", "GET", name];
                let (ga, gb) = (ours.cmd(&get).await, theirs.cmd(&get).await);
                if a != b || ga != gb {
                    failures.push(format!(
                        "CONFIG SET {name} {v:?}: ours {a:?} / {ga:?}, redis {b:?} / {gb:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn switches_for_missing_features_say_why() {
    let node = Node::start().await;
    let mut c = node.client().await;
    assert_eq!(
        c.run("CONFIG SET activedefrag no").await,
        Frame::Simple("OK".into())
    );
    for (set, why) in [
        ("CONFIG SET tls-port 6380", "TLS"),
        ("CONFIG SET activedefrag yes", "defragmentation"),
    ] {
        match c.run(set).await {
            Frame::Error(e) => assert!(e.contains(why), "{set}: {e}"),
            other => panic!("{set}: {other:?}"),
        }
    }
    // Nothing changed, and a refused pair fails the whole CONFIG SET.
    assert!(matches!(
        c.run("CONFIG SET hz 20 activedefrag yes").await,
        Frame::Error(_)
    ));
    let value = |f: Frame| match f {
        Frame::Array(kv) => kv[1].as_text().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(value(c.run("CONFIG GET hz").await), "10");
    assert_eq!(value(c.run("CONFIG GET activedefrag").await), "no");
}

/// OBJECT ENCODING follows the thresholds as Redis's does, at Redis's defaults and after
/// CONFIG SET, for collections grown one element at a time across each limit.
#[tokio::test]
async fn encodings_follow_the_thresholds_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let mut failures = Vec::new();
    let settings: &[&[&str]] = &[
        &[],
        &[
            "hash-max-listpack-entries",
            "3",
            "set-max-intset-entries",
            "2",
        ],
        &[
            "zset-max-listpack-entries",
            "0",
            "hash-max-ziplist-value",
            "4",
        ],
        &[
            "zset-max-ziplist-entries",
            "5",
            "zset-max-listpack-value",
            "3",
        ],
    ];
    for (round, set) in settings.iter().enumerate() {
        if !set.is_empty() {
            let cmd: Vec<&str> = ["CONFIG", "SET"]
                .iter()
                .chain(set.iter())
                .copied()
                .collect();
            assert_eq!(ours.cmd(&cmd).await, theirs.cmd(&cmd).await);
        }
        for n in [1usize, 2, 3, 4, 6, 127, 128, 129, 130, 511, 512, 513, 514] {
            let (h, s, z, t) = (
                format!("h{round}:{n}"),
                format!("s{round}:{n}"),
                format!("z{round}:{n}"),
                format!("t{round}:{n}"),
            );
            let mut cmds: Vec<Vec<String>> = Vec::new();
            for i in 0..n {
                cmds.push(vec!["HSET".into(), h.clone(), format!("f{i}"), "v".into()]);
                cmds.push(vec!["SADD".into(), s.clone(), i.to_string()]);
                cmds.push(vec![
                    "ZADD".into(),
                    z.clone(),
                    i.to_string(),
                    format!("m{i}"),
                ]);
            }
            // Long values cross the byte limits.
            cmds.push(vec![
                "HSET".into(),
                h.clone(),
                "long".into(),
                "x".repeat(n % 70),
            ]);
            cmds.push(vec![
                "ZADD".into(),
                z.clone(),
                "1".into(),
                "y".repeat(n % 70),
            ]);
            cmds.push(vec!["SADD".into(), t.clone(), "1".into(), "2".into()]);
            if n % 2 == 0 {
                cmds.push(vec!["SADD".into(), t.clone(), "word".into()]);
            }
            for c in &cmds {
                let (a, b) = (ours.cmd(c).await, theirs.cmd(c).await);
                if a != b {
                    failures.push(format!("{c:?}: {a:?} vs {b:?}"));
                }
            }
            for k in [&h, &s, &z, &t] {
                let q = ["OBJECT", "ENCODING", k.as_str()];
                let (a, b) = (ours.cmd(&q).await, theirs.cmd(&q).await);
                if a != b {
                    failures.push(format!(
                        "round {round}: OBJECT ENCODING {k}: {a:?} vs {b:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Redis's hidden parameters: answered by their exact name, never through a pattern, with
/// the same validation as Redis's.
#[tokio::test]
async fn hidden_parameters_answer_only_by_name_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in [
        "CONFIG GET rdb-key-save-delay",
        "CONFIG GET rdb-key-save-*",
        "CONFIG GET key-load-delay",
        "CONFIG GET key-load-*",
        "CONFIG GET *-key-save-*",
        "CONFIG GET use-exit-on-pani?",
        "CONFIG GET use-exit-on-panic",
        "CONFIG GET loading-process-events-interval-bytes",
        "CONFIG SET rdb-key-save-delay -5",
        "CONFIG GET rdb-key-save-delay",
        "CONFIG SET rdb-key-save-delay 0",
        "CONFIG SET loading-process-events-interval-bytes 10",
        "CONFIG SET use-exit-on-panic maybe",
        "CONFIG SET key-load-delay abc",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
}

/// BGSAVE counts as running from its reply on (a client polling `rdb_bgsave_in_progress`
/// right after it must not see 0 before the save has begun), and `rdb-key-save-delay`
/// makes a save last, as Redis's tests use it.
#[tokio::test]
async fn bgsave_is_in_progress_from_its_reply_and_key_save_delay_slows_it() {
    let dir = crate::support::temp_dir("bgsave-delay");
    let node = Node::start_with(server::Config {
        dir,
        ..server::Config::default()
    })
    .await;
    let mut c = node.client().await;
    for i in 0..20 {
        c.run(&format!("SET k{i} v")).await;
    }
    let in_progress = async |c: &mut crate::support::RawClient| {
        let info = c.run("INFO persistence").await.as_text().unwrap();
        info.contains("rdb_bgsave_in_progress:1")
    };
    for _ in 0..20 {
        assert_eq!(
            c.run("BGSAVE").await.as_text().unwrap(),
            "Background saving started"
        );
        assert!(in_progress(&mut c).await);
        while in_progress(&mut c).await {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    // 20 keys at 50 ms each: a second at least.
    assert_eq!(
        c.run("CONFIG SET rdb-key-save-delay 50000").await,
        Frame::Simple("OK".into())
    );
    let started = std::time::Instant::now();
    c.run("BGSAVE").await;
    let refused = c.run("BGSAVE").await;
    assert!(
        matches!(&refused, Frame::Error(e) if e.contains("already in progress")),
        "{refused:?}"
    );
    while in_progress(&mut c).await {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    c.run("CONFIG SET rdb-key-save-delay 0").await;
    assert_eq!(c.run("DEBUG RELOAD").await, Frame::Simple("OK".into()));
    assert_eq!(c.run("DBSIZE").await, Frame::Integer(20));
}

/// CONFIG SET port (and bind) move the client listener, as in Redis: a port in use fails the whole
/// command with Redis's error and rolls back the other parameters; a free one serves at
/// once while open connections stay, INFO and CONFIG GET follow, the old port closes; both
/// servers answer the same.
#[tokio::test]
async fn config_set_port_moves_the_listener_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    for addr in [node.addr, redis.addr] {
        let mut c = crate::support::RawClient::connect(addr).await;
        let reply = c
            .run(&format!(
                "CONFIG SET maxmemory 10000001 port {busy_port} hz 50"
            ))
            .await;
        assert_eq!(
            reply,
            Frame::Error(
                "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.".into()
            ),
            "{addr}"
        );
        let value = |reply: Frame| match reply {
            Frame::Array(items) => items[1].as_text().unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            value(c.run("CONFIG GET maxmemory").await),
            "0",
            "rolled back"
        );
        assert_eq!(value(c.run("CONFIG GET hz").await), "10", "rolled back");
        assert_eq!(
            value(c.run("CONFIG GET port").await),
            addr.port().to_string()
        );
        assert_eq!(
            c.run("CONFIG SET port 70000").await,
            Frame::Error("ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive".into())
        );

        // The same address again: nothing moves (Redis's CONFIG sanity test sets them all).
        assert_eq!(
            c.run("CONFIG SET bind 127.0.0.1").await,
            Frame::Simple("OK".into())
        );
        assert_eq!(value(c.run("CONFIG GET bind").await), "127.0.0.1");
        let new_port = crate::support::free_port();
        assert_eq!(
            c.run(&format!("CONFIG SET port {new_port}")).await,
            Frame::Simple("OK".into())
        );
        let moved = std::net::SocketAddr::from(([127, 0, 0, 1], new_port));
        let mut fresh = crate::support::RawClient::connect(moved).await;
        assert_eq!(fresh.run("PING").await, Frame::Simple("PONG".into()));
        let info = fresh.run("INFO server").await.as_text().unwrap();
        assert!(info.contains(&format!("tcp_port:{new_port}\r\n")), "{info}");
        // The connection made before the move is still served.
        assert_eq!(c.run("PING").await, Frame::Simple("PONG".into()));
        // The old port no longer accepts.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "{addr} still accepts");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            c.run(&format!("CONFIG SET port {}", addr.port())).await,
            Frame::Simple("OK".into())
        );
    }
    drop(busy);
}

/// `maxmemory-clients` refuses what Redis refuses, with Redis's words (a percentage over
/// 100 has an error of its own); only refused values are sent, so neither server evicts.
#[tokio::test]
async fn maxmemory_clients_refuses_like_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for v in ["200%", "101%", "-1%", "1.5%", "abc%", "%", "x"] {
        let set = ["CONFIG", "SET", "maxmemory-clients", v];
        assert_eq!(ours.cmd(&set).await, theirs.cmd(&set).await, "{v}");
    }
}
