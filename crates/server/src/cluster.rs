//! The node's view of its cluster: who it is and the topology it serves from. The cluster
//! layer (Raft) replaces the topology when the cluster agrees on a change; until then a node
//! started with `--cluster-enabled` and no peers serves a cluster of one.

use std::sync::Arc;

use parking_lot::RwLock;
use placement::planner::ShardId;
use placement::topology::{Node, Topology};
use rand::Rng;

pub struct ClusterState {
    pub myid: String,
    pub myshard: ShardId,
    /// `None`: no agreed topology (the node answers CLUSTERDOWN).
    view: RwLock<Option<Arc<Topology>>>,
}

/// Where a keyed command must go.
pub enum Route {
    Here,
    Moved(u16, String),
    CrossSlot,
    Down,
}

impl ClusterState {
    /// A new node id and shard, bootstrapped as a cluster of one owning every slot.
    pub fn bootstrap(host: &str, port: u16, bus_port: u16) -> ClusterState {
        let mut rng = rand::thread_rng();
        let myid: String = (0..40)
            .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
            .collect();
        let myshard: ShardId = rng.gen();
        let me = Node {
            id: myid.clone(),
            host: host.to_string(),
            port,
            bus_port,
            shard: myshard,
            primary: true,
        };
        ClusterState {
            myid,
            myshard,
            view: RwLock::new(Some(Arc::new(Topology::single(me)))),
        }
    }

    pub fn topology(&self) -> Option<Arc<Topology>> {
        self.view.read().clone()
    }

    pub fn set_topology(&self, t: Option<Topology>) {
        *self.view.write() = t.map(Arc::new);
    }

    /// Redis Cluster's redirection for a command touching `keys`.
    pub fn route<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> Route {
        let mut slot = None;
        for k in keys {
            let s = placement::slot::key_slot(k);
            match slot {
                None => slot = Some(s),
                Some(prev) if prev != s => return Route::CrossSlot,
                Some(_) => {}
            }
        }
        let Some(slot) = slot else {
            return Route::Here;
        };
        let Some(t) = self.topology() else {
            return Route::Down;
        };
        match t.owner(slot) {
            None => Route::Down,
            Some(n) if n.id == self.myid => Route::Here,
            Some(n) => Route::Moved(slot, format!("{}:{}", n.host, n.port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_slot_owner() {
        let c = ClusterState::bootstrap("127.0.0.1", 7000, 17000);
        assert!(matches!(c.route([&b"foo"[..]].into_iter()), Route::Here));
        assert!(matches!(
            c.route([&b"{u}a"[..], b"{u}b"].into_iter()),
            Route::Here
        ));
        assert!(matches!(
            c.route([&b"a"[..], b"b"].into_iter()),
            Route::CrossSlot
        ));
        // Give the slot of "foo" (12182) to another node.
        let mut t = (*c.topology().unwrap()).clone();
        t.nodes.push(Node {
            id: "b".repeat(40),
            host: "10.0.0.2".into(),
            port: 7001,
            bus_port: 17001,
            shard: 99,
            primary: true,
        });
        t.slots[12182] = Some(99);
        c.set_topology(Some(t));
        match c.route([&b"foo"[..]].into_iter()) {
            Route::Moved(slot, addr) => {
                assert_eq!(slot, 12182);
                assert_eq!(addr, "10.0.0.2:7001");
            }
            _ => panic!("expected MOVED"),
        }
        c.set_topology(None);
        assert!(matches!(c.route([&b"x"[..]].into_iter()), Route::Down));
        assert!(matches!(c.route(std::iter::empty()), Route::Here));
    }
}
