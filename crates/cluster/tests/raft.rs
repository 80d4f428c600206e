//! The topology held by Raft: clusters of 3-5 nodes in one process over the in-memory
//! transport (join, leave, restart, a partitioned minority), and three over the TCP bus.
//! Changes commit on a majority and every node applies the same sequence; a cut-off
//! minority loses its lease, cannot change anything, and catches up when the link returns.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::lease::LEASE;
use cluster::mem::MemTransport;
use cluster::node::raft_id;
use cluster::raft::Store;
use cluster::{ClusterNode, ClusterState, NodeSpec};

type Node = Arc<ClusterNode<MemTransport>>;

fn spec(i: u16) -> NodeSpec {
    NodeSpec {
        zone: None,
        id: format!("{:016x}{:024x}", i as u64, 0),
        host: "127.0.0.1".into(),
        port: 7000 + i,
        bus_port: 17000 + i,
        tls_port: 0,
        weight: None,
    }
}

fn bus(i: u16) -> String {
    format!("127.0.0.1:{}", 17000 + i)
}

/// Polls `f` until it is true (10 s at most).
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Cluster {
    transport: MemTransport,
    nodes: BTreeMap<u16, Node>,
    dirs: BTreeMap<u16, PathBuf>,
}

impl Cluster {
    /// `n` nodes: node 1 bootstraps, the others are met by the previous one (so most joins
    /// are forwarded to the leader). With `persist`, each node keeps its state in a directory.
    async fn new(n: u16, persist: bool) -> Cluster {
        let mut c = Cluster {
            transport: MemTransport::default(),
            nodes: BTreeMap::new(),
            dirs: BTreeMap::new(),
        };
        for i in 1..=n {
            if persist {
                let dir = std::env::temp_dir().join(format!(
                    "shardcache-raft-{}-{}-{i}",
                    std::process::id(),
                    rand_suffix()
                ));
                c.dirs.insert(i, dir);
            }
            c.start(i).await;
        }
        c.nodes[&1].bootstrap().await.unwrap();
        for i in 2..=n {
            let met = c.nodes[&(i - 1)]
                .meet("127.0.0.1", 17000 + i)
                .await
                .unwrap();
            assert_eq!(met, spec(i));
        }
        c.settle().await;
        c.finish_moves().await;
        c
    }

    /// Switches every pending slot move (what the sources' migration drivers ask once they
    /// have copied the keys; no server runs here, so there are no keys).
    async fn finish_moves(&self) {
        let t = self.state(1).await.topology.unwrap();
        let mut by_target: BTreeMap<u64, Vec<u16>> = BTreeMap::new();
        for (slot, to) in &t.moves {
            by_target.entry(*to).or_default().push(*slot);
        }
        for (to, slots) in by_target {
            self.nodes[&1]
                .change(cluster::Change::CommitMove { slots, to })
                .await
                .unwrap();
        }
        self.settle().await;
    }

    async fn start(&mut self, i: u16) {
        let store = match self.dirs.get(&i) {
            Some(dir) => Store::open(dir).unwrap(),
            None => Store::in_memory(),
        };
        let node = ClusterNode::start(spec(i), store, self.transport.clone())
            .await
            .unwrap();
        self.transport.register(node.clone());
        self.nodes.insert(i, node);
    }

    async fn stop(&mut self, i: u16) {
        let node = self.nodes.remove(&i).unwrap();
        self.transport.unregister(&bus(i));
        node.shutdown().await;
    }

    async fn state(&self, i: u16) -> ClusterState {
        self.nodes[&i].store.state().await
    }

    /// Waits until the running nodes have applied the same log prefix.
    async fn settle(&self) {
        let ids: Vec<u16> = self.nodes.keys().copied().collect();
        self.settle_among(&ids).await;
    }

