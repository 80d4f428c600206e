//! The keyspace table of one shard: open addressing over 8-byte slots.
//!
//! Hand-written (not hashbrown) because the keyspace needs what a general map does not offer:
//! 8 bytes per key and nothing else (the key lives in the entry), uniform random sampling of
//! keys (eviction) and slot indices a caller can use for a follow-up operation.
//!
//! A slot holds the entry's address (below 2^48 on x86-64 and aarch64 Linux) and the top 16
//! bits of the key's hash, so a probe rejects other keys without touching their memory.
//! Linear probing, at most 7/8 full; deletion shifts later entries back (no tombstones),
//! which needs each entry's home slot, recomputed from its key by the shard's hash function.
//! Each shard grows on its own, so a resize copies 1/256 of the keyspace at a time: no
//! keyspace-wide 2x memory spike.
//!
//! Capacities are not powers of two: a key's home is its hash's low 40 bits scaled to the
//! capacity (a multiply, not a mask), and a table grows by about 1.5x to a size the
//! allocator serves without rounding (2^k × 4/4, 5/4, 6/4, 7/4 slots). With doubling, a
//! shard that just grew is 44% full, and at a million keys the slots cost 16.8 bytes per key;
//! this way they cost 9-12 — a sixth of a small key's memory.

use crate::entry::{Entry, EntryMut, EntryRef};

const ADDR_BITS: u32 = 48;
/// The hash bits that place a key in the table (see `crate::hashing`: never the slot bits).
const HOME_BITS: u32 = 40;
const HOME_MASK: u64 = (1 << HOME_BITS) - 1;
const ADDR_MASK: u64 = (1 << ADDR_BITS) - 1;
/// Address part of a slot whose entry is out being rebuilt (see `take_for_rebuild`).
const PLACEHOLDER: u64 = 1;

fn tag(h: u64) -> u64 {
    (h >> ADDR_BITS) << ADDR_BITS
}

#[derive(Default)]
pub struct Table {
    slots: Box<[u64]>,
    len: usize,
}

