//! The topology held by Raft: three nodes in one process over the in-memory transport.
//! Changes commit on a majority and every node applies the same sequence; a cut-off minority
//! cannot change anything and catches up when the link returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cluster::raft::{start, MemTransport, NodeId, Raft, Store};
use cluster::{Change, ClusterState, NodeSpec};
use openraft::BasicNode;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn spec(i: u16) -> NodeSpec {
    NodeSpec {
        id: format!("{:040x}", i as u64),
        host: "127.0.0.1".into(),
        port: 7000 + i,
        bus_port: 17000 + i,
    }
}

/// Waits until every store has applied the same log prefix (and so holds the same state).
async fn settle(stores: &[Arc<Store>]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut applied = Vec::new();
        for s in stores {
            applied.push(s.last_applied().await);
        }
        if applied.windows(2).all(|w| w[0] == w[1]) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled: {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Forms a three-voter cluster from node 1: it bootstraps the topology, adds 2 and 3 as
/// learners then voters, and writes their joins. `bus` names each node's address.
async fn form(first: &Raft, bus: &[(NodeId, String)]) {
    first
        .initialize(BTreeMap::from([(1, BasicNode::new(bus[0].1.clone()))]))
        .await
        .unwrap();
    first
        .wait(WAIT)
        .current_leader(1, "node 1 leads")
        .await
        .unwrap();
    first
        .client_write(Change::Bootstrap(spec(1)))
        .await
        .unwrap();
    for (id, addr) in &bus[1..] {
        first
            .add_learner(*id, BasicNode::new(addr.clone()), true)
            .await
            .unwrap();
    }
    let voters: BTreeSet<NodeId> = bus.iter().map(|(id, _)| *id).collect();
    first.change_membership(voters, false).await.unwrap();
    for (id, _) in &bus[1..] {
        let r = first
            .client_write(Change::Join(spec(*id as u16)))
            .await
            .unwrap();
        assert_eq!(r.data.0, Ok(()));
    }
}

struct Cluster {
    transport: MemTransport,
    nodes: BTreeMap<NodeId, (Raft, Arc<Store>)>,
}

impl Cluster {
    /// Three voters; node 1 bootstraps the topology, 2 and 3 join it.
    async fn three() -> Cluster {
        let transport = MemTransport::default();
        let mut nodes = BTreeMap::new();
        for id in 1..=3 {
            let (raft, store) = start(id, transport.clone()).await.unwrap();
            transport.register(id, raft.clone());
            nodes.insert(id, (raft, store));
        }
        let c = Cluster { transport, nodes };
        let names: Vec<(NodeId, String)> = (1..=3).map(|id| (id, format!("n{id}"))).collect();
        form(c.raft(1), &names).await;
        c.settle(&[1, 2, 3]).await;
        c
    }

    fn raft(&self, id: NodeId) -> &Raft {
        &self.nodes[&id].0
    }

    async fn state(&self, id: NodeId) -> ClusterState {
        self.nodes[&id].1.state().await
    }

    /// Waits until `ids` have applied the same log prefix (and so hold the same state).
    async fn settle(&self, ids: &[NodeId]) {
        let stores: Vec<Arc<Store>> = ids.iter().map(|id| self.nodes[id].1.clone()).collect();
        settle(&stores).await;
    }

    async fn leader(&self) -> NodeId {
        self.raft(1)
            .wait(WAIT)
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await
            .unwrap()
            .current_leader
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_applies_the_same_topology() {
    let c = Cluster::three().await;
    let s1 = c.state(1).await;
    assert_eq!(s1, c.state(2).await);
    assert_eq!(s1, c.state(3).await);
    let t = s1.topology.unwrap();
    assert_eq!(t.nodes.len(), 3);
    assert_eq!(t.assigned(), 16384);
    // A bad change is refused the same way everywhere and changes nothing.
    let r = c.raft(1).client_write(Change::Join(spec(2))).await.unwrap();
    assert!(r.data.0.is_err());
    c.settle(&[1, 2, 3]).await;
    assert_eq!(c.state(3).await.topology.unwrap(), t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_minority_misses_changes_then_catches_up() {
    let c = Cluster::three().await;
    let leader = c.leader().await;
    let isolated = (1..=3).find(|id| *id != leader).unwrap();
    for other in (1..=3).filter(|id| *id != isolated) {
        c.transport.set_link(isolated, other, false);
    }
    let before = c.state(isolated).await;
    c.raft(leader)
        .client_write(Change::Join(spec(4)))
        .await
        .unwrap();
    let majority: Vec<NodeId> = (1..=3).filter(|id| *id != isolated).collect();
    c.settle(&majority).await;
    let after = c.state(leader).await;
    assert_eq!(after.topology.as_ref().unwrap().nodes.len(), 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.state(isolated).await, before, "the minority saw nothing");
    for other in majority {
        c.transport.set_link(isolated, other, true);
    }
    c.settle(&[1, 2, 3]).await;
    assert_eq!(c.state(isolated).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit() {
    let c = Cluster::three().await;
    let old = c.leader().await;
    for other in (1..=3).filter(|id| *id != old) {
        c.transport.set_link(old, other, false);
    }
    let attempt = tokio::time::timeout(
        Duration::from_millis(1500),
        c.raft(old).client_write(Change::Join(spec(9))),
    )
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(ref r)) if r.data.0.is_ok()),
        "a leader without a majority committed a change"
    );
    // The majority elects a new leader and goes on.
    let others: Vec<NodeId> = (1..=3).filter(|id| *id != old).collect();
    let new = c
        .raft(others[0])
        .wait(WAIT)
        .metrics(
            |m| m.current_leader.is_some_and(|l| l != old),
            "a new leader",
        )
        .await
        .unwrap()
        .current_leader
        .unwrap();
    c.raft(new)
        .client_write(Change::Join(spec(5)))
        .await
        .unwrap();
    for other in &others {
        c.transport.set_link(old, *other, true);
    }
    c.settle(&[1, 2, 3]).await;
    let s = c.state(old).await;
    assert_eq!(s, c.state(new).await);
    let t = s.topology.unwrap();
    assert!(t.node(&spec(5).id).is_some());
    assert!(
        t.node(&spec(9).id).is_none(),
        "the isolated write never took effect"
    );
}

/// The same over real loopback TCP (the cluster bus): three nodes agree on the topology.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_the_tcp_bus() {
    use cluster::bus::{serve, TcpTransport};
    let mut nodes = BTreeMap::new();
    let mut listeners = Vec::new();
    for id in 1..=3u64 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listeners.push((id, l));
    }
    let addrs: Vec<(u64, std::net::SocketAddr)> = listeners
        .iter()
        .map(|(id, l)| (*id, l.local_addr().unwrap()))
        .collect();
    for (id, listener) in listeners {
        let transport = TcpTransport::default();
        for (peer, addr) in &addrs {
            transport.set_peer(*peer, *addr);
        }
        let (raft, store) = start(id, transport).await.unwrap();
        tokio::spawn(serve(listener, raft.clone()));
        nodes.insert(id, (raft, store));
    }
    let names: Vec<(NodeId, String)> = addrs.iter().map(|(id, a)| (*id, a.to_string())).collect();
    form(&nodes[&1].0, &names).await;
    let stores: Vec<Arc<Store>> = nodes.values().map(|(_, s)| s.clone()).collect();
    settle(&stores).await;
    let s1 = nodes[&1].1.state().await;
    for (_, store) in nodes.values() {
        assert_eq!(store.state().await, s1);
    }
    assert_eq!(s1.topology.unwrap().nodes.len(), 3);
}
