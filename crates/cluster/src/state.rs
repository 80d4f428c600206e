//! The replicated topology state machine.

use placement::planner::{plan_weighted, ShardId};
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
    /// Its TLS client port (0: none).
    #[serde(default)]
    pub tls_port: u16,
    /// The failure domain it runs in (`--zone`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Its capacity relative to the others (`--weight`; 0 or absent: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// One entry of the topology log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Starts a cluster with its first node (only on an empty state).
    Bootstrap(NodeSpec),
    /// Adds a node: as a replica of the shard with the fewest replicas while some shard has
    /// fewer than the cluster wants, else as the primary of a new shard, which the planner
    /// gives its share of slots.
    Join(NodeSpec),
    /// Removes a node. A primary with replicas hands its shard to its first replica; one
    /// without gives its slots to the other shards.
    Leave { id: String },
    /// Sets how many replicas each shard should have (nodes joining from now on fill gaps).
    SetReplicas { replicas: usize },
    /// Makes the replica `id` the primary of its shard; the shard's primary, if any, becomes
    /// a replica of it (and resyncs from it when it can be reached). `handover_ms`: how long
    /// the new primary must still wait before serving writes, when the leader knows the old
    /// primary's lease ends sooner than a full grace period (see `Topology::handover_ms`).
    Failover {
        id: String,
        #[serde(default)]
        handover_ms: Option<u64>,
    },
    /// Makes the replica `id` a replica of the shard whose primary is `of` (CLUSTER
    /// REPLICATE); a primary cannot move (it serves its shard's slots).
    Replicate { id: String, of: String },
    /// Moves `slots` (with their keys) to the shard whose primary is `to`: each stays with
    /// its owner until the owner has copied its keys there and asks for the switch
    /// ([`Change::CommitMove`]). Slots `to` already owns are skipped; refused when a slot is
    /// already moving, out of range, or `to` is no primary or is leaving.
    MoveSlots { slots: Vec<u16>, to: String },
    /// Moves the slots that differ from the planner's balanced table (slots already moving
    /// are left to finish).
    Rebalance,
    /// The graceful removal of a node: a replica leaves at once, a primary with a replica
    /// hands its shard over (as [`Change::Leave`]), a primary without one moves every slot
    /// to the other shards (with their keys) and is removed (a `Leave`) once the last has
    /// moved ([`ClusterState::drained`]).
    Drain { id: String },
    /// Switches the moving `slots` to shard `to`: asked by their source once the target
    /// holds their keys and the source has stopped serving them. Slots not moving there
    /// (any more) are skipped; refused when none is.
    CommitMove { slots: Vec<u16>, to: ShardId },
    /// Cancels pending moves (of `slots`, or all): the slots stay with their owners (a
    /// target drops what it had copied).
    CancelMoves { slots: Option<Vec<u16>> },
    /// Pauses (or resumes) every pending move: sources stop copying and switching until
    /// resumed; the moves stay planned and the slots served by their owners.
    PauseMoves { paused: bool },
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
    #[error("node {0} is not a replica")]
    NotAReplica(String),
    #[error("node {0} is not a primary")]
    NotAPrimary(String),
    #[error("{0} replicas per shard is more than a cluster can use")]
    TooManyReplicas(usize),
    #[error("slot {0} is out of range (0-16383)")]
    BadSlot(u16),
    #[error("slot {0} is already moving; wait for it or cancel it first")]
    AlreadyMoving(u16),
    #[error("node {0} is leaving the cluster")]
    Leaving(String),
    #[error("nothing to move: the target already owns these slots")]
    NothingToMove,
    #[error("none of these slots is moving there any more")]
    NotMoving,
}

