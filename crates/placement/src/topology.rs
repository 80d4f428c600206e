//! A cluster's topology as every node sees it: nodes, shards, the slot table and the epoch
//! it was agreed at. Pure data; the cluster layer replicates it (Raft) and the node answers
//! the Redis Cluster protocol from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::planner::{ShardId, SlotTable};
use crate::slot::SLOTS;

/// A node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// 40 lowercase hex characters, as Redis Cluster node ids.
    pub id: String,
    pub host: String,
    pub port: u16,
    pub bus_port: u16,
    /// Its TLS client port, if it has one (0: none): TLS clients are sent there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_port: u16,
    pub shard: ShardId,
    /// Primary of its shard; otherwise a replica of the shard's primary.
    pub primary: bool,
    /// The failure domain it runs in (`--zone`), if given: a shard's copies are spread
    /// over zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Being drained: its slots are moving away, and it leaves the cluster once the last one
    /// has moved. A leaving node gets no new slots.
    #[serde(default, skip_serializing_if = "is_false")]
    pub leaving: bool,
    /// Its capacity relative to the others (`--weight`, default 1): a primary's shard owns
    /// slots in proportion to it.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

fn is_one(w: &u32) -> bool {
    *w == 1
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Raised by every agreed change (Redis's config epoch).
    pub epoch: u64,
    pub nodes: Vec<Node>,
    pub slots: SlotTable,
    /// Replicas each shard should have (the cluster's `--cluster-replicas`): a joining node
    /// becomes a replica while some shard has fewer.
    #[serde(default)]
    pub replicas: usize,
    /// Set by the failover that made this topology: the promoted primary serves its shard's
    /// slots after this many milliseconds instead of a full grace period, because the leader
    /// knew the old primary's lease ends by then (`None`: the full grace period).
    #[serde(default)]
    pub handover_ms: Option<u64>,
    /// Slots on their way to another shard: slot -> the shard that will own it. The slot is
    /// still owned (and served) by `slots[slot]` until the source has copied its keys and
    /// a `CommitMove` switches it; the target accepts the copy (ASKING) meanwhile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moves: BTreeMap<u16, ShardId>,
    /// Slots switched by the change that made this topology, whose source had stopped
    /// serving them before asking for the switch: their new owner serves them at once,
    /// without the grace period that waits out a previous owner's lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switched: Vec<u16>,
    /// Pending moves wait (`shardcache cluster pause-moves`): no source starts or finishes
    /// copying a slot until they are resumed; slots keep being served by their owners.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub moves_paused: bool,
}

impl Topology {
    /// A cluster of one node owning every slot (what a bootstrapping node starts with).
    pub fn single(node: Node) -> Topology {
        let shard = node.shard;
        Topology {
            epoch: 1,
            nodes: vec![node],
            slots: vec![Some(shard); SLOTS as usize],
            replicas: 0,
            handover_ms: None,
            moves: BTreeMap::new(),
            switched: Vec::new(),
            moves_paused: false,
        }
    }

    /// The pending moves of the slots `shard` owns, as (slot, target shard).
    pub fn moves_from(&self, shard: ShardId) -> impl Iterator<Item = (u16, ShardId)> + '_ {
        self.moves
            .iter()
            .filter(move |(slot, _)| self.slots[**slot as usize] == Some(shard))
            .map(|(slot, to)| (*slot, *to))
    }

    /// The shard `slot` is moving to, if it is moving.
    pub fn moving_to(&self, slot: u16) -> Option<ShardId> {
        self.moves.get(&slot).copied()
    }

    /// The primary of `shard`.
    pub fn primary_of(&self, shard: ShardId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.shard == shard && n.primary)
    }

    /// The replicas of `shard`, in the order they joined.
    pub fn replicas_of(&self, shard: ShardId) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(move |n| n.shard == shard && !n.primary)
    }

    /// The primary serving `slot`.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        let shard = self.slots.get(slot as usize).copied().flatten()?;
        self.primary_of(shard)
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The slot ranges a shard owns, as inclusive (start, end) pairs in order.
    pub fn ranges(&self, shard: ShardId) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (s, owner) in self.slots.iter().enumerate() {
            if *owner == Some(shard) {
                match out.last_mut() {
                    Some((_, end)) if *end as usize + 1 == s => *end = s as u16,
                    _ => out.push((s as u16, s as u16)),
                }
            }
        }
        out
    }

    /// Slots with an owner.
    pub fn assigned(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Shards in the order of their first slot (how Redis lists CLUSTER SLOTS).
    pub fn shards(&self) -> Vec<ShardId> {
        let mut seen = Vec::new();
        for s in self.slots.iter().flatten() {
            if !seen.contains(s) {
                seen.push(*s);
            }
        }
        for n in &self.nodes {
            if !seen.contains(&n.shard) {
                seen.push(n.shard);
            }
        }
        seen
    }

    /// `CLUSTER NODES`, one line per node, `myself` marked (Redis 7's format).
    ///
    /// `unreachable` tells which nodes this node cannot reach right now: they are flagged
    /// `fail?` with a `disconnected` link, as Redis shows a node it suspects (PFAIL).
    /// `down(id)` is the flag of a member this node cannot reach (`fail?` or `fail`), if any.
    /// (`tls`: the reader came over TLS; nodes with a TLS port show it, as Redis shows a TLS
    /// client the ports it can use.)
    pub fn nodes_text(
        &self,
        myself: &str,
        tls: bool,
        down: impl Fn(&str) -> Option<&'static str>,
    ) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let mut flags = Vec::new();
            if n.id == myself {
                flags.push("myself");
            }
            flags.push(if n.primary { "master" } else { "slave" });
            let down = if n.id == myself { None } else { down(&n.id) };
            if let Some(flag) = down {
                flags.push(flag);
            }
            let primary_of = if n.primary {
                "-".to_string()
            } else {
                self.primary_of(n.shard)
                    .map(|p| p.id.clone())
                    .unwrap_or_else(|| "-".into())
            };
            let mut line = format!(
                "{} {}:{}@{} {} {} 0 0 {} {}",
                n.id,
                n.host,
                if tls && n.tls_port != 0 {
                    n.tls_port
                } else {
                    n.port
                },
                n.bus_port,
                flags.join(","),
                primary_of,
                self.epoch,
                if down.is_some() {
                    "disconnected"
                } else {
                    "connected"
                }
            );
            if n.primary {
                for (a, b) in self.ranges(n.shard) {
                    if a == b {
                        line += &format!(" {a}");
                    } else {
                        line += &format!(" {a}-{b}");
                    }
                }
                // Open slots, on the reader's own line only (as Redis shows them).
                if n.id == myself {
                    for (&slot, &to) in &self.moves {
                        let from = self.slots[slot as usize];
                        if from == Some(n.shard) {
                            if let Some(t) = self.primary_of(to) {
                                line += &format!(" [{slot}->-{}]", t.id);
                            }
                        } else if to == n.shard {
                            if let Some(f) = from.and_then(|f| self.primary_of(f)) {
                                line += &format!(" [{slot}-<-{}]", f.id);
                            }
                        }
                    }
                }
            }
            out += &line;
            out.push('\n');
        }
        out
    }
}

