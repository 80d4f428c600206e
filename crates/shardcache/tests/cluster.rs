//! Cluster mode through the binary: `shardcache dev`, `--join`, `shardcache cluster ...`,
//! real cluster clients (the `redis` crate's cluster client, redis-cli), a restart from
//! `--dir`, and a node that loses its majority.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, free_base, http, spawn_on_free_port, Dev, BIN};
use redis::Commands;

fn shardcache(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cluster_ok(port: u16, nodes: usize) -> bool {
    let info = cli(port, &["CLUSTER", "INFO"]);
    info.contains("cluster_state:ok")
        && info.contains(&format!("cluster_known_nodes:{nodes}"))
        && info.contains("cluster_slots_moving:0")
}

fn stop(child: &mut Child) {
    // SAFETY: kill(2) on our child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
}

#[test]
fn dev_cluster_serves_cluster_clients_and_follows_a_new_node() {
    let dev = Dev::start(3);
    let ports = dev.ports(3);
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut con = client.get_connection().unwrap();
    const KEYS: i64 = 20_000;
    for i in 0..KEYS {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    for i in 0..KEYS {
        let v: i64 = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, i);
    }
    // The async cluster client (redis-rs `cluster-async`) routes the same way.
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use redis::AsyncCommands;
            let client = redis::cluster::ClusterClient::new(urls).unwrap();
            let mut con = client.get_async_connection().await.unwrap();
            for i in (0..KEYS).step_by(10) {
                let v: i64 = con.get(format!("key:{i}")).await.unwrap();
                assert_eq!(v, i);
            }
            let _: () = con.set("{async}.k", "v").await.unwrap();
            let v: String = con.get("{async}.k").await.unwrap();
            assert_eq!(v, "v");
            let n: i64 = con.del("{async}.k").await.unwrap();
            assert_eq!(n, 1);
        });
    // Balance: every node holds about a third.
    let sizes: Vec<i64> = ports
        .iter()
        .map(|p| cli(*p, &["DBSIZE"]).parse().unwrap())
        .collect();
    assert_eq!(sizes.iter().sum::<i64>(), KEYS);
    for s in &sizes {
        assert!((KEYS / 3 - 600..=KEYS / 3 + 600).contains(s), "{sizes:?}");
    }
    // redis-cli's own cluster tooling agrees.
    let check = Command::new("redis-cli")
        .args(["--cluster", "check", &format!("127.0.0.1:{}", ports[0])])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    assert!(!cli(ports[0], &["CLUSTER", "NODES"]).contains("fail"));
    assert_eq!(cli(ports[1], &["-c", "SET", "{user1}.a", "x"]), "OK");
    assert_eq!(cli(ports[2], &["-c", "GET", "{user1}.a"]), "x");
    assert!(cli(ports[0], &["MSET", "a", "1", "b", "2"]).starts_with("CROSSSLOT"));
    assert_eq!(cli(ports[0], &["-c", "DEL", "{user1}.a"]), "1");

    // The operations API of any node covers the whole cluster.
    let (code, body) = http("GET", dev.base + 1002, "/api/cache/stats");
    assert_eq!(code, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["keys"], KEYS, "{body}");
    assert_eq!(stats["nodes"].as_array().unwrap().len(), 3);
    let slots: u64 = stats["slot_distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(slots, 16384);
    let keys: u64 = stats["shard_distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(keys, KEYS as u64);
    // Clearing a pattern removes exactly its keys everywhere: key:1, key:10..19, key:100..199,
    // key:1000..1999, key:10000..19999 = 1 + 10 + 100 + 1000 + 10000.
    let (code, body) = http("POST", dev.base + 1001, "/api/cache/clear?pattern=key:1*");
    assert_eq!(code, 200, "{body}");
    let cleared: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cleared["cleared"], 11_111, "{body}");
    assert_eq!(cleared["shards_cleared"], 3, "{body}");
    assert_eq!(cleared["pattern"], "key:1*");
    let gone: Option<i64> = con.get("key:1234").unwrap();
    assert_eq!(gone, None);
    let kept: i64 = con.get("key:2345").unwrap();
    assert_eq!(kept, 2345);
    for i in 0..KEYS {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }

    // A fourth node, started on standby and added with the CLI.
    // A port checked free now (with its bus port, +10000): base + 3 was free when the dev
    // cluster started, but a parallel test may have taken it since.
    let new_port = free_base(1);
    let mut fourth = Command::new(BIN)
        .args(["server", "--cluster-enabled", "--standby", "--threads", "1"])
        .args(["--port", &new_port.to_string(), "--loglevel", "warning"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the new node listens", Duration::from_secs(10), || {
        cli(new_port, &["PING"]) == "PONG"
    });
    assert!(cli(new_port, &["GET", "x"]).starts_with("CLUSTERDOWN"));
    let (ok, out) = shardcache(&[
        "cluster",
        "add-node",
        &format!("127.0.0.1:{new_port}"),
        "--to",
        &format!("127.0.0.1:{}", ports[1]),
    ]);
    assert!(ok, "{out}");
    let all: Vec<u16> = ports.iter().copied().chain([new_port]).collect();
    eventually("every node sees four", Duration::from_secs(15), || {
        all.iter().all(|p| cluster_ok(*p, 4))
    });
    let (ok, status) = shardcache(&["cluster", "status", &format!("127.0.0.1:{new_port}")]);
    assert!(ok, "{status}");
    assert!(status.contains("nodes: 4"), "{status}");
    // The same client follows MOVED to the new owner; the moved slots took their keys along
    // (no key went cold), about a quarter of them.
    for i in 0..KEYS {
        let v: Option<i64> = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, Some(i), "key:{i} after the join");
    }
    let on_new: i64 = cli(new_port, &["DBSIZE"]).parse().unwrap();
    let share = on_new as f64 / KEYS as f64;
    assert!((0.20..=0.30).contains(&share), "moved share {share}");
    eventually(
        "old owners drop the keys they gave away",
        Duration::from_secs(10),
        || {
            let total: i64 = ports
                .iter()
                .map(|p| cli(*p, &["DBSIZE"]).parse::<i64>().unwrap())
                .sum();
            total == KEYS - on_new
        },
    );

    // Removed again by address, gracefully; its slots go back to the three.
    let (ok, out) = shardcache(&[
        "cluster",
        "remove-node",
        &format!("127.0.0.1:{new_port}"),
        "--from",
        &format!("127.0.0.1:{}", ports[0]),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("drained and removed"), "{out}");
    eventually("the three see three", Duration::from_secs(15), || {
        ports.iter().all(|p| cluster_ok(*p, 3))
    });
    // Drained: its keys moved back with its slots.
    for i in 0..KEYS {
        let v: Option<i64> = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, Some(i), "key:{i} after the drain");
    }
    for i in (0..KEYS).step_by(7) {
        let _: () = con.set(format!("key:{i}"), -i).unwrap();
        let v: i64 = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, -i);
    }
    stop(&mut fourth);
}

