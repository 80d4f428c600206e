//! Failover with real processes: `shardcache dev --nodes 6 --replicas 1` (3 primaries, 3
//! replicas). Fault injected: SIGKILL of a primary. Its replica must take over its slots with
//! every WAIT-acknowledged write, the `redis` crate's cluster client must get through the
//! failover by retrying, and the killed node, restarted (Enter on dev's terminal), must come
//! back as a replica of its successor with its data.

mod common;

use std::time::{Duration, Instant};

use common::{Dev, BIN};
use redis::Commands;

/// (id, client port, flags, primary id, slot ranges) of each CLUSTER NODES line.
type NodeLine = (String, u16, String, String, Vec<(u16, u16)>);

fn cluster_nodes(port: u16) -> Vec<NodeLine> {
    let mut c = connect(port);
    let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
            let ranges = f[8..]
                .iter()
                .map(|r| match r.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (r.parse().unwrap(), r.parse().unwrap()),
                })
                .collect();
            (f[0].into(), port, f[2].into(), f[3].into(), ranges)
        })
        .collect()
}

fn connect(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

fn keys_in(ranges: &[(u16, u16)], n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("fo:{i}"))
        .filter(|k| {
            let slot = placement::slot::key_slot(k.as_bytes());
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
        })
        .take(n)
        .collect()
}

#[test]
fn a_killed_primary_is_replaced_by_its_replica_and_comes_back_as_its_replica() {
    assert!(std::path::Path::new(BIN).exists());
    let mut dev = Dev::start_with(6, &["--replicas", "1"]);
    let ports = dev.ports(6);
    let nodes = cluster_nodes(ports[0]);
    let primaries: Vec<_> = nodes.iter().filter(|n| n.2.contains("master")).collect();
    assert_eq!(primaries.len(), 3, "{nodes:?}");
    assert_eq!(nodes.iter().filter(|n| n.2.contains("slave")).count(), 3);
    let victim = primaries[1];
    let heir = nodes.iter().find(|n| n.3 == victim.0).expect("a replica");
    let keys = keys_in(&victim.4, 300);

    let status = std::process::Command::new(BIN)
        .args(["cluster", "status", &format!("127.0.0.1:{}", ports[0])])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert_eq!(status.matches("replica of ").count(), 3, "{status}");
    let mut p = connect(victim.1);
    for (i, k) in keys.iter().enumerate() {
        let _: () = p.set(k, i).unwrap();
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the writes");

    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    // The async cluster client: on a connection error it refreshes its slot map from the
    // other nodes (the sync one only reconnects to the same address, a dead node here).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut cc = runtime.block_on(cluster.get_async_connection()).unwrap();
    let mut cluster_set = |k: &str, v: &str| -> redis::RedisResult<()> {
        runtime.block_on(redis::AsyncCommands::set(&mut cc, k, v))
    };
    cluster_set(&keys[0], "before").unwrap();

    // SAFETY: kill(2) on a node process of this test's dev cluster.
    unsafe {
        libc::kill(dev.node_pid(victim.1), libc::SIGKILL);
    }
    let killed = Instant::now();
    let mut r = connect(heir.1);
    let back = loop {
        if r.set::<_, _, ()>(&keys[1], "after").is_ok() {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(20), "never promoted");
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("writes served by the replica {back:?} after the SIGKILL");
    assert!(back < Duration::from_secs(5), "{back:?}");
    for (i, k) in keys.iter().enumerate().skip(2) {
        assert_eq!(r.get::<_, Option<i64>>(k).unwrap(), Some(i as i64), "{k}");
    }
    // The cluster client finds the new primary (it retries on connection errors and MOVED).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match cluster_set(&keys[0], "through") {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "cluster client: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(r.get::<_, String>(&keys[0]).unwrap(), "through");

    // Restarted, the old primary follows its successor and gets the data.
    dev.enter();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now_nodes = cluster_nodes(ports[0]);
        let me = now_nodes.iter().find(|n| n.0 == victim.0).unwrap();
        let synced = me.2.contains("slave") && !me.2.contains("fail") && {
            redis::Client::open(format!("redis://127.0.0.1:{}/", victim.1))
                .and_then(|c| c.get_connection())
                .and_then(|mut c| {
                    redis::cmd("READONLY").query::<()>(&mut c)?;
                    c.get::<_, Option<String>>(&keys[0])
                })
                .ok()
                .flatten()
                .as_deref()
                == Some("through")
        };
        if synced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old primary did not come back as a replica: {me:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut old = connect(victim.1);
    let write = old.set::<_, _, ()>(&keys[0], "no");
    assert!(
        write
            .unwrap_err()
            .to_string()
            .to_lowercase()
            .contains("moved"),
        "a replica redirects writes to its primary"
    );

    // `shardcache cluster check --digest`: every replica up and holding its primary's data;
    // a key that exists on one replica only (DEBUG POPULATE is not replicated) is reported.
    let check = || {
        std::process::Command::new(BIN)
            .args([
                "cluster",
                "check",
                &format!("127.0.0.1:{}", ports[0]),
                "--digest",
            ])
            .output()
            .unwrap()
    };
    let report = check();
    let text = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(report.status.success(), "{text}");
    assert_eq!(text.matches("same as the primary").count(), 3, "{text}");
    assert_eq!(text.matches("link up").count(), 3, "{text}");
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(1)
        .arg("only-here")
        .query(&mut old)
        .unwrap();
    let report = check();
    let text = String::from_utf8_lossy(&report.stdout).to_string();
    assert_eq!(report.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("data of 127.0.0.1:{}: DIFFERENT", victim.1)),
        "{text}"
    );
}
