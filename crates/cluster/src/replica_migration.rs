//! Replica migration (Redis's `clusterHandleSlaveMigration`): when a shard serving slots
//! has lost every replica that answers, a replica moves over from the shard that has the
//! most answering replicas, provided that shard keeps more than `cluster-migration-barrier`
//! of them. The Raft leader decides (it probes every member anyway) and commits the move as
//! a [`crate::Change::Replicate`]; the choice itself is pure and lives here.
//!
//! Redis lets each replica decide for itself after `CLUSTER_SLAVE_MIGRATION_DELAY` (5 s);
//! the leader waits the same [`ORPHAN_DELAY`] before it moves one, so a replica that is only
//! restarting is not replaced at once.

use std::time::Duration;

use placement::topology::{Node, Topology};

/// How long a primary must stay orphaned before a replica is moved to it (Redis's
/// `CLUSTER_SLAVE_MIGRATION_DELAY`).
pub const ORPHAN_DELAY: Duration = Duration::from_secs(5);

/// The primaries Redis would call orphaned: they serve slots, their shard has (or, by the
/// cluster's `replicas` setting, should have) replicas, and none of its replicas answers.
/// A primary that does not answer itself is failover's business, not this one's; a leaving
/// primary is on its way out.
pub fn orphaned<'a>(t: &'a Topology, answers: &dyn Fn(&str) -> bool) -> Vec<&'a Node> {
    t.nodes
        .iter()
        .filter(|p| p.primary && !p.leaving && answers(&p.id))
        .filter(|p| t.slots.contains(&Some(p.shard)))
        .filter(|p| t.replicas > 0 || t.replicas_of(p.shard).next().is_some())
        .filter(|p| !t.replicas_of(p.shard).any(|r| answers(&r.id)))
        .collect()
}