impl Table {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes of the slot array (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// Where the probe for hash `h` starts (the table must not be empty).
    #[inline]
    fn home(&self, h: u64) -> usize {
        (((h & HOME_MASK) as u128 * self.slots.len() as u128) >> HOME_BITS) as usize
    }

    /// The slot after `i`, wrapping around.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// Index of `key`'s slot, if present.
    pub fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let t = tag(h);
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & !ADDR_MASK == t && self.get(i).key() == key {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    /// The top 16 bits of the hash of the key in slot `i` (occupied), as stored.
    pub fn tag(&self, i: usize) -> u64 {
        self.slots[i] & !ADDR_MASK
    }

    /// Starts loading the home slot of hash `h` into the cache (a bulk insert prefetches a
    /// group of keys, then inserts them: their cache misses overlap instead of queueing).
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot: *const u64 = &self.slots[self.home(h)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; the address is inside our slot array.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// Starts loading the entry a probe for hash `h` would compare first (the first slot
    /// from its home with `h`'s tag), for a caller that prefetched the home slot earlier;
    /// reads the slots, so it costs a cache miss when they are not in yet.
    #[inline]
    pub fn prefetch_entry(&self, h: u64) {
        if self.len == 0 {
            return;
        }
        let t = tag(h);
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return;
            }
            if s & !ADDR_MASK == t {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a prefetch is a hint that never faults; the address is a live
                // entry's.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        (s & ADDR_MASK) as *const i8,
                    );
                }
                return;
            }
            i = self.next(i);
        }
    }

    /// The entry in slot `i`, which must be occupied.
    pub fn get(&self, i: usize) -> EntryRef<'_> {
        let s = self.slots[i];
        assert!(s != 0, "slot {i} is empty");
        // SAFETY: a non-zero slot holds a live entry this table owns; the view borrows self.
        unsafe { Entry::view(s & ADDR_MASK) }
    }

    pub fn get_mut(&mut self, i: usize) -> EntryMut<'_> {
        let s = self.slots[i];
        assert!(s != 0, "slot {i} is empty");
        // SAFETY: as in get, and &mut self makes this the only view.
        unsafe { Entry::view_mut(s & ADDR_MASK) }
    }

    /// Inserts an entry for a key known to be absent; returns its slot.
    pub fn insert_new(&mut self, h: u64, entry: Entry, hash_of: &impl Fn(&[u8]) -> u64) -> usize {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow(hash_of);
        }
        let mut i = self.home(h);
        while self.slots[i] != 0 {
            i = self.next(i);
        }
        self.slots[i] = Self::pack(h, entry);
        self.len += 1;
        i
    }

    fn pack(h: u64, entry: Entry) -> u64 {
        let addr = entry.into_addr();
        assert!(
            addr & !ADDR_MASK == 0,
            "entry address above 2^48 is not supported"
        );
        tag(h) | addr
    }

    /// Replaces the entry in slot `i` by another for the same key; returns the old one.
    pub fn replace(&mut self, i: usize, h: u64, entry: Entry) -> Entry {
        let old = self.slots[i];
        assert!(old != 0, "slot {i} is empty");
        self.slots[i] = Self::pack(h, entry);
        // SAFETY: the old slot owned this address and no longer refers to it.
        unsafe { Entry::from_addr(old & ADDR_MASK) }
    }

    /// Takes the entry out of slot `i` to rebuild it, leaving the slot reserved; the caller
    /// must put an entry for the same key back with [`Table::put_back`] before any other call.
    pub fn take_for_rebuild(&mut self, i: usize) -> Entry {
        let old = self.slots[i];
        assert!(old != 0, "slot {i} is empty");
        // Keep the tag and a placeholder address so probing still sees an occupied slot.
        self.slots[i] = (old & !ADDR_MASK) | PLACEHOLDER;
        // SAFETY: ownership moves to the caller; the slot no longer refers to the entry.
        unsafe { Entry::from_addr(old & ADDR_MASK) }
    }

    pub fn put_back(&mut self, i: usize, entry: Entry) {
        let tagged = self.slots[i] & !ADDR_MASK;
        let addr = entry.into_addr();
        assert!(
            addr & !ADDR_MASK == 0,
            "entry address above 2^48 is not supported"
        );
        self.slots[i] = tagged | addr;
    }

    /// Removes the entry in slot `i`, shifting later entries of the run back.
    pub fn remove(&mut self, i: usize, hash_of: &impl Fn(&[u8]) -> u64) -> Entry {
        let removed = self.slots[i];
        assert!(removed != 0, "slot {i} is empty");
        self.slots[i] = 0;
        self.len -= 1;
        let mut hole = i;
        let mut j = self.next(i);
        while self.slots[j] != 0 {
            let home = self.home(hash_of(self.get(j).key()));
            // The entry at j may move to the hole unless its home lies in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j];
                self.slots[j] = 0;
                hole = j;
            }
            j = self.next(j);
        }
        // SAFETY: the removed slot owned this address.
        unsafe { Entry::from_addr(removed & ADDR_MASK) }
    }

    /// Makes room for `additional` more keys without growing again (loading a snapshot
    /// whose size is known: no rehash per doubling).
    pub fn reserve(&mut self, additional: usize, hash_of: &impl Fn(&[u8]) -> u64) {
        let want = (self.len + additional).saturating_mul(8).div_ceil(7);
        if want > self.slots.len() {
            self.resize(capacity_class(want), hash_of);
        }
    }

    fn grow(&mut self, hash_of: &impl Fn(&[u8]) -> u64) {
        let cap = self.slots.len();
        self.resize(capacity_class(cap + cap / 2), hash_of);
    }

    fn resize(&mut self, new_cap: usize, hash_of: &impl Fn(&[u8]) -> u64) {
        let old = std::mem::replace(&mut self.slots, vec![0u64; new_cap].into_boxed_slice());
        for s in old.iter().copied().filter(|s| *s != 0) {
            // SAFETY: a temporary view of an entry we own.
            let key_hash = hash_of(unsafe { Entry::view(s & ADDR_MASK) }.key());
            let mut i = self.home(key_hash);
            while self.slots[i] != 0 {
                i = self.next(i);
            }
            self.slots[i] = s;
        }
    }

    /// An occupied slot chosen from a random starting point, or `None` if empty.
    pub fn sample(&self, random: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut i = (random % self.slots.len() as u64) as usize;
        while self.slots[i] == 0 {
            i = self.next(i);
        }
        Some(i)
    }

    /// Occupied slot indices.
    pub fn occupied(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != 0)
            .map(|(i, _)| i)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.occupied().map(|i| self.get(i))
    }

    /// Removes and frees everything.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            // A placeholder owns nothing (its entry is with the caller that took it).
            if *s != 0 && *s & ADDR_MASK != PLACEHOLDER {
                // SAFETY: we own the address; the slot is cleared right after.
                drop(unsafe { Entry::from_addr(*s & ADDR_MASK) });
            }
            *s = 0;
        }
        self.len = 0;
    }
}

