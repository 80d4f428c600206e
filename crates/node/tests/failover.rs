//! Shards with replicas and automatic failover, four complete members in one process over the
//! in-memory cluster transport (`--cluster-replicas 1`: two primaries, two replicas).
//!
//! Fault injected: every cluster-bus message to and from one primary is dropped (it is cut
//! off from the cluster, its clients still reach it, and its replication link — a TCP
//! connection outside the bus — stays up). Its replica must be promoted, every write the old
//! primary acknowledged with `WAIT 1` must be readable on the new one, the old primary must
//! stop accepting writes, and once the link is back it must follow the new primary.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::mem::{Fault, MemTransport};
use redis::Commands;
use server::Config;

mod common;

use common::{bus_of, cluster_info, cluster_nodes, connect, eventually, field, start};

/// One CLUSTER NODES line: id, client port, flags, primary id, slot ranges.
struct Line {
    id: String,
    port: u16,
    flags: String,
    primary: String,
    ranges: Vec<(u16, u16)>,
}

fn lines(nodes: &str) -> Vec<Line> {
    nodes
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f[1]
                .split_once(':')
                .unwrap()
                .1
                .split_once('@')
                .unwrap()
                .0
                .parse()
                .unwrap();
            let ranges = f[8..]
                .iter()
                .filter(|r| !r.starts_with('[')) // open slots: [slot->-id], [slot-<-id]
                .map(|r| match r.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (r.parse().unwrap(), r.parse().unwrap()),
                })
                .collect();
            Line {
                id: f[0].into(),
                port,
                flags: f[2].into(),
                primary: f[3].into(),
                ranges,
            }
        })
        .collect()
}

/// Keys whose slots the shard with these ranges owns.
fn keys_in(ranges: &[(u16, u16)], from: usize, n: usize) -> Vec<(usize, String)> {
    keys_from(ranges.to_vec(), from).take(n).collect()
}

/// The same, made as they are needed.
fn keys_from(ranges: Vec<(u16, u16)>, from: usize) -> impl Iterator<Item = (usize, String)> {
    (from..)
        .map(|i| (i, format!("k{i}")))
        .filter(move |(_, k)| {
            let slot = placement::slot::key_slot(k.as_bytes());
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
        })
}

/// Starts 4 members with `--cluster-replicas 1` and waits until they form 2 primaries with
/// one replica each, every replica in sync. Answers the members (bus addresses filled in).
async fn two_shards_with_replicas(transport: &MemTransport) -> Vec<common::Member> {
    shards_with_replicas(transport, 4, 1).await
}

/// `nodes` members of a cluster that wants `replicas` replicas per shard, returned once
/// every node has joined, nothing moves, and every replica's link is up.
async fn shards_with_replicas(
    transport: &MemTransport,
    nodes: usize,
    replicas: usize,
) -> Vec<common::Member> {
    shards_with_replicas_configured(transport, nodes, replicas, Config::default).await
}

