//! Load shedding, authentication, limits, operations surface, graceful shutdown.

use std::time::Duration;

use resp::Frame;
use server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{bulk, err, simple, Node, RawClient};

fn info_field(info: &Frame, field: &str) -> String {
    let text = info.as_text().expect("INFO text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .to_string()
}

#[tokio::test]
async fn maxclients_refuses_extra_connections_with_redis_error() {
    let node = Node::start_with(Config {
        maxclients: 2,
        ..Config::default()
    })
    .await;
    let mut a = node.client().await;
    let mut b = node.client().await;
    assert_eq!(a.run("PING").await, simple("PONG"));
    assert_eq!(b.run("PING").await, simple("PONG"));
    let mut c = node.client().await;
    assert_eq!(
        c.read().await,
        Some(err("ERR max number of clients reached"))
    );
    assert!(c.is_closed().await);
    drop(b);
    // A slot frees up once the server has seen the client leave.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut refused = 0;
    loop {
        let mut d = node.client().await;
        if d.run("PING").await == simple("PONG") {
            break;
        }
        refused += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "no slot after a client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let info = a.run("INFO stats").await;
    assert_eq!(
        info_field(&info, "rejected_connections"),
        (1 + refused).to_string()
    );
}

/// Password guessing: failures are counted (INFO `acl_access_denied_auth`) and, past three
/// on one connection, each waits twice as long as the last before the connection reads on;
/// other connections are not slowed, and a right password still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_auth_failures_are_counted_and_slowed_down() {
    let node = Node::start_with(Config {
        requirepass: Some("s3cret".into()),
        ..Config::default()
    })
    .await;
    let mut guesser = node.client().await;
    let mut wire = Vec::new();
    for i in 0..10 {
        resp::request::encode_command(&["AUTH", &format!("guess{i}")], &mut wire);
    }
    let started = std::time::Instant::now();
    guesser.send_raw(&wire).await;
    for _ in 0..10 {
        assert_eq!(
            guesser.read().await,
            Some(err(
                "WRONGPASS invalid username-password pair or user is disabled."
            ))
        );
    }
    // Failures 4..=9 wait 10, 20, ..., 320 ms before the next is read: 630 ms in all (the
    // 10th's 640 ms follow its reply).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(620), "{took:?}");
    // Meanwhile another client is served at once.
    let mut other = node.client().await;
    let quick = std::time::Instant::now();
    assert_eq!(other.run("AUTH s3cret").await, simple("OK"));
    assert!(quick.elapsed() < Duration::from_millis(200));
    let info = other.run("INFO stats").await;
    assert_eq!(info_field(&info, "acl_access_denied_auth"), "10");
    // The right password is accepted on the slowed connection too (after its last pause).
    assert_eq!(guesser.run("AUTH s3cret").await, simple("OK"));
    assert_eq!(guesser.run("PING").await, simple("PONG"));
}

#[tokio::test]
async fn requirepass_gates_every_command_but_auth_and_hello() {
    let node = Node::start_with(Config {
        requirepass: Some("s3cret".into()),
        ..Config::default()
    })
    .await;
    let mut c = node.client().await;
    assert_eq!(c.run("GET k").await, err("NOAUTH Authentication required."));
    assert_eq!(
        c.run("SET k v").await,
        err("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.run("AUTH wrong").await,
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        c.run("AUTH nobody s3cret").await,
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert!(
        matches!(c.run("HELLO 3").await, Frame::Error(e) if e.starts_with("NOAUTH HELLO must be called"))
    );
    assert_eq!(c.run("AUTH s3cret").await, simple("OK"));
    assert_eq!(c.run("SET k v").await, simple("OK"));
    // HELLO with AUTH authenticates and switches protocol in one step.
    let mut d = node.client().await;
    assert!(matches!(
        d.run("HELLO 3 AUTH default s3cret SETNAME app").await,
        Frame::Map(_)
    ));
    assert_eq!(d.run("GET k").await, bulk("v"));
    assert_eq!(d.run("CLIENT GETNAME").await, bulk("app"));
    // RESET drops the authentication again.
    assert_eq!(d.run("RESET").await, simple("RESET"));
    assert_eq!(d.run("GET k").await, err("NOAUTH Authentication required."));
    // Before AUTH, big requests are refused outright.
    let mut e = node.client().await;
    e.send_raw(b"*20\r\n").await;
    assert_eq!(
        e.read().await,
        Some(err("ERR Protocol error: unauthenticated multibulk length"))
    );
    assert!(e.is_closed().await);
    // CONFIG SET requirepass "" turns it off for new connections.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "requirepass", ""]).await,
        simple("OK")
    );
    let mut f = node.client().await;
    assert_eq!(f.run("GET k").await, bulk("v"));
}

#[tokio::test]
async fn query_buffer_limit_disconnects_only_the_abuser() {
    let node = Node::start().await;
    let mut admin = node.client().await;
    assert_eq!(
        admin.run("CONFIG SET client-query-buffer-limit 1mb").await,
        simple("OK")
    );
    let mut abuser = node.client().await;
    abuser
        .send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n")
        .await;
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if abuser.stream.write_all(&chunk).await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(
        closed || abuser.is_closed().await,
        "abuser must be disconnected"
    );
    assert_eq!(admin.run("PING").await, simple("PONG"));
    let info = admin.run("INFO stats").await;
    assert_eq!(
        info_field(&info, "client_query_buffer_limit_disconnections"),
        "1"
    );
}

#[tokio::test]
async fn bulk_length_above_proto_max_bulk_len_is_refused() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.send_raw(b"*2\r\n$3\r\nGET\r\n$536870913\r\n").await;
    assert_eq!(
        c.read().await,
        Some(err("ERR Protocol error: invalid bulk length"))
    );
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn output_buffer_limit_disconnects_a_client_with_a_huge_reply() {
    let node = Node::start().await;
    let mut admin = node.client().await;
    assert_eq!(
        admin
            .cmd(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1mb 0 0"
            ])
            .await,
        simple("OK")
    );
    assert_eq!(
        admin
            .cmd(&["CONFIG", "GET", "client-output-buffer-limit"])
            .await,
        Frame::Array(vec![
            bulk("client-output-buffer-limit"),
            bulk("normal 1048576 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        ])
    );
    let big = vec![b'x'; 2 * 1024 * 1024];
    assert_eq!(
        admin.cmd(&[b"SET".as_slice(), b"big", &big]).await,
        simple("OK")
    );
    let mut reader = node.client().await;
    reader.run_no_wait("GET big").await;
    assert!(
        reader.is_closed().await,
        "reply above the hard limit closes the connection"
    );
    assert_eq!(
        admin.run("STRLEN big").await,
        Frame::Integer(big.len() as i64)
    );
    let info = admin.run("INFO stats").await;
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections"),
        "1"
    );
}

#[tokio::test]
async fn idle_clients_are_closed_after_timeout() {
    let node = Node::start_with(Config {
        timeout: 1,
        ..Config::default()
    })
    .await;
    let mut idle = node.client().await;
    assert_eq!(idle.run("PING").await, simple("PONG"));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(idle.is_closed().await);
}

#[tokio::test]
async fn client_kill_closes_the_target() {
    let node = Node::start().await;
    let mut a = node.client().await;
    let mut b = node.client().await;
    let Frame::Integer(b_id) = b.run("CLIENT ID").await else {
        panic!()
    };
    assert_eq!(
        a.run(&format!("CLIENT KILL ID {b_id}")).await,
        Frame::Integer(1)
    );
    assert!(b.is_closed().await);
    let list = a.run("CLIENT LIST").await.as_text().unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("cmd=client|list"), "{list}");
}

#[tokio::test]
async fn client_reply_off_and_skip() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n")
        .await;
    assert_eq!(c.read().await, Some(simple("OK")));
    assert_eq!(c.read().await, Some(bulk("1")));
    c.send_raw(b"CLIENT REPLY SKIP\r\nINCR a\r\nGET a\r\n")
        .await;
    assert_eq!(c.read().await, Some(bulk("2")));
}

impl RawClient {
    /// Sends a command without waiting for the reply.
    pub async fn run_no_wait(&mut self, line: &str) {
        let args: Vec<&str> = line.split(' ').collect();
        self.send(&args).await;
    }
}

#[tokio::test]
async fn slowlog_records_slow_commands_with_arguments() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.run("CONFIG SET slowlog-log-slower-than 0").await;
    c.run("SLOWLOG RESET").await;
    c.run("SET slowkey value").await;
    let Frame::Array(entries) = c.run("SLOWLOG GET 1").await else {
        panic!()
    };
    let Frame::Array(entry) = &entries[0] else {
        panic!()
    };
    assert_eq!(entry.len(), 6);
    assert_eq!(
        entry[3],
        Frame::Array(vec![bulk("SET"), bulk("slowkey"), bulk("value")])
    );
    assert!(matches!(c.run("SLOWLOG LEN").await, Frame::Integer(n) if n >= 1));
    c.run("CONFIG SET slowlog-log-slower-than -1").await;
    c.run("SLOWLOG RESET").await;
    c.run("GET x").await;
    assert_eq!(c.run("SLOWLOG LEN").await, Frame::Integer(0));
}

