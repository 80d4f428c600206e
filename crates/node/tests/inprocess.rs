//! Three complete members (client port, command table, cluster view, Raft) in one process,
//! over the in-memory cluster transport. Fault injected: every message to and from one
//! member is dropped (it is cut off); it stops serving within its lease while the other two
//! go on, and serves again once the link is back.

use std::time::{Duration, Instant};

use cluster::mem::{Fault, MemTransport};
use redis::Commands;
use server::Config;

mod common;

use common::{cluster_info, eventually, field, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_in_one_process_serve_and_fence_a_cut_off_member() {
    let transport = MemTransport::default();
    let mut members = vec![start(&transport, None, Config::default()).await];
    for _ in 0..2 {
        let seed = members[0].port;
        members.push(start(&transport, Some(seed), Config::default()).await);
    }
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    eventually(
        "three members, all slots served",
        Duration::from_secs(30),
        async || {
            let mut ok = true;
            for p in &ports {
                let info = cluster_info(*p).await;
                ok &= field(&info, "cluster_state") == "ok"
                    && field(&info, "cluster_known_nodes") == "3"
                    && field(&info, "cluster_slots_moving") == "0";
            }
            ok
        },
    )
    .await;
    // Each member's bus address, from its own CLUSTER NODES line.
    for m in &mut members {
        m.bus = common::bus_of(m.port).await;
    }
    // A cluster client writes and reads through all three.
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let written = tokio::task::spawn_blocking(move || {
        let client = redis::cluster::ClusterClient::new(urls).unwrap();
        let mut c = client.get_connection().unwrap();
        for i in 0..3000 {
            let _: () = c.set(format!("key:{i}"), i).unwrap();
        }
        (0..3000)
            .filter(|i| c.get::<_, i64>(format!("key:{i}")).unwrap() == *i)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(written, 3000);

    // Cut the third member off: it loses its lease and says so; the majority serves on.
    let cut = transport.fault_node(&members[2].bus, Fault::Drop(1.0));
    let cut_at = Instant::now();
    let isolated = members[2].port;
    eventually(
        "the cut-off member stops serving",
        Duration::from_secs(5),
        async || field(&cluster_info(isolated).await, "cluster_state") == "fail",
    )
    .await;
    assert!(
        cut_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        cut_at.elapsed()
    );
    let majority = members[0].port;
    eventually(
        "the majority still leads and serves",
        Duration::from_secs(10),
        async || {
            let info = cluster_info(majority).await;
            !field(&info, "cluster_raft_leader").is_empty()
                && field(&cluster_info(members[1].port).await, "cluster_raft_leader")
                    == field(&info, "cluster_raft_leader")
        },
    )
    .await;
    // The link comes back: the member proves its lease again and serves.
    for f in cut {
        transport.remove_filter(f);
    }
    eventually(
        "the member serves again",
        Duration::from_secs(15),
        async || field(&cluster_info(isolated).await, "cluster_state") == "ok",
    )
    .await;
    let back = tokio::task::spawn_blocking(move || {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{isolated}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        // A GET either answers (its own slots, values intact) or redirects, never CLUSTERDOWN.
        let (mut served, mut errors) = (0, Vec::new());
        for i in 0..50 {
            match c.get::<_, Option<i64>>(format!("key:{i}")) {
                Ok(v) => {
                    assert_eq!(v, Some(i));
                    served += 1;
                }
                Err(e) if e.to_string().to_lowercase().contains("moved") => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        (served, errors)
    })
    .await
    .unwrap();
    assert!(back.1.is_empty(), "{:?}", back.1);
    assert!(back.0 > 0, "it serves its own slots again");
    for m in members {
        let _ = m.stop.send(());
    }
}

/// Fault injected: a member dies and a node of *another* cluster starts at its bus
/// address (a port reused on one machine, as tests and `shardcache dev` runs do). The first
/// cluster still lists the dead member and keeps sending it Raft messages; the newcomer
/// must refuse them (they are addressed to another Raft id) and serve its own cluster —
/// before, openraft panicked on the foreign log and the newcomer's Raft died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_at_a_dead_members_address_ignores_the_old_cluster() {
    let transport = MemTransport::default();
    let first = start(&transport, None, Config::default()).await;
    let seed = first.port;
    let second = start(&transport, Some(seed), Config::default()).await;
    let bus_port = 47_311;
    let gone = start(
        &transport,
        Some(seed),
        Config {
            cluster_port: bus_port,
            ..Config::default()
        },
    )
    .await;
    eventually("three members", Duration::from_secs(30), async || {
        field(&cluster_info(seed).await, "cluster_known_nodes") == "3"
            && field(&cluster_info(seed).await, "cluster_slots_moving") == "0"
            && field(&cluster_info(seed).await, "cluster_state") == "ok"
    })
    .await;
    // Some history in the first cluster's log (slot moves and a SET) beyond the newcomer's.
    tokio::task::spawn_blocking(move || {
        let mut c = common::connect(seed);
        for i in 0..20 {
            let _: redis::RedisResult<()> = c.set(format!("k{i}"), i);
        }
    })
    .await
    .unwrap();
    let gone_bus = common::bus_of(gone.port).await;
    let _ = gone.stop.send(());
    transport.unregister(&gone_bus);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let newcomer = start(
        &transport,
        None,
        Config {
            cluster_port: bus_port,
            ..Config::default()
        },
    )
    .await;
    let port = newcomer.port;
    eventually(
        "the newcomer serves its own one-node cluster",
        Duration::from_secs(30),
        async || {
            let info = cluster_info(port).await;
            field(&info, "cluster_state") == "ok" && field(&info, "cluster_known_nodes") == "1"
        },
    )
    .await;
    // The old cluster has been knocking meanwhile; the newcomer still serves, and writes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let info = cluster_info(port).await;
    assert_eq!(field(&info, "cluster_state"), "ok", "{info}");
    assert_eq!(field(&info, "cluster_known_nodes"), "1", "{info}");
    tokio::task::spawn_blocking(move || {
        let mut c = common::connect(port);
        let _: () = c.set("after", 1).unwrap();
        assert_eq!(c.get::<_, i64>("after").unwrap(), 1);
    })
    .await
    .unwrap();
    let _ = first.stop.send(());
    let _ = second.stop.send(());
    let _ = newcomer.stop.send(());
}
