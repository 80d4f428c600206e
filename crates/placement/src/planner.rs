//! The slot planner: which shard owns each of the 16384 slots.
//!
//! Given the current table and the new set of shards, it computes the target table so that
//! (1) every shard owns `floor(16384/N)` or `ceil(16384/N)` slots (balance far inside ±1%), and
//! (2) the fewest slots change owner that any balanced table allows: a shard keeps every slot
//! it owns up to its quota, and only the excess of over-full shards and the slots of departed
//! shards move. Which slots move, and where they go, is decided by rendezvous (highest random
//! weight) hashing of (block, shard), a block being [`BLOCK`] consecutive slots: each block
//! ranks the shards by a hash, an over-full shard gives up the slots of the blocks it ranks
//! lowest, and a free slot goes to the under-full shard that ranks its block highest. So the
//! plan is a pure function of its inputs (every node computes the same one), adding the N+1th
//! shard moves ~16384/(N+1) slots, taken evenly from the others, and slots travel in runs:
//! a shard's slots form a few dozen ranges rather than thousands (CLUSTER SLOTS stays small),
//! while balance and movement are still counted slot by slot.
//!
//! The table maps slot -> shard id, not node: a shard (primary plus replicas) keeps its id when
//! its nodes change.

use crate::slot::SLOTS;

/// A shard's identifier (stable across its primary changing).
pub type ShardId = u64;

/// Slot -> owning shard; `None` = unassigned.
pub type SlotTable = Vec<Option<ShardId>>;

/// An empty table.
pub fn empty_table() -> SlotTable {
    vec![None; SLOTS as usize]
}

/// Slots hashed together: 256 blocks of 64 (fine enough that every shard of up to ~50 gets
/// several blocks, coarse enough that ranges stay long).
pub const BLOCK: u16 = 64;

/// Rendezvous rank of `shard` for `slot`: its block's score, then the slot (so a block's
/// slots are given up or taken in order, in one run).
fn rank(slot: u16, shard: ShardId) -> (u64, u16) {
    (score(slot / BLOCK, shard), slot)
}

/// Rendezvous score of `shard` for a block (SplitMix64 of both: fast, well mixed, stable).
fn score(block: u16, shard: ShardId) -> u64 {
    let mut z = shard
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(block as u64)
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Plans the table for `shards` (duplicates ignored) starting from `current`. With no shards
/// every slot is unassigned.
pub fn plan(current: &[Option<ShardId>], shards: &[ShardId]) -> SlotTable {
    let weighted: Vec<(ShardId, u32)> = shards.iter().map(|s| (*s, 1)).collect();
    plan_weighted(current, &weighted)
}

/// [`plan`] for shards of unequal capacity: each owns slots in proportion to its weight
/// (`--weight`; a weight of 0 counts as 1), floor or ceil of `16384 * w / sum(w)`. Equal
/// weights give exactly [`plan`]'s table.
pub fn plan_weighted(current: &[Option<ShardId>], shards: &[(ShardId, u32)]) -> SlotTable {
    let mut shards: Vec<(ShardId, u32)> = shards.to_vec();
    shards.sort_unstable();
    shards.dedup_by_key(|(id, _)| *id);
    let weights: Vec<u64> = shards.iter().map(|(_, w)| u64::from((*w).max(1))).collect();
    let shards: Vec<ShardId> = shards.iter().map(|(id, _)| *id).collect();
    let n = shards.len();
    if n == 0 {
        return empty_table();
    }
    let total = SLOTS as usize;
    // Slots each shard holds now (departed shards count for nothing).
    let mut held = vec![0usize; n];
    let index_of = |id: ShardId| shards.binary_search(&id).ok();
    for owner in current.iter().take(total).flatten() {
        if let Some(i) = index_of(*owner) {
            held[i] += 1;
        }
    }
    // Quotas: each shard's floor of its weighted share; the slots left over go one each to
    // the shards with the largest remainders, then to those holding the most now, so the
    // remainder moves nothing (ties by id, deterministic). Equal weights: `total / n` each,
    // one more for the `total % n` shards holding the most.
    let sum: u64 = weights.iter().sum();
    let mut quota: Vec<usize> = weights
        .iter()
        .map(|w| (total as u64 * w / sum) as usize)
        .collect();
    let remainder = |i: usize| total as u64 * weights[i] % sum;
    let extra = total - quota.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        remainder(b)
            .cmp(&remainder(a))
            .then(held[b].cmp(&held[a]))
            .then(shards[a].cmp(&shards[b]))
    });
    for &i in order.iter().take(extra) {
        quota[i] += 1;
    }

    let mut table: SlotTable = (0..total)
        .map(|s| {
            current
                .get(s)
                .copied()
                .flatten()
                .filter(|o| index_of(*o).is_some())
        })
        .collect();
    // Over-full shards give up the slots they rank lowest.
    for i in 0..n {
        if held[i] > quota[i] {
            let mut mine: Vec<u16> = (0..total as u16)
                .filter(|&s| table[s as usize] == Some(shards[i]))
                .collect();
            mine.sort_by_key(|&s| rank(s, shards[i]));
            for &s in mine.iter().take(held[i] - quota[i]) {
                table[s as usize] = None;
            }
            held[i] = quota[i];
        }
    }
    // Free slots go to the under-full shard that ranks highest for them. Slots are visited
    // in the order of their best score for any under-full shard, strongest claims first, so
    // a shard filling up does not take the slots another shard wants more.
    let mut free: Vec<((u64, u16), u16)> = (0..total as u16)
        .filter(|&s| table[s as usize].is_none())
        .map(|s| {
            let best = (0..n)
                .filter(|&i| held[i] < quota[i])
                .map(|i| rank(s, shards[i]))
                .max()
                .unwrap_or((0, 0));
            (best, s)
        })
        .collect();
    free.sort_unstable_by(|a, b| b.cmp(a));
    for (_, s) in free {
        let winner = (0..n)
            .filter(|&i| held[i] < quota[i])
            .max_by_key(|&i| rank(s, shards[i]))
            .expect("free slots never outnumber the open quota");
        table[s as usize] = Some(shards[winner]);
        held[winner] += 1;
    }
    table
}