/// The most replicas per shard a cluster may ask for.
pub const MAX_REPLICAS: usize = 16;

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
        let applied = self.apply_change(change);
        // A handover wait belongs to the failover that set it, the switched slots to the
        // commit that switched them, not to later changes.
        if let (Ok(()), Some(t)) = (&applied, self.topology.as_mut()) {
            if !matches!(change, Change::Failover { .. }) {
                t.handover_ms = None;
            }
            if !matches!(change, Change::CommitMove { .. }) {
                t.switched.clear();
            }
        }
        applied
    }

    fn apply_change(&mut self, change: &Change) -> Result<(), ChangeError> {
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
                if let Some(shard) = shard_lacking_replicas(t, spec.zone.as_deref()) {
                    let t = self.topology.as_mut().expect("checked above");
                    let mut replica = node(spec, shard);
                    replica.primary = false;
                    t.nodes.push(replica);
                    t.epoch += 1;
                    return Ok(());
                }
                let shard = self.new_shard();
                let t = self.topology.as_mut().expect("checked above");
                t.nodes.push(node(spec, shard));
                // The new shard gets its share by slot moves, each keeping its keys.
                plan_moves(t);
                t.epoch += 1;
                Ok(())
            }
            Change::Leave { id } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let Some(leaving) = t.node(id).cloned() else {
                    return Err(ChangeError::UnknownNode(id.clone()));
                };
                if t.nodes.len() == 1 {
                    return Err(ChangeError::LastNode);
                }
                if leaving.primary {
                    let heir = t.replicas_of(leaving.shard).next().map(|n| n.id.clone());
                    if let Some(heir) = heir {
                        promote(t, &heir);
                    }
                }
                t.nodes.retain(|n| &n.id != id);
                // A shard gone with its last node takes its moves along (its slots are
                // replanned cold: the node is gone, and its keys with it).
                let live: Vec<ShardId> = t.nodes.iter().map(|n| n.shard).collect();
                t.moves.retain(|&slot, to| {
                    live.contains(to) && t.slots[slot as usize].is_some_and(|s| live.contains(&s))
                });
                replan(t);
                let slots = &t.slots;
                t.moves
                    .retain(|&slot, to| slots[slot as usize] != Some(*to));
                Ok(())
            }
            Change::MoveSlots { slots, to } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let target = match t.node(to) {
                    None => return Err(ChangeError::UnknownNode(to.clone())),
                    Some(n) if !n.primary => return Err(ChangeError::NotAPrimary(to.clone())),
                    Some(n) if n.leaving => return Err(ChangeError::Leaving(to.clone())),
                    Some(n) => n.shard,
                };
                let mut moving = Vec::new();
                for &slot in slots {
                    if slot >= placement::slot::SLOTS {
                        return Err(ChangeError::BadSlot(slot));
                    }
                    if t.moves.contains_key(&slot) {
                        return Err(ChangeError::AlreadyMoving(slot));
                    }
                    if t.slots[slot as usize] != Some(target) {
                        moving.push(slot);
                    }
                }
                if moving.is_empty() {
                    return Err(ChangeError::NothingToMove);
                }
                for slot in moving {
                    if t.slots[slot as usize].is_none() {
                        t.slots[slot as usize] = Some(target); // no keys anywhere
                    } else {
                        t.moves.insert(slot, target);
                    }
                }
                t.epoch += 1;
                Ok(())
            }
            Change::Rebalance => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                if plan_moves(t) == 0 {
                    return Err(ChangeError::NothingToMove);
                }
                t.epoch += 1;
                Ok(())
            }
            Change::Drain { id } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let Some(n) = t.node(id).cloned() else {
                    return Err(ChangeError::UnknownNode(id.clone()));
                };
                let alone = t.nodes.iter().filter(|m| m.shard == n.shard).count() == 1;
                if !n.primary || !alone {
                    return self.apply_change(&Change::Leave { id: id.clone() });
                }
                if t.nodes.iter().filter(|m| m.primary && !m.leaving).count() == 1 {
                    return Err(ChangeError::LastNode);
                }
                for m in t.nodes.iter_mut().filter(|m| &m.id == id) {
                    m.leaving = true;
                }
                // Nothing moves to a leaving shard; everything it owns moves away.
                t.moves.retain(|_, to| *to != n.shard);
                plan_moves(t);
                t.epoch += 1;
                Ok(())
            }
            Change::CommitMove { slots, to } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let switching: Vec<u16> = slots
                    .iter()
                    .copied()
                    .filter(|s| t.moves.get(s) == Some(to))
                    .collect();
                if switching.is_empty() {
                    return Err(ChangeError::NotMoving);
                }
                for &slot in &switching {
                    t.moves.remove(&slot);
                    t.slots[slot as usize] = Some(*to);
                }
                t.switched = switching;
                t.epoch += 1;
                Ok(())
            }
            Change::PauseMoves { paused } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                if t.moves_paused != *paused {
                    t.moves_paused = *paused;
                    t.epoch += 1;
                }
                Ok(())
            }
            Change::CancelMoves { slots } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let before = t.moves.len();
                match slots {
                    None => t.moves.clear(),
                    Some(slots) => {
                        for s in slots {
                            t.moves.remove(s);
                        }
                    }
                }
                if t.moves.len() == before {
                    return Err(ChangeError::NotMoving);
                }
                t.epoch += 1;
                Ok(())
            }
            Change::SetReplicas { replicas } => {
                if *replicas > MAX_REPLICAS {
                    return Err(ChangeError::TooManyReplicas(*replicas));
                }
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                t.replicas = *replicas;
                t.epoch += 1;
                Ok(())
            }
            Change::Replicate { id, of } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                let shard = match t.node(of) {
                    None => return Err(ChangeError::UnknownNode(of.clone())),
                    Some(p) if !p.primary => return Err(ChangeError::NotAPrimary(of.clone())),
                    Some(p) => p.shard,
                };
                match t.nodes.iter_mut().find(|n| &n.id == id) {
                    None => Err(ChangeError::UnknownNode(id.clone())),
                    Some(n) if n.primary => Err(ChangeError::NotAReplica(id.clone())),
                    Some(n) => {
                        n.shard = shard;
                        t.epoch += 1;
                        Ok(())
                    }
                }
            }
            Change::Failover { id, handover_ms } => {
                let t = self.topology.as_mut().ok_or(ChangeError::NotBootstrapped)?;
                match t.node(id) {
                    None => Err(ChangeError::UnknownNode(id.clone())),
                    Some(n) if n.primary => Err(ChangeError::NotAReplica(id.clone())),
                    Some(_) => {
                        promote(t, id);
                        t.epoch += 1;
                        t.handover_ms = *handover_ms;
                        Ok(())
                    }
                }
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
        tls_port: spec.tls_port,
        shard,
        primary: true,
        zone: spec.zone.clone(),
        leaving: false,
        weight: spec.weight.unwrap_or(1).max(1),
    }
}