/// [`shards_with_replicas`] with every member's configuration from `base`.
async fn shards_with_replicas_configured(
    transport: &MemTransport,
    nodes: usize,
    replicas: usize,
    base: impl Fn() -> Config,
) -> Vec<common::Member> {
    let first = start(
        transport,
        None,
        Config {
            cluster_replicas: replicas,
            ..base()
        },
    )
    .await;
    let seed = first.port;
    let mut members = vec![first];
    for _ in 1..nodes {
        members.push(start(transport, Some(seed), base()).await);
    }
    let (want_nodes, want_replicas) = (nodes.to_string(), nodes - nodes.div_ceil(replicas + 1));
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    let formed = async || {
        for p in &ports {
            let info = cluster_info(*p).await;
            if field(&info, "cluster_state") != "ok"
                || field(&info, "cluster_known_nodes") != want_nodes
                || field(&info, "cluster_slots_moving") != "0"
            {
                return false;
            }
        }
        let nodes = lines(&cluster_nodes(seed).await);
        let replicas: Vec<_> = nodes.iter().filter(|l| l.flags.contains("slave")).collect();
        if replicas.len() != want_replicas {
            return false;
        }
        for r in replicas {
            let port = r.port;
            let up = tokio::task::spawn_blocking(move || {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut connect(port))
                    .unwrap_or_default();
                info.contains("master_link_status:up")
            })
            .await
            .unwrap();
            if !up {
                return false;
            }
        }
        true
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !formed().await {
        if Instant::now() > deadline {
            let mut state = String::new();
            for p in &ports {
                state += &format!("== {p}\n{}\n", cluster_nodes(*p).await);
                state += &cluster_info(*p).await;
                let port = *p;
                state += &tokio::task::spawn_blocking(move || {
                    redis::cmd("INFO")
                        .arg("replication")
                        .query::<String>(&mut connect(port))
                        .unwrap_or_default()
                })
                .await
                .unwrap();
            }
            panic!("never formed {nodes} members with {want_replicas} replicas in sync:\n{state}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for m in &mut members {
        m.bus = bus_of(m.port).await;
    }
    members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_primary_is_replaced_by_its_replica_and_no_waited_write_is_lost() {
    cut_off_primary(false).await;
}

/// The same when the cut-off primary also leads the Raft group: a new leader is elected,
/// learns from a majority of voters when the old one last confirmed its leadership, and
/// promotes the replica once the old primary's lease must have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_primary_that_leads_the_raft_group_is_replaced_too() {
    cut_off_primary(true).await;
}

async fn cut_off_primary(leading: bool) {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    let mut leader = field(&cluster_info(seed).await, "cluster_raft_leader");
    let mut nodes = lines(&cluster_nodes(seed).await);
    if leading
        && !nodes
            .iter()
            .any(|l| l.id == leader && l.flags.contains("master"))
    {
        // Make the leader a primary: CLUSTER FAILOVER on it (it leads a replica now).
        let port = nodes.iter().find(|l| l.id == leader).unwrap().port;
        tokio::task::spawn_blocking(move || {
            let mut c = connect(port);
            c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            redis::cmd("CLUSTER")
                .arg("FAILOVER")
                .query::<()>(&mut c)
                .unwrap();
        })
        .await
        .unwrap();
        eventually(
            "the leader is a primary",
            Duration::from_secs(10),
            async || {
                lines(&cluster_nodes(seed).await)
                    .iter()
                    .any(|l| l.id == leader && l.flags.contains("master"))
            },
        )
        .await;
        nodes = lines(&cluster_nodes(seed).await);
        leader = field(&cluster_info(seed).await, "cluster_raft_leader");
    }
    let primary = nodes
        .iter()
        .find(|l| l.flags.contains("master") && (l.id == leader) == leading)
        .expect("a primary that leads (or not) the Raft group");
    let replica = nodes
        .iter()
        .find(|l| l.primary == primary.id)
        .expect("its replica");
    assert!(nodes
        .iter()
        .filter(|l| l.flags.contains("master"))
        .all(|l| !l.ranges.is_empty()));
    let (p_port, r_port) = (primary.port, replica.port);
    let p_bus = members
        .iter()
        .find(|m| m.port == p_port)
        .unwrap()
        .bus
        .clone();
    let ranges = primary.ranges.clone();
    let ranges_after = ranges.clone();

    // Writes acknowledged by the replica (WAIT 1); reads on the replica only with READONLY.
    let before = keys_in(&ranges, 0, 500);
    let last_before = before.last().unwrap().0;
    let checked = before.clone();
    tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        for (i, k) in &checked {
            let _: () = p.set(k, *i).unwrap();
        }
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut p).unwrap();
        assert_eq!(acked, 1);
        let mut r = connect(r_port);
        let moved = r.get::<_, Option<i64>>(&checked[0].1).unwrap_err();
        assert!(
            moved.to_string().to_lowercase().contains("moved"),
            "{moved}"
        );
        let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
        for (i, k) in &checked {
            assert_eq!(r.get::<_, Option<i64>>(k).unwrap(), Some(*i as i64), "{k}");
        }
        let refused = r.set::<_, _, ()>(&checked[0].1, 0).unwrap_err();
        assert!(
            refused.to_string().to_lowercase().contains("moved"),
            "{refused}"
        );
    })
    .await
    .unwrap();

    // A client keeps writing to the primary, each write followed by WAIT 1.
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let writer_ranges = ranges.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        p.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let (mut waited, mut unacked, mut last_ok) = (Vec::new(), 0usize, None);
        for (i, k) in keys_from(writer_ranges, last_before + 1) {
            if stopping.load(Ordering::Relaxed) {
                break;
            }
            let set: redis::RedisResult<()> = p.set(&k, i);
            if set.is_ok() {
                last_ok = Some(Instant::now());
            }
            let acked: redis::RedisResult<i64> = redis::cmd("WAIT").arg(1).arg(200).query(&mut p);
            match (set, acked) {
                (Ok(()), Ok(n)) if n >= 1 => waited.push((i, k)),
                _ => unacked += 1,
            }
        }
        (waited, unacked, last_ok)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let cut = transport.fault_node(&p_bus, Fault::Drop(1.0));
    let cut_at = Instant::now();
    // Writes to the replica are redirected until it is promoted, then wait out the old
    // primary's lease and succeed.
    let promoted_after = tokio::task::spawn_blocking(move || {
        let mut r = connect(r_port);
        loop {
            if r.set::<_, _, ()>(&keys_in(&ranges, 0, 1)[0].1, 0).is_ok() {
                return cut_at.elapsed();
            }
            assert!(cut_at.elapsed() < Duration::from_secs(20), "never promoted");
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .unwrap();
    println!("writes served by the promoted replica {promoted_after:?} after the cut");
    assert!(
        promoted_after < Duration::from_secs(5),
        "{promoted_after:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (waited, unacked, last_ok) = writer.await.unwrap();
    // Never two primaries: the old one acknowledged nothing once the new one served.
    let old_stopped = last_ok.expect("writes before the cut");
    assert!(
        old_stopped < cut_at + promoted_after,
        "the old primary acknowledged a write {:?} after the new one served",
        old_stopped - (cut_at + promoted_after)
    );
    assert!(
        !waited.is_empty(),
        "the primary acknowledged writes before the cut"
    );

    // Every write acknowledged with WAIT 1 is on the new primary.
    let (lost, old_refuses) = tokio::task::spawn_blocking(move || {
        let mut r = connect(r_port);
        let lost: Vec<String> = before
            .iter()
            .chain(waited.iter())
            .skip(1) // the key the promotion probe overwrote
            .filter(|(i, k)| r.get::<_, Option<i64>>(k).unwrap() != Some(*i as i64))
            .map(|(_, k)| k.clone())
            .collect();
        // The old primary, cut off, no longer accepts writes.
        let mut p = connect(p_port);
        let old = p.set::<_, _, ()>(&before[1].1, -1);
        println!("the old primary answers a write with {old:?}");
        (lost, old.is_err())
    })
    .await
    .unwrap();
    println!(
        "acknowledged (WAIT 1) writes lost: {}; unacknowledged writes: {unacked}",
        lost.len()
    );
    assert!(lost.is_empty(), "lost acknowledged writes: {lost:?}");
    assert!(old_refuses, "the cut-off old primary still accepts writes");

    // The link comes back: the old primary learns it is a replica and follows the new one.
    for f in cut {
        transport.remove_filter(f);
    }
    let after = keys_in(&ranges_after, 10_000_000, 1).remove(0).1;
    let written = after.clone();
    tokio::task::spawn_blocking(move || {
        let _: () = connect(r_port).set(written, "failover").unwrap();
    })
    .await
    .unwrap();
    eventually(
        "the old primary follows the new one",
        Duration::from_secs(20),
        async || {
            let mine = lines(&cluster_nodes(p_port).await);
            let me = mine.iter().find(|l| l.flags.contains("myself"));
            if !me.is_some_and(|l| l.flags.contains("slave")) {
                return false;
            }
            let after = after.clone();
            tokio::task::spawn_blocking(move || {
                let mut p = connect(p_port);
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut p)
                    .unwrap_or_default();
                let _: redis::RedisResult<()> = redis::cmd("READONLY").query(&mut p);
                info.contains("master_link_status:up")
                    && info.contains(&format!("master_port:{r_port}"))
                    && p.get::<_, Option<String>>(&after).ok().flatten().is_some()
            })
            .await
            .unwrap()
        },
    )
    .await;
    let seen: HashSet<String> = lines(&cluster_nodes(seed).await)
        .into_iter()
        .filter(|l| l.flags.contains("master"))
        .map(|l| l.id)
        .collect();
    assert!(seen.contains(&replica.id) && !seen.contains(&primary.id));
    for m in members {
        let _ = m.stop.send(());
    }
}

/// CLUSTER FAILOVER on a replica, while a client writes to its primary without WAIT: the
/// primary pauses its writers, the replica catches up, the roles swap, and every write the
/// old primary acknowledged is on the new one (the default mode loses nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failover_swaps_roles_without_losing_a_write() {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    let nodes = lines(&cluster_nodes(seed).await);
    let primary = nodes.iter().find(|l| l.flags.contains("master")).unwrap();
    let replica = nodes.iter().find(|l| l.primary == primary.id).unwrap();
    let (p_port, r_port) = (primary.port, replica.port);
    let ranges = primary.ranges.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        let mut acked = Vec::new();
        for (i, k) in keys_from(ranges, 0) {
            if stopping.load(Ordering::Relaxed) {
                break;
            }
            match p.set::<_, _, ()>(&k, i) {
                Ok(()) => acked.push((i, k)),
                Err(e) => {
                    // Redirected: the primary is a replica now.
                    eprintln!("writer stops after {} writes: {e}", acked.len());
                    break;
                }
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query::<()>(&mut p)
            .unwrap_err()
            .to_string()
    })
    .await
    .unwrap();
    assert!(
        refused.contains("You should send CLUSTER FAILOVER to a replica"),
        "{refused}"
    );
    let done = tokio::task::spawn_blocking(move || {
        let mut r = connect(r_port);
        r.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query::<String>(&mut r)
    })
    .await
    .unwrap();
    assert_eq!(done.unwrap(), "OK");
    eventually("the roles swapped", Duration::from_secs(10), async || {
        let now = lines(&cluster_nodes(seed).await);
        now.iter()
            .any(|l| l.port == r_port && l.flags.contains("master"))
            && now
                .iter()
                .any(|l| l.port == p_port && l.flags.contains("slave"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await.unwrap();
    assert!(
        acked.len() > 10,
        "the primary took writes before the failover"
    );
    let lost = tokio::task::spawn_blocking(move || {
        let mut r = connect(r_port);
        acked
            .iter()
            .filter(|(i, k)| r.get::<_, Option<i64>>(k).unwrap() != Some(*i as i64))
            .count()
    })
    .await
    .unwrap();
    assert_eq!(lost, 0, "acknowledged writes lost in a manual failover");
    for m in members {
        let _ = m.stop.send(());
    }
}

/// CLUSTER REPLICATE: Redis's refusals (itself, a replica, from a primary), then a replica
/// moves to the other shard and follows that shard's primary, data and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_moves_to_another_shard_with_cluster_replicate() {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    // The move leaves the first shard without a replica: replica migration would send one
    // back after 5 s (as Redis's would), so it is off for this test.
    set_everywhere(&members, "cluster-allow-replica-migration", "no").await;
    let nodes = lines(&cluster_nodes(seed).await);
    let primaries: Vec<&Line> = nodes
        .iter()
        .filter(|l| l.flags.contains("master"))
        .collect();
    let (a, b) = (primaries[0], primaries[1]);
    let mover = nodes.iter().find(|l| l.primary == a.id).unwrap();
    let (mover_port, b_port, a_port) = (mover.port, b.port, a.port);
    let (a_id, b_id, mover_id) = (a.id.clone(), b.id.clone(), mover.id.clone());
    let b_keys = keys_in(&b.ranges, 0, 50);
    let (b_id2, mover_id2) = (b_id.clone(), mover_id.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let (b_id, mover_id) = (b_id2, mover_id2);
        let mut pb = connect(b_port);
        for (i, k) in &b_keys {
            let _: () = pb.set(k, *i).unwrap();
        }
        let mut m = connect(mover_port);
        let ask = |c: &mut redis::Connection, id: &str| {
            redis::cmd("CLUSTER")
                .arg("REPLICATE")
                .arg(id)
                .query::<String>(c)
                .map_err(|e| e.to_string())
        };
        let errors = [
            ask(&mut m, &mover_id).unwrap_err(),
            ask(&mut m, &"0".repeat(40)).unwrap_err(),
            ask(&mut connect(a_port), &b_id).unwrap_err(),
        ];
        (errors, ask(&mut m, &b_id), b_keys)
    })
    .await
    .unwrap();
    let (errors, moved, b_keys) = outcome;
    assert!(errors[0].contains("Can't replicate myself"), "{errors:?}");
    assert!(errors[1].contains("Unknown node"), "{errors:?}");
    assert!(
        errors[2].contains("To set a master the node must be empty"),
        "{errors:?}"
    );
    assert_eq!(moved.unwrap(), "OK");
    eventually(
        "the replica follows the other shard's primary with its data",
        Duration::from_secs(15),
        async || {
            let now = lines(&cluster_nodes(seed).await);
            if !now.iter().any(|l| l.id == mover_id && l.primary == b_id) {
                return false;
            }
            let keys = b_keys.clone();
            tokio::task::spawn_blocking(move || replica_holds(mover_port, b_port, &keys))
                .await
                .unwrap()
        },
    )
    .await;
    let replicas_of_a = lines(&cluster_nodes(seed).await)
        .iter()
        .filter(|l| l.primary == a_id)
        .count();
    assert_eq!(replicas_of_a, 0);
    for m in members {
        let _ = m.stop.send(());
    }
}

/// Whether the member at `port` follows the primary at `primary_port` with its link up and
/// holds `keys` (read after READONLY). Blocking: call it off the runtime.
fn replica_holds(port: u16, primary_port: u16, keys: &[(usize, String)]) -> bool {
    let mut m = connect(port);
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut m)
        .unwrap_or_default();
    let _: redis::RedisResult<()> = redis::cmd("READONLY").query(&mut m);
    info.contains(&format!("master_port:{primary_port}"))
        && info.contains("master_link_status:up")
        && keys
            .iter()
            .all(|(i, k)| m.get::<_, Option<i64>>(k).ok().flatten() == Some(*i as i64))
}

/// CONFIG SET `name` `value` on every member.
async fn set_everywhere(members: &[common::Member], name: &'static str, value: &'static str) {
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    tokio::task::spawn_blocking(move || {
        for p in ports {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query(&mut connect(p))
                .unwrap();
        }
    })
    .await
    .unwrap();
}

/// Fault injected: the only replica of one shard is cut off from the cluster bus (its
/// replication link, a TCP connection outside the bus, stays up). The other shard has two
/// replicas. With `cluster-allow-replica-migration no` nothing moves; once it is `yes`, one
/// of the other shard's replicas becomes a replica of the orphaned primary within
/// ORPHAN_DELAY (5 s) and syncs from it, and the donor keeps one (Redis's replica
/// migration, barrier 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_primary_gets_a_replica_from_a_shard_that_can_spare_one() {
    let transport = MemTransport::default();
    let members = shards_with_replicas(&transport, 5, 2).await;
    set_everywhere(&members, "cluster-allow-replica-migration", "no").await;
    let seed = members[0].port;
    let nodes = lines(&cluster_nodes(seed).await);
    let replicas_of = |nodes: &[Line], id: &str| -> Vec<String> {
        nodes
            .iter()
            .filter(|l| l.primary == id)
            .map(|l| l.id.clone())
            .collect()
    };
    let primaries: Vec<&Line> = nodes
        .iter()
        .filter(|l| l.flags.contains("master"))
        .collect();
    let orphan = primaries
        .iter()
        .find(|p| replicas_of(&nodes, &p.id).len() == 1)
        .expect("a shard with one replica");
    let donor = primaries
        .iter()
        .find(|p| replicas_of(&nodes, &p.id).len() == 2)
        .expect("a shard with two replicas");
    let (orphan_id, orphan_port, donor_id) = (orphan.id.clone(), orphan.port, donor.id.clone());
    let donors_replicas = replicas_of(&nodes, &donor_id);
    let lost = replicas_of(&nodes, &orphan_id).remove(0);
    let lost_port = nodes.iter().find(|l| l.id == lost).unwrap().port;
    let lost_bus = members
        .iter()
        .find(|m| m.port == lost_port)
        .unwrap()
        .bus
        .clone();
    let _cut = transport.fault_node(&lost_bus, Fault::Drop(1.0));
    eventually(
        "the cut-off replica is flagged failed",
        Duration::from_secs(10),
        async || {
            lines(&cluster_nodes(seed).await)
                .iter()
                .any(|l| l.id == lost && l.flags.contains("fail") && !l.flags.contains("fail?"))
        },
    )
    .await;
    // Switched off: longer than the orphan delay, and nothing moves.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    let now = lines(&cluster_nodes(seed).await);
    assert_eq!(replicas_of(&now, &orphan_id), vec![lost.clone()]);
    assert_eq!(replicas_of(&now, &donor_id), donors_replicas);

    set_everywhere(&members, "cluster-allow-replica-migration", "yes").await;
    let started = Instant::now();
    eventually(
        "a replica of the shard with two migrates to the orphaned primary",
        Duration::from_secs(15),
        async || {
            let now = lines(&cluster_nodes(seed).await);
            replicas_of(&now, &orphan_id).len() == 2 && replicas_of(&now, &donor_id).len() == 1
        },
    )
    .await;
    let moved_in = started.elapsed();
    let now = lines(&cluster_nodes(seed).await);
    let migrated = replicas_of(&now, &orphan_id)
        .into_iter()
        .find(|id| *id != lost)
        .unwrap();
    assert!(
        donors_replicas.contains(&migrated),
        "{migrated} came from elsewhere"
    );
    let migrated_port = now.iter().find(|l| l.id == migrated).unwrap().port;
    // It follows the orphan now: a write there reaches it (WAIT counts it with the cut-off
    // replica, whose replication link never broke).
    let keys = keys_in(&orphan.ranges, 0, 20);
    eventually(
        "the migrated replica holds what the orphaned primary writes",
        Duration::from_secs(15),
        async || {
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || {
                let mut p = connect(orphan_port);
                for (i, k) in &keys {
                    let _: () = p.set(k, *i).unwrap();
                }
                let acked: i64 = redis::cmd("WAIT").arg(2).arg(1000).query(&mut p).unwrap();
                acked == 2 && replica_holds(migrated_port, orphan_port, &keys)
            })
            .await
            .unwrap()
        },
    )
    .await;
    assert!(
        moved_in < Duration::from_secs(10),
        "migrated after {moved_in:?}"
    );
    for m in members {
        let _ = m.stop.send(());
    }
}

