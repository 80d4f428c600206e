//! Cluster mode on one node: the Redis Cluster protocol as clients read it, and a real
//! cluster client routing through it. (Multi-node clusters come with the Raft layer.)

use resp::Frame;
use server::Config;

use crate::support::{bulk, Node};

fn cluster_config() -> Config {
    Config {
        cluster_enabled: true,
        ..Config::default()
    }
}

#[tokio::test]
async fn cluster_commands_on_a_bootstrapped_node() {
    let node = Node::start_with(cluster_config()).await;
    let mut c = node.client().await;
    assert_eq!(
        c.run("CLUSTER KEYSLOT 123456789").await,
        Frame::Integer(12739)
    );
    assert_eq!(
        c.run("CLUSTER KEYSLOT {user1000}.following").await,
        c.run("CLUSTER KEYSLOT {user1000}.followers").await
    );
    let Frame::Bulk(id) = c.run("CLUSTER MYID").await else {
        panic!()
    };
    assert_eq!(id.len(), 40);
    // Redis's manual slot protocol: its errors word for word (checked against a
    // redis-server 7.0 cluster node), and the steps that would hand a slot over without
    // its keys refused naming the command to use.
    let myid = String::from_utf8(id.clone()).unwrap();
    for (cmd, reply) in [
        ("CLUSTER ADDSLOTS 1", "ERR Slot 1 is already busy"),
        ("CLUSTER ADDSLOTS 16384", "ERR Invalid or out of range slot"),
        (
            "CLUSTER ADDSLOTS 2 2",
            "ERR Slot 2 specified multiple times",
        ),
        (
            "CLUSTER SETSLOT 1 foo",
            "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        ),
        ("CLUSTER SETSLOT 1 NODE abc", "ERR Unknown node abc"),
        (
            "CLUSTER SETSLOT 99999 STABLE",
            "ERR Invalid or out of range slot",
        ),
        (
            "CLUSTER ADDSLOTSRANGE 5 1",
            "ERR start slot number 5 is greater than end slot number 1",
        ),
        (
            "CLUSTER ADDSLOTSRANGE 5",
            "ERR wrong number of arguments for 'cluster|addslotsrange' command",
        ),
        (
            "CLUSTER DELSLOTSRANGE 1 2 3",
            "ERR wrong number of arguments for 'cluster|delslotsrange' command",
        ),
        (
            &format!("CLUSTER SETSLOT 1 IMPORTING {myid}"),
            "ERR I'm already the owner of hash slot 1",
        ),
    ] {
        assert_eq!(c.run(cmd).await, Frame::Error(reply.into()), "{cmd}");
    }
    for cmd in [
        "CLUSTER DELSLOTS 3".to_string(),
        format!("CLUSTER SETSLOT 1 MIGRATING {myid}"),
    ] {
        let Frame::Error(e) = c.run(&cmd).await else {
            panic!("{cmd}")
        };
        assert!(e.contains("CLUSTER MOVESLOTS"), "{cmd}: {e}");
    }
    let Frame::Error(e) = c.run(&format!("CLUSTER MOVESLOTS {myid} 0 10")).await else {
        panic!()
    };
    assert!(e.contains("standalone cluster of one"), "{e}");
    assert_eq!(c.run("ASKING").await, Frame::Simple("OK".into()));
    let m = c.run("CLUSTER MIGRATIONS").await.as_text().unwrap();
    assert!(m.contains("migrations_pending_slots:0\r\n"), "{m}");
    let Frame::Array(slots) = c.run("CLUSTER SLOTS").await else {
        panic!()
    };
    assert_eq!(
        slots,
        vec![Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(16383),
            Frame::Array(vec![
                bulk("127.0.0.1"),
                Frame::Integer(node.addr.port() as i64),
                Frame::Bulk(id.clone()),
                Frame::Array(vec![]),
            ]),
        ])]
    );
    let Frame::Bulk(nodes) = c.run("CLUSTER NODES").await else {
        panic!()
    };
    let line = String::from_utf8(nodes).unwrap();
    assert!(
        line.contains("myself,master - 0 0 1 connected 0-16383"),
        "{line}"
    );
    let Frame::Bulk(info) = c.run("CLUSTER INFO").await else {
        panic!()
    };
    assert!(String::from_utf8(info)
        .unwrap()
        .starts_with("cluster_state:ok\r\n"));
    assert_eq!(c.run("SET {t}a 1").await, Frame::Simple("OK".into()));
    assert_eq!(
        c.run("MSET {t}a 1 {t}b 2").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(
        c.run("MSET a 1 b 2").await,
        Frame::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    let slot = match c.run("CLUSTER KEYSLOT {t}a").await {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
            .await,
        Frame::Integer(2)
    );
    // The slot index follows writes and deletes; GETKEYSINSLOT honours its count.
    let slot = slot.to_string();
    let keys_in_slot = |n: &'static str| ["CLUSTER", "GETKEYSINSLOT", "", n];
    let mut args = keys_in_slot("10");
    args[2] = &slot;
    let Frame::Array(mut keys) = c.cmd(&args).await else {
        panic!()
    };
    keys.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(keys, vec![bulk("{t}a"), bulk("{t}b")]);
    args[3] = "1";
    assert!(matches!(c.cmd(&args).await, Frame::Array(k) if k.len() == 1));
    args[3] = "0";
    assert_eq!(c.cmd(&args).await, Frame::Array(vec![]));
    assert_eq!(c.run("DEL {t}a").await, Frame::Integer(1));
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]).await,
        Frame::Integer(1)
    );
    // SORT may not reach other keys by pattern in cluster mode, as in Redis Cluster.
    c.run("RPUSH {t}l 3 1 2").await;
    assert_eq!(
        c.run("SORT {t}l BY w_*").await,
        Frame::Error("ERR BY option of SORT denied in Cluster mode.".into())
    );
    assert_eq!(
        c.run("SORT {t}l GET #").await,
        Frame::Error("ERR GET option of SORT denied in Cluster mode.".into())
    );
    assert_eq!(
        c.run("SORT {t}l STORE elsewhere").await,
        Frame::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    assert_eq!(c.run("SORT {t}l STORE {t}sorted").await, Frame::Integer(3));
    assert_eq!(
        c.run("SORT {t}l BY nosort DESC").await,
        Frame::Array(vec![bulk("2"), bulk("1"), bulk("3")])
    );
    assert_eq!(
        c.run("CLUSTER GETKEYSINSLOT 5 -1").await,
        Frame::Error("ERR Invalid slot or number of keys".into())
    );
    assert_eq!(
        c.run("CLUSTER COUNTKEYSINSLOT 16384").await,
        Frame::Error("ERR Invalid or out of range slot".into())
    );
    assert_eq!(c.run("READONLY").await, Frame::Simple("OK".into()));
    assert!(
        matches!(c.run("CLUSTER BOGUS").await, Frame::Error(e) if e.contains("unknown subcommand"))
    );
    let Frame::Bulk(info) = c.run("INFO cluster").await else {
        panic!()
    };
    assert!(String::from_utf8(info)
        .unwrap()
        .contains("cluster_enabled:1"));
}