#[tokio::test]
async fn noeviction_at_maxmemory_refuses_writes_but_serves_reads() {
    let node = Node::start().await;
    let mut c = node.client().await;
    c.run("SET before v").await;
    c.run("CONFIG SET maxmemory 1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        c.run("SET k v").await,
        err("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(c.run("GET before").await, bulk("v"));
    assert_eq!(
        c.run("DEL before").await,
        Frame::Integer(1),
        "DEL frees memory, so it is allowed"
    );
    c.run("CONFIG SET maxmemory 0").await;
    assert_eq!(c.run("SET k v").await, simple("OK"));
    let info = c.run("INFO commandstats").await.as_text().unwrap();
    assert!(
        info.contains("cmdstat_set:calls=2,") && info.contains("rejected_calls=1,failed_calls=0"),
        "{info}"
    );
}

#[tokio::test]
async fn active_expiry_reclaims_keys_nobody_reads() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let mut wire = Vec::new();
    for i in 0..5000 {
        resp::request::encode_command(&["SET", &format!("temp:{i}"), "v", "PX", "100"], &mut wire);
    }
    c.send_raw(&wire).await;
    for _ in 0..5000 {
        c.read().await;
    }
    c.run("SET keep v").await;
    // The active cycle (sampling, 25% of a core) reclaims them without any read; allow a
    // loaded machine a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.run("DBSIZE").await != Frame::Integer(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "expired keys were not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info = c.run("INFO stats").await;
    assert_eq!(info_field(&info, "expired_keys"), "5000");
    assert_eq!(
        info_field(&c.run("INFO keyspace").await, "db0"),
        "keys=1,expires=0,avg_ttl=0"
    );
}

pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn admin_http_health_ready_metrics_stats() {
    let node = Node::start_with_admin(Config::default()).await;
    let admin = node.admin.unwrap();
    let mut c = node.client().await;
    c.run("SET a 1").await;
    c.run("GET a").await;
    c.run("GET missing").await;
    c.run("NOPE").await;
    assert_eq!(http_get(admin, "/health").await.0, 200);
    assert_eq!(http_get(admin, "/ready").await.0, 200);
    let (status, metrics) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "shardcache_commands_total{cmd=\"get\"} 2",
        "shardcache_commands_total{cmd=\"set\"} 1",
        "shardcache_command_duration_seconds_count{cmd=\"get\"} 2",
        "shardcache_keyspace_hits_total 1",
        "shardcache_keyspace_misses_total 1",
        "shardcache_keys 1",
        "shardcache_connected_clients 1",
        "shardcache_error_replies_total 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    let (_, stats) = http_get(admin, "/api/cache/stats").await;
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["keys"], 1);
    assert_eq!(v["hits"], 1);
    assert_eq!(v["misses"], 1);
    assert_eq!(v["hit_rate_percent"], 50.0);
}

