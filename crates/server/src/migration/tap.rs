//! The source's record of which keys of its moving slots changed while they were being
//! copied: fed by the mutation seam (every write, delete, expiry, eviction and flush), read
//! by the migration driver, which sends those keys again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use placement::slot::{key_slot, SLOTS};
use store::Mutation;

/// Watched slots (a bit each) and the keys of theirs that changed since last taken.
pub struct Tap {
    watched: Box<[AtomicU64]>,
    /// How many slots are watched (0: the seam observer skips the tap).
    count: AtomicUsize,
    dirty: Mutex<HashSet<Vec<u8>>>,
}

impl Default for Tap {
    fn default() -> Self {
        Tap {
            watched: (0..SLOTS as usize / 64)
                .map(|_| AtomicU64::new(0))
                .collect(),
            count: AtomicUsize::new(0),
            dirty: Mutex::new(HashSet::new()),
        }
    }
}

impl Tap {
    /// Whether any slot is watched.
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Acquire) != 0
    }

    fn is_watched(&self, slot: u16) -> bool {
        self.watched[slot as usize / 64].load(Ordering::Acquire) & (1 << (slot % 64)) != 0
    }

    /// Starts recording changes to `slots` (before their keys are read, so no change
    /// between the read and the end of the copy is missed).
    pub fn watch(&self, slots: &[u16]) {
        for &s in slots {
            let prev = self.watched[s as usize / 64].fetch_or(1 << (s % 64), Ordering::AcqRel);
            if prev & (1 << (s % 64)) == 0 {
                self.count.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Stops recording `slots` and forgets their changed keys.
    pub fn unwatch(&self, slots: &[u16]) {
        for &s in slots {
            let prev = self.watched[s as usize / 64].fetch_and(!(1 << (s % 64)), Ordering::AcqRel);
            if prev & (1 << (s % 64)) != 0 {
                self.count.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let slots: HashSet<u16> = slots.iter().copied().collect();
        self.dirty.lock().retain(|k| !slots.contains(&key_slot(k)));
    }

    /// The changed keys of `slots` since the last call (they are forgotten).
    pub fn take(&self, slots: &[u16]) -> Vec<Vec<u8>> {
        let slots: HashSet<u16> = slots.iter().copied().collect();
        let mut dirty = self.dirty.lock();
        let (mine, others): (Vec<_>, Vec<_>) =
            dirty.drain().partition(|k| slots.contains(&key_slot(k)));
        dirty.extend(others);
        mine
    }

    /// The mutation seam's call (with a shard locked: quick, no shard lock taken).
    pub fn on_mutation(&self, key: &[u8], what: Mutation) {
        if matches!(what, Mutation::Miss | Mutation::Create) {
            return;
        }
        if self.is_watched(key_slot(key)) {
            self.dirty.lock().insert(key.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_changes_of_watched_slots_only() {
        let tap = Tap::default();
        assert!(!tap.active());
        let foo = key_slot(b"foo");
        tap.watch(&[foo]);
        tap.watch(&[foo]);
        assert!(tap.active());
        tap.on_mutation(b"foo", Mutation::Write);
        tap.on_mutation(b"foo", Mutation::Expire);
        tap.on_mutation(b"bar", Mutation::Write);
        tap.on_mutation(b"{foo}x", Mutation::Miss);
        assert_eq!(tap.take(&[foo]), vec![b"foo".to_vec()]);
        assert!(tap.take(&[foo]).is_empty());
        tap.on_mutation(b"{foo}y", Mutation::Flush);
        tap.unwatch(&[foo]);
        assert!(!tap.active());
        assert!(tap.take(&[foo]).is_empty(), "unwatching forgets");
    }
}