#[tokio::test]
async fn cluster_commands_refused_without_cluster_mode() {
    let node = Node::start().await;
    let mut c = node.client().await;
    assert_eq!(
        c.run("CLUSTER SLOTS").await,
        Frame::Error("ERR This instance has cluster support disabled".into())
    );
    assert_eq!(c.run("CLUSTER KEYSLOT foo").await, Frame::Integer(12182));
    assert_eq!(c.run("MSET a 1 b 2").await, Frame::Simple("OK".into()));
}

/// Redis Cluster's node-local configuration commands (RESET, SAVECONFIG, BUMPEPOCH,
/// FLUSHSLOTS, SET-CONFIG-EPOCH, COUNT-FAILURE-REPORTS) without cluster mode: the same
/// replies as redis-server, arity errors included, and a script may not call CLUSTER RESET
/// (`noscript`; Redis's own suite checks it).
#[tokio::test]
async fn node_local_cluster_config_commands_answer_as_redis() {
    let node = Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let cases = "CLUSTER RESET
        CLUSTER RESET HARD
        CLUSTER RESET soft
        CLUSTER RESET x
        CLUSTER RESET a b
        CLUSTER SAVECONFIG
        CLUSTER SAVECONFIG x
        CLUSTER BUMPEPOCH
        CLUSTER FLUSHSLOTS
        CLUSTER FLUSHSLOTS 1
        CLUSTER SET-CONFIG-EPOCH 1
        CLUSTER SET-CONFIG-EPOCH
        CLUSTER COUNT-FAILURE-REPORTS x
        CLUSTER COUNT-FAILURE-REPORTS
        COMMAND INFO cluster|reset cluster|saveconfig cluster|bumpepoch
        COMMAND INFO cluster|flushslots cluster|count-failure-reports cluster|set-config-epoch
        EVAL \"return redis.call('cluster','reset','hard')\" 0
        EVAL \"return redis.pcall('cluster','saveconfig')\" 0";
    crate::support::assert_cases_match(&node, &redis, cases, crate::support::split_quoted, false)
        .await;
}