/// A shard id as Redis shows one (`CLUSTER MYSHARDID`, `CLUSTER SHARDS`): 40 hex characters.
pub fn shard_hex(shard: ShardId) -> String {
    format!("{:040x}", shard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: char, port: u16, shard: ShardId) -> Node {
        Node {
            id: std::iter::repeat_n(id, 40).collect(),
            host: "127.0.0.1".into(),
            port,
            bus_port: port + 10000,
            tls_port: 0,
            shard,
            primary: true,
            zone: None,
            leaving: false,
            weight: 1,
        }
    }

    #[test]
    fn ranges_and_nodes_text() {
        let mut t = Topology::single(node('a', 7000, 1));
        t.nodes.push(node('b', 7001, 2));
        for s in 100..200 {
            t.slots[s] = Some(2);
        }
        t.slots[5000] = Some(2);
        assert_eq!(t.ranges(1), vec![(0, 99), (200, 4999), (5001, 16383)]);
        assert_eq!(t.ranges(2), vec![(100, 199), (5000, 5000)]);
        assert_eq!(t.owner(150).unwrap().port, 7001);
        let text = t.nodes_text(&"a".repeat(40), false, |_| None);
        assert!(text.starts_with(&format!(
            "{} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99 200-4999 5001-16383\n",
            "a".repeat(40)
        )));
        assert!(text.contains(" master - 0 0 1 connected 100-199 5000\n"));
        let b = "b".repeat(40);
        let text = t.nodes_text(&"a".repeat(40), false, |id| (id == b).then_some("fail?"));
        assert!(
            text.contains(" master,fail? - 0 0 1 disconnected 100-199 5000\n"),
            "{text}"
        );
        assert!(
            text.contains("myself,master - 0 0 1 connected 0-99"),
            "myself is never suspected"
        );
        let text = t.nodes_text(&"a".repeat(40), false, |_| Some("fail"));
        assert!(
            text.contains(" master,fail - 0 0 1 disconnected 100-199"),
            "{text}"
        );
        assert!(text.contains("myself,master - 0 0 1 connected"), "{text}");
        assert_eq!(t.shards(), vec![1, 2]);
    }
}