/// The shard a joining node (in `zone`, if known) should replicate: among shards with fewer
/// replicas than the cluster wants, never one whose copies are all in the joiner's zone (it
/// would leave the shard in one zone: the node becomes a primary instead), preferring one
/// with no copy in that zone, then the fewest replicas, then the lowest shard id (so every
/// node picks the same).
fn shard_lacking_replicas(t: &Topology, zone: Option<&str>) -> Option<ShardId> {
    t.nodes
        .iter()
        .filter(|n| n.primary)
        .filter(|p| t.replicas_of(p.shard).count() < t.replicas)
        .filter_map(|p| {
            let members = || t.nodes.iter().filter(|n| n.shard == p.shard);
            let in_zone = |n: &Node| zone.is_some() && n.zone.as_deref() == zone;
            if zone.is_some() && members().all(in_zone) {
                return None;
            }
            let shares_zone = members().any(in_zone);
            Some((shares_zone, t.replicas_of(p.shard).count(), p.shard))
        })
        .min()
        .map(|(_, _, shard)| shard)
}

/// Makes replica `id` its shard's primary and the old primary (if any) its replica.
fn promote(t: &mut Topology, id: &str) {
    let Some(shard) = t.node(id).map(|n| n.shard) else {
        return;
    };
    for n in t.nodes.iter_mut().filter(|n| n.shard == shard) {
        n.primary = n.id == id;
    }
}