/// The same commands in cluster mode: Redis's argument checks, then an error naming what
/// to use instead (the configuration is Raft's), never an OK that did nothing.
#[tokio::test]
async fn node_local_cluster_config_commands_in_cluster_mode_say_what_to_use() {
    let node = Node::start_with(cluster_config()).await;
    let mut c = node.client().await;
    assert_eq!(
        c.run("CLUSTER RESET x").await,
        Frame::Error("ERR syntax error".into())
    );
    assert_eq!(
        c.run("CLUSTER COUNT-FAILURE-REPORTS nosuchnode").await,
        Frame::Error("ERR Unknown node nosuchnode".into())
    );
    let Frame::Bulk(id) = c.run("CLUSTER MYID").await else {
        panic!()
    };
    let id = String::from_utf8(id).unwrap();
    let Frame::Error(e) = c.cmd(&["CLUSTER", "COUNT-FAILURE-REPORTS", &id]).await else {
        panic!()
    };
    assert!(e.contains("not gossiped"), "{e}");
    for cmd in [
        "SAVECONFIG",
        "BUMPEPOCH",
        "FLUSHSLOTS",
        "SET-CONFIG-EPOCH 1",
        "RESET HARD",
    ] {
        let Frame::Error(e) = c.run(&format!("CLUSTER {cmd}")).await else {
            panic!("{cmd}")
        };
        let name = cmd.split(' ').next().unwrap();
        assert!(
            e.starts_with(&format!("ERR CLUSTER {name} is not supported"))
                && e.contains("remove-node"),
            "{cmd}: {e}"
        );
    }
    c.run("SET k v").await;
    assert_eq!(
        c.run("CLUSTER RESET").await,
        Frame::Error("ERR CLUSTER RESET can't be called with master nodes containing keys".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_cluster_client_routes_through_it() {
    let node = Node::start_with(cluster_config()).await;
    let url = format!("redis://{}/", node.addr);
    let got = tokio::task::spawn_blocking(move || {
        let client = redis::cluster::ClusterClient::new(vec![url]).unwrap();
        let mut con = client.get_connection().unwrap();
        for i in 0..200 {
            let _: () = redis::cmd("SET")
                .arg(format!("key:{i}"))
                .arg(i)
                .query(&mut con)
                .unwrap();
        }
        (0..200)
            .map(|i| {
                redis::cmd("GET")
                    .arg(format!("key:{i}"))
                    .query::<i64>(&mut con)
                    .unwrap()
            })
            .sum::<i64>()
    })
    .await
    .unwrap();
    assert_eq!(got, (0..200).sum::<i64>());
}

#[tokio::test]
async fn admin_api_cluster_topology() {
    let node = Node::start_with_admin(cluster_config()).await;
    let admin = node.admin.unwrap();
    let (status, body) = crate::limits::http_get(admin, "/api/cluster").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["state"], "ok");
    assert_eq!(v["slots_assigned"], 16384);
    assert_eq!(v["nodes"][0]["slots"], 16384);
    assert_eq!(
        v["nodes"][0]["slot_ranges"][0],
        serde_json::json!([0, 16383])
    );
    assert_eq!(
        v["nodes"][0]["address"],
        format!("127.0.0.1:{}", node.addr.port())
    );
    assert_eq!(v["moves"], serde_json::json!({}));
    assert_eq!(v["migration"]["slots_moved"], 0);
    let (_, metrics) = crate::limits::http_get(admin, "/metrics").await;
    assert!(
        metrics.contains("\nshardcache_cluster_slots_moving 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nshardcache_migration_slots_moved_total 0\n"));
    let plain = Node::start_with_admin(Config::default()).await;
    let (_, body) = crate::limits::http_get(plain.admin.unwrap(), "/api/cluster").await;
    assert_eq!(body, r#"{"enabled":false}"#);
}