/// The nodes of each shard in CLUSTER SHARDS as (id, role, replication-offset, health).
fn shard_nodes(reply: &redis::Value) -> Vec<(String, String, i64, String)> {
    fn text(v: &redis::Value) -> String {
        match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::SimpleString(s) => s.clone(),
            redis::Value::Int(n) => n.to_string(),
            _ => String::new(),
        }
    }
    fn pairs(v: &redis::Value) -> Vec<(String, &redis::Value)> {
        match v {
            redis::Value::Array(items) => items.chunks(2).map(|p| (text(&p[0]), &p[1])).collect(),
            redis::Value::Map(m) => m.iter().map(|(k, v)| (text(k), v)).collect(),
            _ => Vec::new(),
        }
    }
    let redis::Value::Array(shards) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for shard in shards {
        for (name, nodes) in pairs(shard) {
            if name != "nodes" {
                continue;
            }
            let redis::Value::Array(nodes) = nodes else {
                continue;
            };
            for node in nodes {
                let f: std::collections::HashMap<String, &redis::Value> =
                    pairs(node).into_iter().collect();
                let offset = match f.get("replication-offset") {
                    Some(redis::Value::Int(n)) => *n,
                    _ => -1,
                };
                out.push((
                    f.get("id").map(|v| text(v)).unwrap_or_default(),
                    f.get("role").map(|v| text(v)).unwrap_or_default(),
                    offset,
                    f.get("health").map(|v| text(v)).unwrap_or_default(),
                ));
            }
        }
    }
    out
}