    async fn settle_among(&self, ids: &[u16]) {
        eventually("the nodes apply the same log", async || {
            let mut applied = Vec::new();
            for i in ids {
                applied.push(self.nodes[i].store.last_applied().await);
            }
            applied.windows(2).all(|w| w[0] == w[1])
        })
        .await;
    }

    async fn leader(&self) -> u16 {
        let mut found = 0;
        eventually("a leader", async || {
            found = self
                .nodes
                .iter()
                .find(|(_, n)| n.is_leader())
                .map_or(0, |(i, _)| *i);
            found != 0
        })
        .await;
        found
    }

    fn cut_off(&self, i: u16, up: bool) {
        for other in self.nodes.keys().filter(|o| **o != i) {
            self.transport.set_link(&bus(i), &bus(*other), up);
        }
    }

    /// Waits until each of `ids` holds a serving lease.
    async fn leases_held(&self, ids: &[u16]) {
        eventually("the nodes hold a lease", async || {
            ids.iter().all(|i| self.nodes[i].lease.is_valid())
        })
        .await;
    }

    fn voters(&self, i: u16) -> Vec<u64> {
        self.nodes[&i].voters().into_iter().collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for dir in self.dirs.values() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_applies_the_same_topology() {
    let c = Cluster::new(3, false).await;
    let s1 = c.state(1).await;
    assert_eq!(s1, c.state(2).await);
    assert_eq!(s1, c.state(3).await);
    let t = s1.topology.clone().unwrap();
    assert_eq!(t.nodes.len(), 3);
    assert_eq!(t.assigned(), 16384);
    assert_eq!(c.voters(1).len(), 3);
    // Meeting a member again is an id clash; an address nobody listens on cannot be met.
    // Neither changes anything.
    let clash = c.nodes[&3].meet("127.0.0.1", 17002).await.unwrap_err();
    assert!(clash.contains("already a member"), "{clash}");
    let unreachable = c.nodes[&2].meet("127.0.0.1", 17099).await.unwrap_err();
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
    c.settle().await;
    assert_eq!(c.state(3).await.topology.unwrap(), t);
    // Every member holds a serving lease (renewed every 100 ms).
    c.leases_held(&[1, 2, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_have_five_voters_and_leaves_keep_three() {
    let mut c = Cluster::new(5, false).await;
    assert_eq!(c.voters(1).len(), 5);
    let t = c.state(1).await.topology.unwrap();
    let counts: Vec<usize> = t
        .nodes
        .iter()
        .map(|n| t.slots.iter().filter(|s| **s == Some(n.shard)).count())
        .collect();
    assert!(
        counts.iter().all(|c| (3276..=3277).contains(c)),
        "{counts:?}"
    );
    // Removing nodes (asked of a follower, forwarded to the leader) rebalances the slots:
    // first the leader itself (it steps down, the asker's next request finds the new one),
    // then another follower.
    let leader = c.leader().await;
    let asker = (1..=5).find(|i| *i != leader).unwrap();
    let other = (1..=5).find(|i| *i != leader && *i != asker).unwrap();
    let gone = vec![leader, other];
    for g in &gone {
        c.nodes[&asker].leave(&spec(*g).id).await.unwrap();
    }
    for g in &gone {
        c.stop(*g).await;
    }
    let remaining: Vec<u16> = c.nodes.keys().copied().collect();
    c.settle().await;
    let s = c.state(remaining[0]).await;
    let t = s.topology.unwrap();
    assert_eq!(t.nodes.len(), 3);
    assert_eq!(t.assigned(), 16384);
    assert_eq!(c.voters(remaining[0]).len(), 3);
    // Bad removals change nothing.
    let last = c.nodes[&remaining[0]]
        .leave(&"f".repeat(40))
        .await
        .unwrap_err();
    assert!(last.contains("no node"), "{last}");
    assert_eq!(c.state(remaining[1]).await.topology.unwrap(), t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_loses_its_lease_and_catches_up() {
    let c = Cluster::new(3, false).await;
    let leader = c.leader().await;
    let isolated = (1..=3).find(|i| *i != leader).unwrap();
    let majority: Vec<u16> = (1..=3).filter(|i| *i != isolated).collect();
    let before = c.state(isolated).await;
    c.cut_off(isolated, false);
    let cut_at = Instant::now();
    eventually("the isolated node's lease runs out", async || {
        !c.nodes[&isolated].lease.is_valid()
    })
    .await;
    assert!(
        cut_at.elapsed() <= LEASE + Duration::from_millis(500),
        "the lease outlived the partition by {:?}",
        cut_at.elapsed()
    );
    // The leader sees it as unreachable (and nobody else).
    let down: Vec<String> = c.nodes[&leader]
        .probe_members(Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|(_, answer)| answer.is_none())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(down, vec![spec(isolated).id]);
    // The majority goes on: it removes the unreachable node, and keeps its lease.
    c.nodes[&leader].leave(&spec(isolated).id).await.unwrap();
    c.settle_among(&majority).await;
    let after = c.state(leader).await;
    assert_eq!(after.topology.as_ref().unwrap().nodes.len(), 2);
    c.leases_held(&majority).await;
    // A proof asked just before the cut may still have come back after the lease first ran
    // out (renewals lag on a loaded machine): it was asked before `cut_at`, so it ends by
    // `cut_at + LEASE` at the latest.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::sleep_until((cut_at + LEASE + Duration::from_millis(10)).into()).await;
    assert_eq!(c.state(isolated).await, before, "the minority saw nothing");
    assert!(!c.nodes[&isolated].lease.is_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_and_its_lease_ends() {
    let c = Cluster::new(3, false).await;
    let old = c.leader().await;
    c.cut_off(old, false);
    let attempt =
        tokio::time::timeout(Duration::from_millis(1500), c.nodes[&old].join(spec(9))).await;
    assert!(
        !matches!(attempt, Ok(Ok(()))),
        "a leader without a majority committed a change"
    );
    assert!(!c.nodes[&old].lease.is_valid());
    // The majority elects a new leader and goes on; the old one catches up.
    let others: Vec<u16> = (1..=3).filter(|i| *i != old).collect();
    eventually("a new leader", async || {
        others.iter().any(|i| c.nodes[i].is_leader())
    })
    .await;
    c.cut_off(old, true);
    c.settle().await;
    let s = c.state(old).await;
    assert_eq!(s, c.state(others[0]).await);
    let t = s.topology.unwrap();
    assert!(
        t.node(&spec(9).id).is_none(),
        "the isolated write never took effect"
    );
    assert!(c.nodes[&old].lease.is_valid() || !c.nodes[&old].is_leader());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_comes_back_as_itself() {
    let mut c = Cluster::new(3, true).await;
    let leader = c.leader().await;
    let restarted = (1..=3).find(|i| *i != leader).unwrap();
    c.stop(restarted).await;
    // While it is down the cluster adds a fourth node.
    c.transport.register({
        let n = ClusterNode::start(spec(4), Store::in_memory(), c.transport.clone())
            .await
            .unwrap();
        c.nodes.insert(4, n.clone());
        n
    });
    c.nodes[&leader].meet("127.0.0.1", 17004).await.unwrap();
    c.start(restarted).await;
    assert!(c.nodes[&restarted].store.has_state().await);
    c.settle().await;
    let s = c.state(restarted).await;
    assert_eq!(s, c.state(leader).await);
    let t = s.topology.unwrap();
    assert_eq!(t.nodes.len(), 4);
    assert!(t.node(&spec(restarted).id).is_some());
    assert_eq!(raft_id(&spec(restarted).id), restarted as u64);
}

/// The same over real loopback TCP (the cluster bus, authenticated with a shared secret):
/// three nodes agree on the topology; a node with another secret cannot be met, and frames
/// from a peer that did not prove the secret (a forged `Leave`) are dropped unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_the_tcp_bus() {
    use cluster::auth::BusSecret;
    use cluster::bus::{serve, TcpTransport};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut nodes = Vec::new();
    for i in 1..=4u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut s = spec(i);
        s.bus_port = l.local_addr().unwrap().port();
        let secret = BusSecret::from_password(if i < 4 { "s3cret" } else { "other" });
        let node = ClusterNode::start(s, Store::in_memory(), TcpTransport::new(Some(secret), None))
            .await
            .unwrap();
        tokio::spawn(serve(l, node.clone()));
        nodes.push(node);
    }
    let outsider = nodes.pop().unwrap();
    nodes[0].bootstrap().await.unwrap();
    let refused = nodes[0]
        .meet("127.0.0.1", outsider.spec.bus_port)
        .await
        .unwrap_err();
    assert!(refused.contains("cannot reach"), "{refused}");
    // A forged frame, sent without the handshake (as the bus spoke before it had one).
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", nodes[0].spec.bus_port))
        .await
        .unwrap();
    let leave = serde_json::to_vec(&cluster::raft::BusRequest::Leave {
        id: nodes[0].spec.id.clone(),
    })
    .unwrap();
    let mut frame = (leave.len() as u32).to_be_bytes().to_vec();
    frame.extend(leave);
    frame.resize(frame.len().max(64), b' ');
    raw.write_all(&frame).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), raw.read_to_end(&mut rest)).await;
    assert_eq!(
        rest.len(),
        8 + 1 + 32,
        "only the challenge came back: {rest:?}"
    );
    assert!(nodes[0]
        .store
        .state()
        .await
        .topology
        .is_some_and(|t| t.nodes.len() == 1));
    nodes[0].bootstrap().await.unwrap();
    nodes[0]
        .meet("127.0.0.1", nodes[1].spec.bus_port)
        .await
        .unwrap();
    nodes[1]
        .meet("127.0.0.1", nodes[2].spec.bus_port)
        .await
        .unwrap();
    eventually("the nodes apply the same log", async || {
        let mut applied = Vec::new();
        for n in &nodes {
            applied.push(n.store.last_applied().await);
        }
        applied.windows(2).all(|w| w[0] == w[1])
    })
    .await;
    let s1 = nodes[0].store.state().await;
    for n in &nodes {
        assert_eq!(n.store.state().await, s1);
    }
    assert_eq!(s1.topology.unwrap().nodes.len(), 3);
}

/// Fault injected: every message to and from one member is delayed by 3 s (a node frozen,
/// or behind a stalled network), while the others remove it. Its lease must never reach
/// past the removal's commit + LEASE, however late the old messages and replies arrive —
/// the new owners of its slots serve them from commit + GAINED_SLOT_WAIT on.
async fn a_delayed_member_never_outlives_its_removal(victim_leads: bool) {
    use cluster::mem::Fault;
    let c = Cluster::new(3, false).await;
    let leader = c.leader().await;
    let victim = if victim_leads {
        leader
    } else {
        (1..=3).find(|i| *i != leader).unwrap()
    };
    let others: Vec<u16> = (1..=3).filter(|i| *i != victim).collect();
    c.leases_held(&[1, 2, 3]).await;
    let filters = c
        .transport
        .fault_node(&bus(victim), Fault::Delay(Duration::from_secs(3)));
    // The others (electing a new leader first if the victim led) remove it.
    let mut remover = 0;
    eventually("a leader among the others", async || {
        remover = others
            .iter()
            .copied()
            .find(|i| c.nodes[i].is_leader())
            .unwrap_or(0);
        remover != 0
    })
    .await;
    c.nodes[&remover].leave(&spec(victim).id).await.unwrap();
    let committed = Instant::now();
    // While the delayed traffic keeps arriving (and for a while after it stops), the
    // victim's lease never reaches past the commit + LEASE.
    let mut samples = 0;
    while committed.elapsed() < Duration::from_secs(5) {
        if committed.elapsed() > Duration::from_secs(4) {
            for f in filters {
                c.transport.remove_filter(f);
            }
        }
        if let Some(until) = c.nodes[&victim].lease.valid_until() {
            assert!(
                until <= committed + LEASE,
                "the removed node's lease runs {:?} past the commit",
                until - committed
            );
        }
        samples += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(samples > 100);
    assert!(!c.nodes[&victim].lease.is_valid());
    c.leases_held(&others).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_leader_never_outlives_its_removal() {
    a_delayed_member_never_outlives_its_removal(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_follower_never_outlives_its_removal() {
    a_delayed_member_never_outlives_its_removal(false).await;
}

/// Fault injected: half of all messages between the nodes are dropped. Raft and the leases
/// get through it (slower), and a change still commits everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_messages_lost_still_commits_a_join() {
    use cluster::mem::{Fault, Filter};
    let c = Cluster::new(3, false).await;
    c.transport.add_filter(Filter {
        from: None,
        to: None,
        kind: None,
        fault: Fault::Drop(0.5),
    });
    let n = ClusterNode::start(spec(4), Store::in_memory(), c.transport.clone())
        .await
        .unwrap();
    c.transport.register(n.clone());
    let mut joined = Err(String::new());
    for _ in 0..20 {
        let leader = c.leader().await;
        joined = c.nodes[&leader].join(spec(4)).await;
        if joined.is_ok() || joined.as_ref().is_err_and(|e| e.contains("already")) {
            break;
        }
    }
    assert!(joined.is_ok() || joined.is_err_and(|e| e.contains("already")));
    eventually("every node applied the join", async || {
        let mut all = true;
        for node in c.nodes.values().chain([&n]) {
            all &= node
                .store
                .state()
                .await
                .topology
                .is_some_and(|t| t.node(&spec(4).id).is_some());
        }
        all
    })
    .await;
}

/// A voter that stops answering hands its vote to a learner, so the cluster survives a
/// second voter's loss too. Four nodes (three voters, one learner); faults injected: a
/// voter is cut off from everyone, then (after its replacement) the other non-leading
/// original voter: the leader and the promoted learner still commit a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_voter_hands_its_vote_to_a_learner() {
    let c = Cluster::new(4, false).await;
    c.settle().await;
    let leader = c.leader().await;
    let voters = c.nodes[&leader].voters();
    assert_eq!(voters.len(), 3);
    let learner = (1..=4u16).find(|i| !voters.contains(&(*i as u64))).unwrap();
    let mut others = (1..=4u16).filter(|i| *i != leader && *i != learner);
    let (first, second) = (others.next().unwrap(), others.next().unwrap());
    c.cut_off(first, false);
    let cut_at = Instant::now();
    eventually("the learner takes the silent voter's vote", async || {
        let v = c.nodes[&leader].voters();
        v.contains(&(learner as u64)) && !v.contains(&(first as u64))
    })
    .await;
    // Not before it was silent that long (counted from its last answer, a probe round or
    // two before the cut).
    assert!(
        cut_at.elapsed() + Duration::from_millis(500) >= cluster::node::VOTER_REPLACE_AFTER,
        "replaced after {:?}",
        cut_at.elapsed()
    );
    // The silent node is still a member (a learner): it comes back as itself later.
    assert!(c
        .state(leader)
        .await
        .topology
        .unwrap()
        .node(&spec(first).id)
        .is_some());
    c.cut_off(second, false);
    tokio::time::timeout(
        Duration::from_secs(10),
        c.nodes[&leader].leave(&spec(first).id),
    )
    .await
    .expect("the change commits with two of three voters")
    .unwrap();
    let t = c.state(leader).await.topology.unwrap();
    assert_eq!(t.nodes.len(), 3);
}