/// The replica to move to `orphan`'s shard: one of the shard with the most answering
/// replicas (ties: the lowest primary id), when that shard has more than `barrier` of them;
/// among its answering replicas, one outside the orphan's zone if zones are known, then the
/// lowest id (so the choice is stable from one probe round to the next). A donor shard whose
/// remaining copies would all share one zone (while zones are given) keeps its replica.
pub fn donor<'a>(
    t: &'a Topology,
    orphan: &Node,
    answers: &dyn Fn(&str) -> bool,
    barrier: usize,
) -> Option<&'a Node> {
    let answering = |shard| t.replicas_of(shard).filter(|r| answers(&r.id));
    let (_, primary) = t
        .nodes
        .iter()
        .filter(|p| p.primary && !p.leaving && p.shard != orphan.shard)
        .map(|p| (answering(p.shard).count(), p))
        .filter(|(n, _)| *n > barrier)
        .max_by(|(a, p), (b, q)| a.cmp(b).then_with(|| q.id.cmp(&p.id)))?;
    let stays_spread = |leaving: &Node| {
        let kept: Vec<&Node> = t
            .nodes
            .iter()
            .filter(|n| n.shard == primary.shard && n.id != leaving.id)
            .collect();
        match kept.first().and_then(|n| n.zone.as_deref()) {
            Some(z) if kept.len() > 1 => !kept.iter().all(|n| n.zone.as_deref() == Some(z)),
            _ => true,
        }
    };
    answering(primary.shard)
        .filter(|r| stays_spread(r))
        .min_by_key(|r| {
            let same_zone = r.zone.is_some() && r.zone == orphan.zone;
            (same_zone, r.id.clone())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use placement::slot::SLOTS;

    fn node(id: char, shard: u64, primary: bool, zone: Option<&str>) -> Node {
        Node {
            id: id.to_string().repeat(40),
            host: "127.0.0.1".into(),
            port: 7000,
            bus_port: 17000,
            tls_port: 0,
            shard,
            primary,
            zone: zone.map(str::to_string),
            leaving: false,
            weight: 1,
        }
    }

    /// Shards 1-3 own a third of the slots each; `nodes` says who is in them.
    fn topology(nodes: Vec<Node>, replicas: usize) -> Topology {
        let mut t = Topology::single(nodes[0].clone());
        t.nodes = nodes;
        t.replicas = replicas;
        for (i, s) in t.slots.iter_mut().enumerate() {
            *s = Some(1 + (i as u64 * 3 / SLOTS as u64));
        }
        t
    }

    fn id(c: char) -> String {
        c.to_string().repeat(40)
    }

    #[test]
    fn a_dead_replica_is_replaced_from_a_shard_with_two() {
        let t = topology(
            vec![
                node('a', 1, true, None),
                node('b', 2, true, None),
                node('c', 3, true, None),
                node('d', 1, false, None),
                node('e', 2, false, None),
                node('f', 3, false, None),
                node('9', 3, false, None),
            ],
            1,
        );
        let dead = id('d');
        let answers = |n: &str| n != dead;
        let orphans = orphaned(&t, &answers);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].id, id('a'));
        // Shard 3 has two answering replicas: its lowest id moves.
        assert_eq!(donor(&t, orphans[0], &answers, 1).unwrap().id, id('9'));
        // With barrier 2, shard 3 must keep both.
        assert!(donor(&t, orphans[0], &answers, 2).is_none());
        // Everyone answers: nobody is orphaned.
        assert!(orphaned(&t, &|_| true).is_empty());
    }

    #[test]
    fn no_replica_moves_when_no_shard_can_spare_one() {
        let t = topology(
            vec![
                node('a', 1, true, None),
                node('b', 2, true, None),
                node('d', 1, false, None),
                node('e', 2, false, None),
            ],
            1,
        );
        let dead = id('d');
        let answers = |n: &str| n != dead;
        let orphans = orphaned(&t, &answers);
        assert_eq!(orphans.len(), 1);
        assert!(donor(&t, orphans[0], &answers, 1).is_none());
        // Barrier 0 (Redis allows it): the last replica of a shard may move.
        assert_eq!(donor(&t, orphans[0], &answers, 0).unwrap().id, id('e'));
    }

    #[test]
    fn primaries_that_never_wanted_replicas_or_are_down_are_not_orphans() {
        let t = topology(
            vec![
                node('a', 1, true, None),
                node('b', 2, true, None),
                node('e', 2, false, None),
                node('f', 2, false, None),
            ],
            0,
        );
        assert!(orphaned(&t, &|_| true).is_empty());
        let down = id('b');
        let only_b_down = |n: &str| n != down;
        assert!(orphaned(&t, &only_b_down).is_empty());
        // The cluster asks for a replica per shard: shard 1 lacks one.
        let t = Topology { replicas: 1, ..t };
        assert_eq!(orphaned(&t, &|_| true)[0].id, id('a'));
    }

    #[test]
    fn zones_pick_a_replica_outside_the_orphans_zone_and_keep_the_donor_spread() {
        let t = topology(
            vec![
                node('a', 1, true, Some("z1")),
                node('b', 2, true, Some("z1")),
                node('d', 1, false, Some("z2")),
                node('5', 2, false, Some("z1")),
                node('6', 2, false, Some("z2")),
                node('7', 2, false, Some("z3")),
            ],
            1,
        );
        let dead = id('d');
        let answers = |n: &str| n != dead;
        let orphan = orphaned(&t, &answers)[0];
        // '5' has the lowest id but shares the orphan's zone.
        assert_eq!(donor(&t, orphan, &answers, 1).unwrap().id, id('6'));
        // Shard 2 as z1 + z1 + z2: moving the z2 replica would leave it all in z1.
        let mut t2 = t.clone();
        t2.nodes.retain(|n| n.id != id('7'));
        t2.nodes.push(node('8', 2, false, Some("z1")));
        let orphan = orphaned(&t2, &answers)[0].clone();
        let moved = donor(&t2, &orphan, &answers, 1).unwrap();
        assert_eq!(moved.zone.as_deref(), Some("z1"));
    }
}