/// Slots whose owner differs between two tables.
pub fn moved(a: &[Option<ShardId>], b: &[Option<ShardId>]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Slots per shard, in `shards` order.
pub fn counts(table: &[Option<ShardId>], shards: &[ShardId]) -> Vec<usize> {
    shards
        .iter()
        .map(|id| table.iter().filter(|o| **o == Some(*id)).count())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn balanced(table: &SlotTable, shards: &[ShardId]) -> bool {
        let n = shards.len();
        let ideal = SLOTS as f64 / n as f64;
        counts(table, shards)
            .iter()
            .all(|&c| (c as f64 - ideal).abs() <= (ideal * 0.01).max(1.0))
            && table
                .iter()
                .all(|o| o.is_some_and(|id| shards.contains(&id)))
    }

    /// The fewest moves any balanced table needs from `before`: slots of departed shards, plus
    /// what over-full shards must shed beyond that.
    fn minimum_moves(before: &SlotTable, shards: &[ShardId]) -> usize {
        let n = shards.len();
        let (base, extra) = (SLOTS as usize / n, SLOTS as usize % n);
        let mut held = counts(before, shards);
        held.sort_unstable_by(|a, b| b.cmp(a));
        let orphaned = before
            .iter()
            .filter(|o| o.is_none_or(|id| !shards.contains(&id)))
            .count();
        let shed: usize = held
            .iter()
            .enumerate()
            .map(|(i, &h)| h.saturating_sub(base + usize::from(i < extra)))
            .sum();
        orphaned + shed
    }

    #[test]
    fn weights_share_slots_in_proportion_and_equal_weights_change_nothing() {
        let t = plan_weighted(&empty_table(), &[(1, 1), (2, 2), (3, 1)]);
        assert_eq!(counts(&t, &[1, 2, 3]), vec![4096, 8192, 4096]);
        // Raising one shard's weight moves only what it must take.
        let before = plan(&empty_table(), &[1, 2, 3]);
        let after = plan_weighted(&before, &[(1, 1), (2, 2), (3, 1)]);
        assert_eq!(counts(&after, &[1, 2, 3]), vec![4096, 8192, 4096]);
        assert_eq!(moved(&before, &after), 8192 - counts(&before, &[2])[0]);
        for current in [empty_table(), before.clone()] {
            assert_eq!(
                plan(&current, &[1, 2, 3]),
                plan_weighted(&current, &[(1, 5), (2, 5), (3, 5)])
            );
        }
    }

    #[test]
    fn bootstrap_is_balanced_and_deterministic() {
        let t = plan(&empty_table(), &[3, 1, 2]);
        assert!(balanced(&t, &[1, 2, 3]));
        assert_eq!(t, plan(&empty_table(), &[1, 2, 3]));
        let mut c = counts(&t, &[1, 2, 3]);
        c.sort();
        assert_eq!(c, vec![5461, 5461, 5462]);
    }

    #[test]
    fn a_joining_shard_takes_about_one_nth_evenly() {
        let three = plan(&empty_table(), &[1, 2, 3]);
        let four = plan(&three, &[1, 2, 3, 4]);
        let ideal = SLOTS as usize / 4;
        let m = moved(&three, &four);
        assert!(m <= ideal + 1, "{m} > {ideal}");
        assert!(four
            .iter()
            .zip(&three)
            .all(|(n, o)| n == o || *n == Some(4)));
        // Each old shard gave roughly a third of what moved.
        for id in [1, 2, 3] {
            let gave = three
                .iter()
                .zip(&four)
                .filter(|(o, n)| **o == Some(id) && **n == Some(4))
                .count();
            assert!((1300..=1430).contains(&gave), "shard {id} gave {gave}");
        }
    }

    /// Runs of consecutive slots owned by `id`.
    fn ranges(table: &SlotTable, id: ShardId) -> usize {
        (0..table.len())
            .filter(|&s| table[s] == Some(id) && (s == 0 || table[s - 1] != Some(id)))
            .count()
    }

    #[test]
    fn slots_travel_in_runs() {
        let three = plan(&empty_table(), &[1, 2, 3]);
        for id in [1, 2, 3] {
            let r = ranges(&three, id);
            assert!(r <= 90, "shard {id}: {r} ranges");
        }
        let four = plan(&three, &[1, 2, 3, 4]);
        for id in [1, 2, 3, 4] {
            let r = ranges(&four, id);
            assert!(r <= 120, "shard {id}: {r} ranges after a join");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any sequence of membership changes: balanced after each, and never more moves
        /// than 1.05x the minimum a balanced table needs.
        #[test]
        fn balance_and_minimal_movement(changes in proptest::collection::vec(
            (proptest::collection::btree_set(1u64..12, 1..8), any::<bool>()), 1..6)) {
            let mut table = empty_table();
            for (set, _) in changes {
                let shards: Vec<ShardId> = set.into_iter().collect();
                let next = plan(&table, &shards);
                prop_assert!(balanced(&next, &shards));
                let min = minimum_moves(&table, &shards);
                let m = moved(&table, &next);
                prop_assert!(m as f64 <= min as f64 * 1.05 + 1.0, "moved {} minimum {}", m, min);
                table = next;
            }
        }
    }
}