#[test]
fn membership_errors_change_nothing() {
    let (mut a, pa, _log) = spawn_on_free_port(&["--cluster-enabled", "--threads", "1"]);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(pa, 1)
    });
    let id = cli(pa, &["CLUSTER", "MYID"]);
    let at = format!("127.0.0.1:{pa}");
    // Nobody listens there.
    let nobody = free_base(1);
    let (ok, out) = shardcache(&[
        "cluster",
        "add-node",
        &format!("127.0.0.1:{nobody}"),
        "--to",
        &at,
    ]);
    assert!(!ok);
    assert!(out.contains("cannot reach"), "{out}");
    // The last node cannot go; an unknown id is refused.
    let (ok, out) = shardcache(&["cluster", "remove-node", &id, "--from", &at]);
    assert!(!ok);
    assert!(out.contains("cannot remove the last node"), "{out}");
    assert!(cli(pa, &["CLUSTER", "FORGET", &"e".repeat(40)]).contains("Unknown node"));
    // Wrong arity and bad ports.
    assert!(cli(pa, &["CLUSTER", "MEET", "127.0.0.1"]).contains("wrong number of arguments"));
    assert!(cli(pa, &["CLUSTER", "MEET", "127.0.0.1", "notaport"]).contains("Invalid"));
    assert!(cli(pa, &["CLUSTER", "FORGET"]).contains("wrong number of arguments"));
    // A node that already runs its own cluster cannot be met.
    let (mut b, pb, _) = spawn_on_free_port(&["--cluster-enabled", "--threads", "1"]);
    eventually("b bootstrapped", Duration::from_secs(10), || {
        cluster_ok(pb, 1)
    });
    let b_bus = cli(pb, &["CLUSTER", "NODES"]);
    let b_bus: u16 = b_bus
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.split('@').nth(1))
        .and_then(|p| p.split(',').next()?.parse().ok())
        .unwrap();
    let reply = cli(
        pa,
        &[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            &pb.to_string(),
            &b_bus.to_string(),
        ],
    );
    assert!(reply.contains("already belongs to a cluster"), "{reply}");
    assert!(cluster_ok(pa, 1) && cluster_ok(pb, 1));
    stop(&mut a);
    stop(&mut b);
}