#[tokio::test]
async fn graceful_shutdown_flushes_replies_and_returns() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let mut wire = Vec::new();
    for i in 0..20000 {
        resp::request::encode_command(&["INCR", "counter"], &mut wire);
        let _ = i;
    }
    c.send_raw(&wire).await;
    assert_eq!(c.read().await, Some(Frame::Integer(1)));
    node.stop().await.unwrap();
    // Every reply that was sent is whole and in order; then the connection ends.
    let mut expected = 2;
    while let Some(f) = c.read().await {
        assert_eq!(f, Frame::Integer(expected));
        expected += 1;
    }
}

#[tokio::test]
async fn shutdown_command_stops_the_node() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let mut other = node.client().await;
    assert_eq!(other.run("PING").await, simple("PONG"));
    c.run_no_wait("SHUTDOWN NOSAVE").await;
    assert!(c.is_closed().await);
    assert!(other.is_closed().await);
    node.stop().await.unwrap();
}

/// The arguments SLOWLOG keeps of each command, with the secrets redacted where Redis 7.0
/// redacts them (ACL SETUSER, CONFIG SET of masterauth/masteruser/requirepass, MIGRATE's
/// AUTH and AUTH2), compared with redis-server's log of the same commands.
#[tokio::test]
async fn slowlog_redacts_secrets_like_redis() {
    let node = Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let logged = async |c: &mut RawClient| {
        for line in [
            "CONFIG SET slowlog-log-slower-than 0",
            "SLOWLOG RESET",
            "CONFIG SET masterauth secret",
            "CONFIG SET masterauth \"\"",
            "ACL SETUSER slowlog-user +get +set",
            "ACL SETUSER \"bad user\" +get",
            "CONFIG SET maxmemory-policy noeviction masteruser who",
            "MIGRATE 127.0.0.1 1 key 0 10 AUTH pw",
            "MIGRATE 127.0.0.1 1 \"\" 0 10 AUTH2 user pw KEYS k1 k2",
            "MIGRATE 127.0.0.1 1 \"\" 0 10 COPY KEYS auth pw",
            "CONFIG SET slowlog-log-slower-than -1",
        ] {
            c.cmd(&crate::support::split_quoted(line)).await;
        }
        let Frame::Array(entries) = c.run("SLOWLOG GET -1").await else {
            panic!("SLOWLOG GET");
        };
        entries
            .into_iter()
            .map(|e| match e {
                Frame::Array(fields) => format!("{:?}", fields[3]),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let ours = logged(&mut node.client().await).await;
    let theirs = logged(&mut redis.client().await).await;
    assert_eq!(ours, theirs);
}

/// A blocking command is logged when it is served, not when it blocks or times out, as
/// Redis 7.0 logs it (`updateStatsOnUnblock`): a BLPOP served by a push in a transaction
/// that reset the log is its newest entry; one that timed out is not logged. Both servers.
#[tokio::test]
async fn slowlog_logs_blocking_commands_when_served_like_redis() {
    let node = Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let logged = async |addr: std::net::SocketAddr| {
        let mut c = RawClient::connect(addr).await;
        let mut waiting = RawClient::connect(addr).await;
        c.run("CONFIG SET slowlog-log-slower-than 0").await;
        c.run("SLOWLOG RESET").await;
        assert_eq!(
            waiting.run("BLPOP nothing 0.05").await,
            Frame::Null,
            "timed out"
        );
        waiting.send(&["BLPOP", "l", "0"]).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !c
            .run("INFO clients")
            .await
            .as_text()
            .unwrap()
            .contains("blocked_clients:1\r\n")
        {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        for line in ["MULTI", "LPUSH l foo", "SLOWLOG RESET", "EXEC"] {
            c.run(line).await;
        }
        waiting.read().await.expect("BLPOP served");
        c.run("CONFIG SET slowlog-log-slower-than 10000").await;
        let Frame::Array(entries) = c.run("SLOWLOG GET -1").await else {
            panic!("SLOWLOG GET");
        };
        entries
            .into_iter()
            .map(|e| match e {
                Frame::Array(fields) => format!("{:?}", fields[3]),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let ours = logged(node.addr).await;
    let theirs = logged(redis.addr).await;
    assert_eq!(ours, theirs);
    let blpop = Frame::Array(["BLPOP", "l", "0"].map(|a| Frame::Bulk(a.into())).to_vec());
    assert_eq!(
        ours[0],
        format!("{blpop:?}"),
        "the served BLPOP is the newest entry"
    );
}
