//! The replicated topology state machine.

use placement::planner::{plan, ShardId};
use placement::topology::{Node, Topology};
use serde::{Deserialize, Serialize};

/// A node as it asks to join: its identity and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// 40 lowercase hex characters.
    pub id: String,
    pub host: String,
    pub port: u16,
    pub bus_port: u16,
}

/// One entry of the topology log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Starts a cluster with its first node (only on an empty state).
    Bootstrap(NodeSpec),
    /// Adds a node as the primary of a new shard; the planner gives it its share of slots.
    Join(NodeSpec),
    /// Removes a node; its slots go to the others.
    Leave { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChangeError {
    #[error("the cluster is already bootstrapped")]
    AlreadyBootstrapped,
    #[error("the cluster is not bootstrapped yet")]
    NotBootstrapped,
    #[error("node id {0} is already a member")]
    IdClash(String),
    #[error("address {0} is already used by node {1}")]
    AddressClash(String, String),
    #[error("node id {0:?} is not 40 hex characters")]
    BadId(String),
    #[error("no node {0} in the cluster")]
    UnknownNode(String),
    #[error("cannot remove the last node of the cluster")]
    LastNode,
}

/// The state every node holds: the topology and the next shard id to hand out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterState {
    pub topology: Option<Topology>,
    /// Shard ids are handed out in log order, so every node assigns the same ones.
    next_shard: ShardId,
}

impl ClusterState {
    /// Applies one change. On error nothing changes (the entry is a no-op for every node).
    pub fn apply(&mut self, change: &Change) -> Result<(), ChangeError> {
        match change {
            Change::Bootstrap(spec) => {
                if self.topology.is_some() {
                    return Err(ChangeError::AlreadyBootstrapped);
                }
                check_id(&spec.id)?;
                let shard = self.new_shard();
                self.topology = Some(Topology::single(node(spec, shard)));
                Ok(())
            }
            Change::Join(spec) => {
                check_id(&spec.id)?;
                let t = self.topology.as_ref().ok_or(ChangeError::NotBootstrapped)?;
                if t.node(&spec.id).is_some() {
                    return Err(ChangeError::IdClash(spec.id.clone()));
                }
                if let Some(other) = t
                    .nodes
                    .iter()
                    .find(|n| n.host == spec.host && n.port == spec.port)
                {
                    return Err(ChangeError::AddressClash(
                        format!("{}:{}", spec.host, spec.port),
                        other.id.clone(),
                    ));
                }
                let shard = self.new_shard();
                let t = self.topology.as_mut().expect("checked above");
                t.nodes.push(node(spec, shard));
                replan(t);
                Ok(())
            }
            Change::Leave { id } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                if t.node(id).is_none() {
                    return Err(ChangeError::UnknownNode(id.clone()));
                }
                if t.nodes.len() == 1 {
                    return Err(ChangeError::LastNode);
                }
                t.nodes.retain(|n| &n.id != id);
                replan(t);
                Ok(())
            }
        }
    }

    fn new_shard(&mut self) -> ShardId {
        self.next_shard += 1;
        self.next_shard
    }
}

fn check_id(id: &str) -> Result<(), ChangeError> {
    if id.len() == 40
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ChangeError::BadId(id.to_string()))
    }
}

fn node(spec: &NodeSpec, shard: ShardId) -> Node {
    Node {
        id: spec.id.clone(),
        host: spec.host.clone(),
        port: spec.port,
        bus_port: spec.bus_port,
        shard,
        primary: true,
    }
}

/// The planner's table for the shards that have a primary, and a new epoch.
fn replan(t: &mut Topology) {
    let shards: Vec<ShardId> = t
        .nodes
        .iter()
        .filter(|n| n.primary)
        .map(|n| n.shard)
        .collect();
    t.slots = plan(&t.slots, &shards);
    t.epoch += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use placement::planner::{counts, moved};
    use proptest::prelude::*;

    fn spec(i: u16) -> NodeSpec {
        NodeSpec {
            id: format!("{:040x}", i as u64 + 1),
            host: "127.0.0.1".into(),
            port: 7000 + i,
            bus_port: 17000 + i,
        }
    }

    #[test]
    fn bootstrap_join_leave() {
        let mut s = ClusterState::default();
        assert_eq!(
            s.apply(&Change::Join(spec(1))),
            Err(ChangeError::NotBootstrapped)
        );
        s.apply(&Change::Bootstrap(spec(0))).unwrap();
        assert_eq!(
            s.apply(&Change::Bootstrap(spec(1))),
            Err(ChangeError::AlreadyBootstrapped)
        );
        s.apply(&Change::Join(spec(1))).unwrap();
        s.apply(&Change::Join(spec(2))).unwrap();
        let t = s.topology.clone().unwrap();
        assert_eq!(t.epoch, 3);
        assert_eq!(t.assigned(), 16384);
        let shards: Vec<_> = t.nodes.iter().map(|n| n.shard).collect();
        let mut c = counts(&t.slots, &shards);
        c.sort();
        assert_eq!(c, vec![5461, 5461, 5462]);
        // Bad input changes nothing.
        let before = s.clone();
        assert_eq!(
            s.apply(&Change::Join(spec(1))),
            Err(ChangeError::IdClash(spec(1).id))
        );
        let mut clash = spec(9);
        clash.port = 7001;
        assert!(matches!(
            s.apply(&Change::Join(clash)),
            Err(ChangeError::AddressClash(..))
        ));
        let mut bad = spec(9);
        bad.id = "not-hex".into();
        assert!(matches!(
            s.apply(&Change::Join(bad)),
            Err(ChangeError::BadId(_))
        ));
        assert!(matches!(
            s.apply(&Change::Leave { id: "f".repeat(40) }),
            Err(ChangeError::UnknownNode(_))
        ));
        assert_eq!(s, before);
        // A fourth node takes about a quarter; leaving gives its slots back.
        s.apply(&Change::Join(spec(3))).unwrap();
        let four = s.topology.clone().unwrap();
        assert!(moved(&t.slots, &four.slots) <= 16384 / 4 + 1);
        s.apply(&Change::Leave { id: spec(3).id }).unwrap();
        s.apply(&Change::Leave { id: spec(2).id }).unwrap();
        s.apply(&Change::Leave { id: spec(1).id }).unwrap();
        assert_eq!(
            s.apply(&Change::Leave { id: spec(0).id }),
            Err(ChangeError::LastNode)
        );
        let last = s.topology.unwrap();
        assert_eq!(last.ranges(last.nodes[0].shard), vec![(0, 16383)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Two nodes applying the same log end in the same state, whatever the log (errors
        /// included), and the table always covers every slot with live shards.
        #[test]
        fn replicas_applying_the_same_log_agree(ops in proptest::collection::vec((any::<bool>(), 0u16..8), 1..20)) {
            let mut log = vec![Change::Bootstrap(spec(0))];
            for (join, i) in ops {
                log.push(if join { Change::Join(spec(i)) } else { Change::Leave { id: spec(i).id } });
            }
            let (mut a, mut b) = (ClusterState::default(), ClusterState::default());
            for c in &log {
                let ra = a.apply(c);
                let rb = b.apply(c);
                prop_assert_eq!(ra, rb);
            }
            prop_assert_eq!(&a, &b);
            let t = a.topology.unwrap();
            prop_assert_eq!(t.assigned(), 16384);
            prop_assert!(t.slots.iter().all(|s| t.nodes.iter().any(|n| Some(n.shard) == *s)));
        }
    }
}