#[test]
fn a_restarted_node_comes_back_as_itself() {
    let dir = std::env::temp_dir().join(format!("shardcache-member-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let args = ["--cluster-enabled", "--threads", "1", "--dir", dir_arg];
    let (mut first, port, _) = spawn_on_free_port(&args);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(port, 1)
    });
    let id = cli(port, &["CLUSTER", "MYID"]);
    stop(&mut first);
    let (mut second, port2, _) = spawn_on_free_port(&args);
    eventually("resumed", Duration::from_secs(10), || cluster_ok(port2, 1));
    assert_eq!(cli(port2, &["CLUSTER", "MYID"]), id);
    // The epoch survived too (no second bootstrap).
    assert!(cli(port2, &["CLUSTER", "INFO"]).contains("cluster_current_epoch:1"));
    stop(&mut second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three members formed with `--join`; when two die, the survivor stops serving its slots
/// once its lease runs out (about a second), as it could be the minority.
#[test]
fn a_node_that_loses_its_majority_stops_serving() {
    let args = ["--cluster-enabled", "--threads", "1"];
    let (mut a, pa, _) = spawn_on_free_port(&args);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(pa, 1)
    });
    let join = format!("127.0.0.1:{pa}");
    let mut others = Vec::new();
    for _ in 0..2 {
        let (child, port, _) =
            spawn_on_free_port(&["--cluster-enabled", "--threads", "1", "--join", &join]);
        others.push((child, port));
    }
    eventually("three members", Duration::from_secs(20), || {
        cluster_ok(pa, 3) && others.iter().all(|(_, p)| cluster_ok(*p, 3))
    });
    // A key a's own: found through CLUSTER NODES ranges via the redirect of a SET.
    let mut mine = None;
    for i in 0..1000 {
        let key = format!("k{i}");
        if cli(pa, &["SET", &key, "v"]) == "OK" {
            mine = Some(key);
            break;
        }
    }
    let mine = mine.expect("a key a owns");
    for (child, _) in &mut others {
        let _ = child.kill();
        let _ = child.wait();
    }
    let killed = Instant::now();
    eventually("CLUSTERDOWN", Duration::from_secs(5), || {
        cli(pa, &["GET", &mine]).starts_with("CLUSTERDOWN")
    });
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "{:?}",
        killed.elapsed()
    );
    assert!(cli(pa, &["CLUSTER", "INFO"]).contains("cluster_state:fail"));
    // It shows the others as suspected (`fail?`, Redis's PFAIL), then failed once they
    // have been silent for two seconds.
    eventually("the dead are flagged", Duration::from_secs(5), || {
        let nodes = cli(pa, &["CLUSTER", "NODES"]);
        nodes.matches("fail? ").count() + nodes.matches("master,fail ").count() == 2
    });
    let (ok, status) = shardcache(&["cluster", "status", &format!("127.0.0.1:{pa}")]);
    assert!(ok, "{status}");
    assert_eq!(status.matches("UNREACHABLE").count(), 2, "{status}");
    assert!(status.contains("cluster_state: fail"), "{status}");
    stop(&mut a);
}