/// Makes the pending moves take every slot where the planner's balanced table (for the
/// primaries that are not leaving) puts it; answers how many moves were added, redirected
/// or dropped. Planned from the table as it will be once the pending moves are done, so a
/// node joining while others' moves run gets its fair share: a moving slot the new plan puts
/// elsewhere is redirected (its source's commit to the old target is then refused, the old
/// target drops its partial copy, and the slot moves again to the new one), and one the plan
/// leaves with its owner stops moving. Unowned slots are assigned at once (no keys).
fn plan_moves(t: &mut Topology) -> usize {
    let shards: Vec<(ShardId, u32)> = t
        .nodes
        .iter()
        .filter(|n| n.primary && !n.leaving)
        .map(|n| (n.shard, n.weight))
        .collect();
    let mut after = t.slots.clone();
    for (&slot, &to) in &t.moves {
        after[slot as usize] = Some(to);
    }
    let wanted = plan_weighted(&after, &shards);
    let mut changed = 0;
    for (slot, want) in wanted.into_iter().enumerate() {
        let (slot16, owner) = (slot as u16, t.slots[slot]);
        match (want, owner) {
            (None, _) => {}
            (Some(_), None) => {
                t.slots[slot] = want;
                changed += 1;
            }
            (Some(w), Some(o)) if w == o => {
                if t.moves.remove(&slot16).is_some() {
                    changed += 1;
                }
            }
            (Some(w), Some(_)) => {
                if t.moves.insert(slot16, w) != Some(w) {
                    changed += 1;
                }
            }
        }
    }
    changed
}

impl ClusterState {
    /// Leaving primaries with no slot left: drained, to be removed (a `Leave`, which also
    /// takes them out of the Raft membership).
    pub fn drained(&self) -> Vec<String> {
        let Some(t) = &self.topology else {
            return Vec::new();
        };
        t.nodes
            .iter()
            .filter(|n| n.leaving && n.primary && !t.slots.contains(&Some(n.shard)))
            .map(|n| n.id.clone())
            .collect()
    }
}