/// CLUSTER SHARDS reports each node's replication offset (the replica's catches up with its
/// primary's) and health (`failed` for a member cut off for a while).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_shards_show_offsets_and_health() {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    let nodes = lines(&cluster_nodes(seed).await);
    let primary = nodes.iter().find(|l| l.flags.contains("master")).unwrap();
    let replica = nodes.iter().find(|l| l.primary == primary.id).unwrap();
    let (p_port, p_id, r_id) = (primary.port, primary.id.clone(), replica.id.clone());
    let keys = keys_in(&primary.ranges, 0, 100);
    tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        for (i, k) in &keys {
            let _: () = p.set(k, *i).unwrap();
        }
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut p).unwrap();
        assert_eq!(acked, 1);
    })
    .await
    .unwrap();
    let shards = async || {
        tokio::task::spawn_blocking(move || {
            redis::cmd("CLUSTER")
                .arg("SHARDS")
                .query::<redis::Value>(&mut connect(seed))
                .map(|v| shard_nodes(&v))
                .unwrap_or_default()
        })
        .await
        .unwrap()
    };
    eventually(
        "the replica's offset reaches its primary's",
        Duration::from_secs(10),
        async || {
            let all = shards().await;
            let of = |id: &str| all.iter().find(|n| n.0 == id).map(|n| (n.2, n.3.clone()));
            matches!((of(&p_id), of(&r_id)), (Some((p, ph)), Some((r, rh)))
                if p > 0 && p == r && ph == "online" && rh == "online")
        },
    )
    .await;
    let all = shards().await;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all.iter().filter(|n| n.1 == "master").count(), 2, "{all:?}");
    assert_eq!(
        all.iter().filter(|n| n.1 == "replica").count(),
        2,
        "{all:?}"
    );
    // A replica cut off from the bus is reported failed.
    let r_bus = members
        .iter()
        .find(|m| m.port == replica.port)
        .unwrap()
        .bus
        .clone();
    let cut = transport.fault_node(&r_bus, Fault::Drop(1.0));
    eventually(
        "the cut-off replica is reported failed",
        Duration::from_secs(10),
        async || {
            shards()
                .await
                .iter()
                .any(|n| n.0 == r_id && n.3 == "failed")
        },
    )
    .await;
    for f in cut {
        transport.remove_filter(f);
    }
    for m in members {
        let _ = m.stop.send(());
    }
}