/// Key placement figures for the note: keys per node and the share that moves when a node
/// joins, counted from CLUSTER SLOTS before and after (no data needed).
#[test]
fn keys_per_node_and_join_movement_share() {
    let dev = Dev::start(3);
    let ports = dev.ports(3);
    let owners = |port: u16| -> HashMap<u16, String> {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--csv", "CLUSTER", "NODES"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace("\\n", "\n");
        let mut map = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.trim_matches('"').split_whitespace().collect();
            for r in f.iter().skip(8) {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                for s in a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap() {
                    map.insert(s, f[0].to_string());
                }
            }
        }
        map
    };
    let before = owners(ports[0]);
    assert_eq!(before.len(), 16384);
    let keys: Vec<u16> = (0..100_000)
        .map(|i| {
            let out = format!("key:{i}");
            placement::slot::key_slot(out.as_bytes())
        })
        .collect();
    let mut per_node: HashMap<&String, usize> = HashMap::new();
    for s in &keys {
        *per_node.entry(&before[s]).or_default() += 1;
    }
    let counts: Vec<usize> = per_node.values().copied().collect();
    eprintln!("keys per node (100k keys, 3 nodes): {counts:?}");
    for c in &counts {
        assert!((31_000..=35_700).contains(c), "{counts:?}");
    }
    // A port checked free now (with its bus port, +10000): base + 3 was free when the dev
    // cluster started, but a parallel test may have taken it since.
    let new_port = free_base(1);
    let mut fourth = Command::new(BIN)
        .args([
            "server",
            "--cluster-enabled",
            "--threads",
            "1",
            "--loglevel",
            "warning",
        ])
        .args(["--port", &new_port.to_string()])
        .args(["--join", &format!("127.0.0.1:{}", ports[2])])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("four nodes", Duration::from_secs(20), || {
        cluster_ok(ports[0], 4)
    });
    let after = owners(ports[0]);
    let moved = keys.iter().filter(|s| before[s] != after[s]).count();
    let share = moved as f64 / keys.len() as f64;
    eprintln!("share of 100k keys that changed node when a 4th joined: {share:.4} (ideal 0.25)");
    assert!((0.24..=0.26).contains(&share), "{share}");
    // The first node (the Raft leader since it bootstrapped) removes itself: it steps down,
    // the three others elect a leader and serve every slot.
    let first = cli(ports[0], &["CLUSTER", "MYID"]);
    let (ok, out) = shardcache(&[
        "cluster",
        "remove-node",
        &first,
        "--from",
        &format!("127.0.0.1:{}", ports[0]),
    ]);
    assert!(ok, "{out}");
    let rest = [ports[1], ports[2], new_port];
    eventually(
        "three nodes without the first",
        Duration::from_secs(20),
        || rest.iter().all(|p| cluster_ok(*p, 3)),
    );
    assert_eq!(cli(ports[1], &["-c", "SET", "after", "1"]), "OK");
    stop(&mut fourth);
}

#[test]
fn redis_cli_cluster_check_sees_all_slots_covered() {
    let (mut child, port, _log) = spawn_on_free_port(&["--cluster-enabled"]);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(port, 1)
    });
    let addr = format!("127.0.0.1:{port}");
    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &addr])
        .output()
        .expect("redis-cli (installed by the test script)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    assert_eq!(cli(port, &["-c", "SET", "user:1", "ann"]), "OK");
    stop(&mut child);
}