/// The planner's table for the shards that have a primary, and a new epoch.
fn replan(t: &mut Topology) {
    let primaries = || t.nodes.iter().filter(|n| n.primary);
    // Leaving shards get nothing, unless nothing else is left.
    let mut shards: Vec<(ShardId, u32)> = primaries()
        .filter(|n| !n.leaving)
        .map(|n| (n.shard, n.weight))
        .collect();
    if shards.is_empty() {
        shards = primaries().map(|n| (n.shard, n.weight)).collect();
    }
    t.slots = plan_weighted(&t.slots, &shards);
    t.epoch += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use placement::planner::{counts, moved};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn spec(i: u16) -> NodeSpec {
        NodeSpec {
            id: format!("{:040x}", i as u64 + 1),
            host: "127.0.0.1".into(),
            port: 7000 + i,
            bus_port: 17000 + i,
            tls_port: 0,
            zone: None,
            weight: None,
        }
    }

    /// Commits every pending move, as the sources would once their keys are copied.
    fn finish_moves(s: &mut ClusterState) {
        let moves = s.topology.as_ref().unwrap().moves.clone();
        let mut by_target: BTreeMap<ShardId, Vec<u16>> = BTreeMap::new();
        for (slot, to) in moves {
            by_target.entry(to).or_default().push(slot);
        }
        for (to, slots) in by_target {
            s.apply(&Change::CommitMove { slots, to }).unwrap();
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
        finish_moves(&mut s);
        s.apply(&Change::Join(spec(2))).unwrap();
        finish_moves(&mut s);
        let t = s.topology.clone().unwrap();
        assert_eq!(t.epoch, 5);
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
        // A fourth node takes about a quarter, by moves; leaving gives its slots back.
        s.apply(&Change::Join(spec(3))).unwrap();
        let planned = s.topology.clone().unwrap();
        assert_eq!(
            planned.slots, t.slots,
            "nothing switches before its keys moved"
        );
        let new_shard = planned.node(&spec(3).id).unwrap().shard;
        assert!(planned.moves.values().all(|to| *to == new_shard));
        finish_moves(&mut s);
        let four = s.topology.clone().unwrap();
        assert!(four.moves.is_empty());
        assert_eq!(counts(&four.slots, &[new_shard]), vec![4096]);
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

    #[test]
    fn replicas_join_leave_and_fail_over() {
        let mut s = ClusterState::default();
        s.apply(&Change::Bootstrap(spec(0))).unwrap();
        assert_eq!(
            s.apply(&Change::SetReplicas { replicas: 99 }),
            Err(ChangeError::TooManyReplicas(99))
        );
        s.apply(&Change::SetReplicas { replicas: 1 }).unwrap();
        for i in 1..6 {
            s.apply(&Change::Join(spec(i))).unwrap();
            finish_moves(&mut s);
        }
        let t = s.topology.clone().unwrap();
        let primaries: Vec<_> = t.nodes.iter().filter(|n| n.primary).collect();
        assert_eq!(primaries.len(), 3, "6 nodes with 1 replica each: 3 + 3");
        for p in &primaries {
            assert_eq!(t.replicas_of(p.shard).count(), 1);
            assert!(!t.ranges(p.shard).is_empty());
        }
        assert_eq!(t.assigned(), 16384);
        // A replica cannot be made primary twice; a primary is no replica.
        assert_eq!(
            s.apply(&Change::Failover {
                id: spec(0).id,
                handover_ms: None
            }),
            Err(ChangeError::NotAReplica(spec(0).id))
        );
        // Failover swaps the roles and keeps the shard's slots.
        let replica = t
            .replicas_of(t.node(&spec(0).id).unwrap().shard)
            .next()
            .unwrap()
            .id
            .clone();
        s.apply(&Change::Failover {
            id: replica.clone(),
            handover_ms: Some(300),
        })
        .unwrap();
        let after = s.topology.clone().unwrap();
        assert_eq!(after.handover_ms, Some(300));
        assert!(after.node(&replica).unwrap().primary);
        assert!(!after.node(&spec(0).id).unwrap().primary);
        assert_eq!(after.slots, t.slots, "no slot moves on a failover");
        assert_eq!(after.epoch, t.epoch + 1);
        // The primary leaving hands its shard to its replica, slots and all.
        s.apply(&Change::Leave {
            id: replica.clone(),
        })
        .unwrap();
        let left = s.topology.clone().unwrap();
        assert_eq!(
            left.handover_ms, None,
            "only the failover's own topology waits less"
        );
        assert!(left.node(&spec(0).id).unwrap().primary);
        assert_eq!(left.slots, t.slots);
        // A replica leaving changes no slot either.
        let r = left.nodes.iter().find(|n| !n.primary).unwrap().id.clone();
        s.apply(&Change::Leave { id: r }).unwrap();
        assert_eq!(s.topology.clone().unwrap().slots, t.slots);
        // The next node to join fills the gap as a replica.
        s.apply(&Change::Join(spec(7))).unwrap();
        let t = s.topology.clone().unwrap();
        assert!(!t.node(&spec(7).id).unwrap().primary);
        assert_eq!(t.nodes.iter().filter(|n| n.primary).count(), 3);
    }

    /// Nodes joining while earlier moves still run end balanced: moves are redirected.
    #[test]
    fn joins_during_moves_end_balanced() {
        let mut s = ClusterState::default();
        s.apply(&Change::Bootstrap(spec(0))).unwrap();
        s.apply(&Change::Join(spec(1))).unwrap();
        s.apply(&Change::Join(spec(2))).unwrap();
        // Half of the first moves finish before the fourth node joins.
        let t = s.topology.clone().unwrap();
        let half: Vec<(u16, ShardId)> = t.moves.iter().step_by(2).map(|(a, b)| (*a, *b)).collect();
        for (slot, to) in half {
            s.apply(&Change::CommitMove {
                slots: vec![slot],
                to,
            })
            .unwrap();
        }
        s.apply(&Change::Join(spec(3))).unwrap();
        finish_moves(&mut s);
        let t = s.topology.clone().unwrap();
        let shards: Vec<_> = t.nodes.iter().map(|n| n.shard).collect();
        let mut c = counts(&t.slots, &shards);
        c.sort();
        assert_eq!(c, vec![4096; 4]);
    }

    /// A node joining with `--weight 2` takes twice the share of the others.
    #[test]
    fn weights_set_the_share_a_node_takes() {
        let mut s = ClusterState::default();
        s.apply(&Change::Bootstrap(spec(0))).unwrap();
        s.apply(&Change::Join(spec(1))).unwrap();
        s.apply(&Change::Join(NodeSpec {
            weight: Some(2),
            ..spec(2)
        }))
        .unwrap();
        finish_moves(&mut s);
        let t = s.topology.clone().unwrap();
        let shards: Vec<_> = t.nodes.iter().map(|n| n.shard).collect();
        assert_eq!(counts(&t.slots, &shards), vec![4096, 4096, 8192]);
    }

    #[test]
    fn slot_moves_drain_and_refusals() {
        let mut s = ClusterState::default();
        s.apply(&Change::Bootstrap(spec(0))).unwrap();
        s.apply(&Change::Join(spec(1))).unwrap();
        finish_moves(&mut s);
        let t = s.topology.clone().unwrap();
        let (a, b) = (&t.nodes[0], &t.nodes[1]);
        let a_slot = t.ranges(a.shard)[0].0;
        let before = s.clone();
        // Bad input changes nothing.
        for (change, err) in [
            (
                Change::MoveSlots {
                    slots: vec![16384],
                    to: b.id.clone(),
                },
                ChangeError::BadSlot(16384),
            ),
            (
                Change::MoveSlots {
                    slots: vec![1],
                    to: "f".repeat(40),
                },
                ChangeError::UnknownNode("f".repeat(40)),
            ),
            (
                Change::MoveSlots {
                    slots: t.ranges(b.shard).iter().map(|r| r.0).collect(),
                    to: b.id.clone(),
                },
                ChangeError::NothingToMove,
            ),
            (
                Change::CommitMove {
                    slots: vec![a_slot],
                    to: b.shard,
                },
                ChangeError::NotMoving,
            ),
            (Change::CancelMoves { slots: None }, ChangeError::NotMoving),
            (Change::Rebalance, ChangeError::NothingToMove),
        ] {
            assert_eq!(s.apply(&change), Err(err));
        }
        assert_eq!(s, before);
        // A move keeps the owner until it is committed; a second plan for the slot is refused.
        s.apply(&Change::MoveSlots {
            slots: vec![a_slot],
            to: b.id.clone(),
        })
        .unwrap();
        let t2 = s.topology.clone().unwrap();
        assert_eq!(t2.slots[a_slot as usize], Some(a.shard));
        assert_eq!(t2.moving_to(a_slot), Some(b.shard));
        assert_eq!(
            s.apply(&Change::MoveSlots {
                slots: vec![a_slot],
                to: b.id.clone()
            }),
            Err(ChangeError::AlreadyMoving(a_slot))
        );
        // Committed: b owns it, at once (`switched`), and only for this change.
        s.apply(&Change::CommitMove {
            slots: vec![a_slot],
            to: b.shard,
        })
        .unwrap();
        let t3 = s.topology.clone().unwrap();
        assert_eq!(t3.slots[a_slot as usize], Some(b.shard));
        assert_eq!(t3.switched, vec![a_slot]);
        assert_eq!(
            s.apply(&Change::CommitMove {
                slots: vec![a_slot],
                to: b.shard
            }),
            Err(ChangeError::NotMoving),
            "a second commit of the same move is a no-op"
        );
        // Rebalance gives it back; cancelled, nothing changes hands.
        // Rebalance moves one slot of b's back (b has one too many); cancelled, nothing
        // changes hands.
        s.apply(&Change::Rebalance).unwrap();
        let t4 = s.topology.clone().unwrap();
        assert_eq!(t4.moves.len(), 1);
        let (&back, &to) = t4.moves.iter().next().unwrap();
        assert_eq!((t4.slots[back as usize], to), (Some(b.shard), a.shard));
        assert!(t4.switched.is_empty());
        s.apply(&Change::CancelMoves {
            slots: Some(vec![back]),
        })
        .unwrap();
        assert_eq!(
            s.topology.as_ref().unwrap().slots[back as usize],
            Some(b.shard)
        );
        assert!(s.topology.as_ref().unwrap().moves.is_empty());
        // Draining b: everything it owns moves to a, then b is gone.
        s.apply(&Change::Drain { id: b.id.clone() }).unwrap();
        let t4 = s.topology.clone().unwrap();
        assert!(t4.node(&b.id).unwrap().leaving);
        assert_eq!(
            t4.moves.len(),
            t4.ranges(b.shard)
                .iter()
                .map(|(x, y)| (y - x + 1) as usize)
                .sum::<usize>()
        );
        assert_eq!(
            s.apply(&Change::MoveSlots {
                slots: vec![0],
                to: b.id.clone()
            }),
            Err(ChangeError::Leaving(b.id.clone()))
        );
        assert_eq!(
            s.apply(&Change::Drain { id: a.id.clone() }),
            Err(ChangeError::LastNode)
        );
        finish_moves(&mut s);
        assert_eq!(s.drained(), vec![b.id.clone()]);
        s.apply(&Change::Leave { id: b.id.clone() }).unwrap();
        let t5 = s.topology.clone().unwrap();
        assert!(t5.node(&b.id).is_none(), "drained and removed");
        assert_eq!(t5.ranges(a.shard), vec![(0, 16383)]);
    }

    #[test]
    fn replicas_are_spread_over_zones() {
        let zoned = |i: u16, zone: &str| NodeSpec {
            zone: Some(zone.into()),
            ..spec(i)
        };
        let mut s = ClusterState::default();
        s.apply(&Change::Bootstrap(zoned(0, "a"))).unwrap();
        s.apply(&Change::SetReplicas { replicas: 1 }).unwrap();
        // Another node of zone a would leave the shard in one zone: it starts a shard.
        s.apply(&Change::Join(zoned(1, "a"))).unwrap();
        s.apply(&Change::Join(zoned(2, "b"))).unwrap();
        s.apply(&Change::Join(zoned(3, "b"))).unwrap();
        let t = s.topology.unwrap();
        assert_eq!(t.nodes.iter().filter(|n| n.primary).count(), 2);
        for p in t.nodes.iter().filter(|n| n.primary) {
            let zones: std::collections::BTreeSet<_> = t
                .nodes
                .iter()
                .filter(|n| n.shard == p.shard)
                .map(|n| n.zone.clone())
                .collect();
            assert_eq!(zones.len(), 2, "shard {} is in one zone: {t:?}", p.shard);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Two nodes applying the same log end in the same state, whatever the log (errors
        /// included), and the table always covers every slot with live shards.
        #[test]
        fn replicas_applying_the_same_log_agree(ops in proptest::collection::vec((any::<bool>(), 0u16..8), 1..20)) {
            let mut log = vec![Change::Bootstrap(spec(0))];
            log.push(Change::SetReplicas { replicas: 1 });
            for (join, i) in ops {
                log.push(if join { Change::Join(spec(i)) } else if i % 3 == 0 {
                    Change::Failover { id: spec(i).id, handover_ms: None }
                } else if i == 1 {
                    Change::Drain { id: spec(i).id }
                } else if i == 4 {
                    Change::Rebalance
                } else if i == 7 {
                    Change::MoveSlots { slots: (0..100).collect(), to: spec(i).id }
                } else {
                    Change::Leave { id: spec(i).id }
                });
            }
            let (mut a, mut b) = (ClusterState::default(), ClusterState::default());
            for (n, c) in log.iter().enumerate() {
                let ra = a.apply(c);
                let rb = b.apply(c);
                prop_assert_eq!(ra, rb);
                // Every other step, the pending moves finish (both replicas log the same).
                if n % 2 == 0 {
                    finish_moves(&mut a);
                    finish_moves(&mut b);
                }
                let t = a.topology.as_ref().unwrap();
                for (&slot, to) in &t.moves {
                    prop_assert!(t.slots[slot as usize].is_some());
                    prop_assert!(t.nodes.iter().any(|n| n.primary && n.shard == *to && !n.leaving));
                }
            }
            prop_assert_eq!(&a, &b);
            let t = a.topology.unwrap();
            prop_assert_eq!(t.assigned(), 16384);
            prop_assert!(t.slots.iter().all(|s| t.nodes.iter().any(|n| Some(n.shard) == *s && n.primary)));
            // Every shard has exactly one primary.
            for n in &t.nodes {
                prop_assert_eq!(t.nodes.iter().filter(|m| m.shard == n.shard && m.primary).count(), 1);
            }
        }
    }
}