/// Fault injected: a primary's bus link flaps — cut for 300 ms, back for 300 ms, eight
/// times (shorter than `cluster-node-timeout`), then cut for 2 s — while a client writes to
/// it with WAIT 1. Whatever the cluster decides, the shard ends with one primary that holds
/// every WAIT-acknowledged write, and the other node follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_primary_loses_no_waited_write() {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    let leader = field(&cluster_info(seed).await, "cluster_raft_leader");
    let nodes = lines(&cluster_nodes(seed).await);
    let primary = nodes
        .iter()
        .find(|l| l.flags.contains("master") && l.id != leader)
        .expect("a primary that does not lead");
    let replica = nodes.iter().find(|l| l.primary == primary.id).unwrap();
    let (p_port, p_id, r_id) = (primary.port, primary.id.clone(), replica.id.clone());
    let p_bus = members
        .iter()
        .find(|m| m.port == p_port)
        .unwrap()
        .bus
        .clone();
    let ranges = primary.ranges.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut p = connect(p_port);
        p.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut waited = Vec::new();
        for (i, k) in keys_from(ranges, 0) {
            if stopping.load(Ordering::Relaxed) {
                break;
            }
            let set: redis::RedisResult<()> = p.set(&k, i);
            let acked: redis::RedisResult<i64> = redis::cmd("WAIT").arg(1).arg(200).query(&mut p);
            if let (Ok(()), Ok(n)) = (set, acked) {
                if n >= 1 {
                    waited.push((i, k));
                }
            }
        }
        waited
    });
    for _ in 0..8 {
        let cut = transport.fault_node(&p_bus, Fault::Drop(1.0));
        tokio::time::sleep(Duration::from_millis(300)).await;
        for f in cut {
            transport.remove_filter(f);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let cut = transport.fault_node(&p_bus, Fault::Drop(1.0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for f in cut {
        transport.remove_filter(f);
    }
    stop.store(true, Ordering::Relaxed);
    let waited = writer.await.unwrap();
    assert!(!waited.is_empty());
    // One primary for the shard, the other node following it with the link up.
    let mut final_primary = 0;
    eventually(
        "the shard settles on one primary with its replica in sync",
        Duration::from_secs(20),
        async || {
            let now = lines(&cluster_nodes(seed).await);
            let shard: Vec<&Line> = now
                .iter()
                .filter(|l| l.id == p_id || l.id == r_id)
                .collect();
            let primaries: Vec<&&Line> = shard
                .iter()
                .filter(|l| l.flags.contains("master"))
                .collect();
            let Some(follower) = shard.iter().find(|l| l.flags.contains("slave")) else {
                return false;
            };
            if primaries.len() != 1 {
                return false;
            }
            final_primary = primaries[0].port;
            let port = follower.port;
            tokio::task::spawn_blocking(move || {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut connect(port))
                    .unwrap_or_default();
                info.contains("master_link_status:up")
            })
            .await
            .unwrap()
        },
    )
    .await;
    let total = waited.len();
    let lost = tokio::task::spawn_blocking(move || {
        let mut p = connect(final_primary);
        // A primary that has just settled may answer CLUSTERDOWN until its lease is in
        // force: that is unavailability, not loss, so a read is retried for a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        waited
            .iter()
            .filter(|(i, k)| loop {
                match p.get::<_, Option<i64>>(k) {
                    Ok(v) => break v != Some(*i as i64),
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => panic!("reading {k:?} from the final primary: {e}"),
                }
            })
            .count()
    })
    .await
    .unwrap();
    println!("WAIT-acknowledged writes through the flapping: {total}, lost: {lost}");
    assert_eq!(lost, 0);
    for m in members {
        let _ = m.stop.send(());
    }
}

/// Slots moving between two shards that have replicas take their keys to the target's
/// replica (through its primary's replication stream) and away from the source's replica.
/// Fault injected: none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_slots_take_their_keys_to_the_targets_replica_too() {
    let transport = MemTransport::default();
    let members = two_shards_with_replicas(&transport).await;
    let seed = members[0].port;
    let nodes = lines(&cluster_nodes(seed).await);
    let source = nodes.iter().find(|l| l.flags.contains("master")).unwrap();
    let target = nodes
        .iter()
        .find(|l| l.flags.contains("master") && l.id != source.id)
        .unwrap();
    let source_replica = nodes.iter().find(|l| l.primary == source.id).unwrap().port;
    let target_replica = nodes.iter().find(|l| l.primary == target.id).unwrap().port;
    let (s_port, t_id) = (source.port, target.id.clone());
    let ranges = source.ranges.clone();
    let moved = tokio::task::spawn_blocking(move || {
        let mut p = connect(s_port);
        let keys = keys_in(&ranges, 0, 2000);
        for (i, k) in &keys {
            let _: () = p.set(k, i).unwrap();
        }
        let _: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut p).unwrap();
        // Move the first half of the source's ranges (with their keys).
        let half = &ranges[..ranges.len().div_ceil(2)];
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("MOVESLOTS").arg(&t_id);
        for (a, b) in half {
            cmd.arg(*a).arg(*b);
        }
        let _: () = cmd.query(&mut p).unwrap();
        keys.into_iter()
            .filter(|(_, k)| {
                let slot = placement::slot::key_slot(k.as_bytes());
                half.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(!moved.is_empty());
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut settled = true;
        for p in &ports {
            settled &= field(&cluster_info(*p).await, "cluster_slots_moving") == "0";
        }
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "the move never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = moved.len();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let moved = moved.clone();
        let (on_target_replica, left_on_source_replica) = tokio::task::spawn_blocking(move || {
            let mut rt = connect(target_replica);
            let _: () = redis::cmd("READONLY").query(&mut rt).unwrap();
            let mut rs = connect(source_replica);
            let _: () = redis::cmd("READONLY").query(&mut rs).unwrap();
            let there = moved
                .iter()
                .filter(|(i, k)| rt.get::<_, Option<usize>>(k).ok().flatten() == Some(*i))
                .count();
            // The source's replica no longer holds them (asked by key count: it redirects
            // reads of slots its shard does not own).
            let dbsize: usize = redis::cmd("DBSIZE").query(&mut rs).unwrap();
            (there, dbsize)
        })
        .await
        .unwrap();
        if on_target_replica == expected && left_on_source_replica == 2000 - expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "target replica has {on_target_replica} of {expected}; source replica holds {left_on_source_replica} keys (want {})",
            2000 - expected
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for m in members {
        let _ = m.stop.send(());
    }
}

/// The replica's consistency audit (`--replica-digest-interval 1`): under a steady write load
/// it finds its data equal to its primary's, slot by slot, at the same offset; once the
/// replica holds a key its primary lacks (fault injected: DEBUG POPULATE on the replica
/// itself), the next audit counts that slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_audit_finds_equal_data_under_writes_and_a_divergence() {
    let transport = MemTransport::default();
    let members = shards_with_replicas_configured(&transport, 4, 1, || Config {
        replica_digest_interval: 1,
        ..Config::default()
    })
    .await;
    let nodes = lines(&cluster_nodes(members[0].port).await);
    let primary = nodes.iter().find(|l| l.flags.contains("master")).unwrap();
    let replica = nodes.iter().find(|l| l.primary == primary.id).unwrap();
    let (p_port, r_port) = (primary.port, replica.port);
    let keys = keys_in(&primary.ranges, 0, 2000);
    let audit = move || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut connect(r_port))
            .unwrap_or_default();
        let number = |name: &str| field(&info, name).parse::<u64>().unwrap_or(0);
        (
            number("replica_digest_audits"),
            number("replica_digest_mismatch"),
        )
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, keys) = (stop.clone(), keys.clone());
        tokio::task::spawn_blocking(move || {
            let mut p = connect(p_port);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, k) in keys.iter().skip((n as usize * 7) % 1900).take(50) {
                    let _: () = p.set_ex(k, n + *i as u64, 1000).unwrap();
                }
                n += 1;
            }
            n
        })
    };
    let start_audits = tokio::task::spawn_blocking(audit).await.unwrap().0;
    eventually(
        "two audits complete under writes",
        Duration::from_secs(20),
        async || tokio::task::spawn_blocking(audit).await.unwrap().0 >= start_audits + 2,
    )
    .await;
    let (_, mismatch) = tokio::task::spawn_blocking(audit).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.await.unwrap();
    assert!(rounds > 10, "the writer barely ran ({rounds} rounds)");
    assert_eq!(mismatch, 0, "the replica differed while in sync");

    // DEBUG POPULATE writes on the replica itself, outside the stream.
    tokio::task::spawn_blocking(move || {
        let _: () = redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(1)
            .arg("diverged")
            .query(&mut connect(r_port))
            .unwrap();
    })
    .await
    .unwrap();
    eventually(
        "an audit counts the diverging slot",
        Duration::from_secs(20),
        async || tokio::task::spawn_blocking(audit).await.unwrap().1 == 1,
    )
    .await;
}