/// A member is SIGKILLed: the survivors keep serving their own slots, and CLUSTER INFO says
/// `cluster_state:fail` with the dead member's slots counted as failed (as Redis reports a
/// cluster with unserved slots), until it is removed; then `ok` again.
#[test]
fn cluster_info_reports_fail_while_a_dead_member_holds_slots() {
    let (mut a, pa, _) = spawn_on_free_port(&["--cluster-enabled", "--threads", "1"]);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(pa, 1)
    });
    let join = format!("127.0.0.1:{pa}");
    let (mut b, pb, _) =
        spawn_on_free_port(&["--cluster-enabled", "--threads", "1", "--join", &join]);
    let (mut dead, pd, _) =
        spawn_on_free_port(&["--cluster-enabled", "--threads", "1", "--join", &join]);
    eventually("three members", Duration::from_secs(20), || {
        [pa, pb, pd].iter().all(|p| cluster_ok(*p, 3))
    });
    let ports = [pa, pb];
    let dead_id = cli(pd, &["CLUSTER", "MYID"]);
    let _ = dead.kill();
    let _ = dead.wait();
    eventually("state fail", Duration::from_secs(8), || {
        let info = cli(ports[0], &["CLUSTER", "INFO"]);
        info.contains("cluster_state:fail") && !info.contains("cluster_slots_fail:0")
    });
    let info = cli(ports[0], &["CLUSTER", "INFO"]);
    let field = |name: &str| -> usize {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        (5000..=5700).contains(&field("cluster_slots_fail")),
        "{info}"
    );
    assert_eq!(
        field("cluster_slots_ok") + field("cluster_slots_fail") + field("cluster_slots_pfail"),
        16384
    );
    assert!(cli(ports[0], &["CLUSTER", "NODES"]).contains("master,fail "));
    // The survivors still serve their own slots.
    assert_eq!(cli(ports[0], &["-c", "SET", "{a}x", "1"]), "OK");
    let (ok, out) = shardcache(&[
        "cluster",
        "remove-node",
        &dead_id,
        "--from",
        &format!("127.0.0.1:{}", ports[0]),
    ]);
    assert!(ok, "{out}");
    eventually("ok again", Duration::from_secs(10), || {
        cluster_ok(ports[0], 2)
    });
    stop(&mut a);
    stop(&mut b);
}

/// A node removed while it was down, restarted from its --dir, says so in its log (and how
/// to rejoin), serves nothing and redirects clients to the owners it last knew.
#[test]
fn a_removed_node_restarted_from_its_dir_says_it_was_removed_and_redirects() {
    let dir = std::env::temp_dir().join(format!("shardcache-removed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut a, pa, _) = spawn_on_free_port(&["--cluster-enabled", "--threads", "1"]);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(pa, 1)
    });
    let join = format!("127.0.0.1:{pa}");
    let dir_arg = dir.to_string_lossy().to_string();
    let with_dir = [
        "--cluster-enabled",
        "--threads",
        "1",
        "--join",
        join.as_str(),
        "--dir",
        dir_arg.as_str(),
    ];
    let (mut b, pb, _) =
        spawn_on_free_port(&["--cluster-enabled", "--threads", "1", "--join", &join]);
    let (mut c, pc, _) = spawn_on_free_port(&with_dir);
    eventually("three members", Duration::from_secs(20), || {
        [pa, pb, pc].iter().all(|p| cluster_ok(*p, 3))
    });
    let c_id = cli(pc, &["CLUSTER", "MYID"]);
    stop(&mut c);
    let (ok, out) = shardcache(&[
        "cluster",
        "remove-node",
        &c_id,
        "--from",
        &format!("127.0.0.1:{pa}"),
    ]);
    assert!(ok, "{out}");
    eventually("two members", Duration::from_secs(10), || {
        cluster_ok(pa, 2) && cluster_ok(pb, 2)
    });
    // It comes back on its old ports (kept in --dir's Raft state).
    let (mut c2, pc2, log) = spawn_on_free_port(&with_dir);
    eventually("the removal is logged", Duration::from_secs(10), || {
        log.lock().unwrap().contains("removed from the cluster")
    });
    assert!(log.lock().unwrap().contains("empty --dir"));
    // It serves nothing, and sends a client that still asks it to the key's owner.
    let moved = cli(pc2, &["GET", "x"]);
    assert!(
        moved.starts_with("MOVED") && [pa, pb].iter().any(|p| moved.ends_with(&format!(":{p}"))),
        "{moved}"
    );
    assert!(cluster_ok(pa, 2), "the cluster is undisturbed");
    stop(&mut c2);
    stop(&mut a);
    stop(&mut b);
    let _ = std::fs::remove_dir_all(&dir);
}