/// The smallest capacity of at least `n` slots (and 8) whose array the allocator serves
/// exactly: 2^k × 4/4, 5/4, 6/4 or 7/4 slots, as jemalloc's size classes step.
fn capacity_class(n: usize) -> usize {
    let n = n.max(8);
    let lg = usize::BITS - 1 - n.leading_zeros();
    let step = (1usize << lg) / 4;
    n.div_ceil(step) * step
}

impl Drop for Table {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Meta;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    fn hasher() -> impl Fn(&[u8]) -> u64 {
        // A weak hash on purpose: many collisions exercise probing and back-shifting.
        |k: &[u8]| {
            let h = foldhash::fast::FixedState::with_seed(1).hash_one(k);
            (h & 0xffff_0000_0000_001f) | 0x100
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u8..4, 0u16..64), 1..400)) {
            let hash_of = hasher();
            let mut table = Table::default();
            let mut model: HashMap<Vec<u8>, u16> = HashMap::new();
            for (op, k) in ops {
                let key = format!("key{k}").into_bytes();
                let h = hash_of(&key);
                // Hints only: they must not panic or change anything, on any table.
                table.prefetch(h);
                table.prefetch_entry(h);
                match op {
                    0 => {
                        let value = k.to_string();
                        let e = Entry::new_str(&key, value.as_bytes(), None, Meta::default());
                        match table.find(h, &key) {
                            Some(i) => { table.replace(i, h, e); }
                            None => { table.insert_new(h, e, &hash_of); }
                        }
                        model.insert(key.clone(), k);
                    }
                    1 => {
                        let got = table.find(h, &key).map(|i| table.remove(i, &hash_of));
                        prop_assert_eq!(got.is_some(), model.remove(&key).is_some());
                    }
                    3 => table.reserve(k as usize, &hash_of),
                    _ => {
                        let got = table.find(h, &key).map(|i| table.get(i).value().as_str().unwrap().to_vec());
                        prop_assert_eq!(got, model.get(&key).map(|v| v.to_string().into_bytes()));
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            for (k, v) in &model {
                let i = table.find(hash_of(k), k).expect("present");
                prop_assert_eq!(table.get(i).value().as_str().unwrap().to_vec(), v.to_string().into_bytes());
            }
            prop_assert_eq!(table.iter().count(), model.len());
        }
    }

    #[test]
    fn capacities_step_by_quarters() {
        assert_eq!(capacity_class(1), 8);
        assert_eq!(capacity_class(8), 8);
        assert_eq!(capacity_class(9), 10);
        assert_eq!(capacity_class(12), 12);
        assert_eq!(capacity_class(4465), 5120);
        assert_eq!(capacity_class(4096), 4096);
        assert_eq!(capacity_class(4097), 5120);
        // Growth by ~1.5x keeps a shard of a million-key keyspace (~3,900 keys) 76% full.
        let mut cap = 8;
        while cap * 7 < 3_906 * 8 {
            cap = capacity_class(cap + cap / 2);
        }
        assert!(3_906 * 100 / cap >= 70, "{cap}");
    }

    #[test]
    fn sampling_finds_entries() {
        let hash_of = hasher();
        let mut table = Table::default();
        assert!(table.sample(5).is_none());
        for i in 0..100u32 {
            let key = i.to_be_bytes();
            table.insert_new(
                hash_of(&key),
                Entry::new_str(&key, b"v", None, Meta::default()),
                &hash_of,
            );
        }
        for r in 0..1000u64 {
            let i = table.sample(r.wrapping_mul(0x9E37_79B9_7F4A_7C15)).unwrap();
            assert!(table.get(i).key().len() == 4);
        }
    }
}
