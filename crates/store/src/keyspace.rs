//! The sharded keyspace.
//!
//! 256 shards, each behind its own mutex: with a good hash, two cores rarely want the same
//! shard, so a command locks one uncontended mutex and the node scales with cores without a
//! global lock. Multi-key commands lock the shards they touch in ascending order (no
//! deadlock). Whole-keyspace commands (KEYS, SCAN, DBSIZE, FLUSHALL) visit shards one at a
//! time.
//!
//! SCAN: a cursor is a position in one global order of keys, by (shard, hash bits), which
//! does not change when a table grows. So every key present for the whole iteration is
//! returned, and returned once, as Redis promises (Redis gets the same guarantee from its
//! reverse-binary cursor).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::glob;
use crate::policy::Policy;
use crate::shard::Shard;
use crate::table::Table;

pub const SHARD_BITS: u32 = 8;
pub const SHARDS: usize = 1 << SHARD_BITS;
/// The shard is taken from hash bits 40..48 (see [`crate::hashing`]): a table uses the low
/// bits for the home slot and the top 16 bits as a tag, so those must stay varied inside one
/// shard.
use crate::hashing::{slot_home, KeyHasher, SlotFn, SHARD_SHIFT};
const LOW_MASK: u64 = (1 << SHARD_SHIFT) - 1;
/// Shards whose best candidates are compared per eviction under TTL/LFU policies.
const SHARDS_COMPARED: usize = 8;
/// Width of the per-shard part of a SCAN cursor.
const ORDER_BITS: u32 = 64 - SHARD_BITS;

#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// What SCAN filters its results by (after choosing them, as Redis does: COUNT counts keys
/// visited, not keys returned).
#[derive(Debug, Default, Clone)]
pub struct ScanFilter {
    pub pattern: Option<Vec<u8>>,
    pub type_name: Option<String>,
}

/// Sees each shard once during a snapshot (see [`Keyspace::begin_snapshot`]).
pub trait ShardVisitor: Send + Sync {
    /// Called with shard `index` locked, as it was when the snapshot began.
    fn visit(&self, index: usize, shard: &Shard);
}

/// A snapshot in progress: who visits, and which shards were visited.
struct Snapshot {
    visitor: Arc<dyn ShardVisitor>,
    visited: Box<[std::sync::atomic::AtomicBool]>,
}

pub struct Keyspace {
    shards: Box<[Padded]>,
    /// Fast check on every lock: is a snapshot in progress?
    snapshot_active: std::sync::atomic::AtomicBool,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    hasher: KeyHasher,
    /// Round-robin position of the active expiry cycle.
    expire_cursor: AtomicU64,
    /// Bytes held by all shards, kept exact by every write.
    used: Arc<AtomicI64>,
    /// Position of the eviction cycle over shards.
    evict_cursor: AtomicU64,
}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyspace {
    /// A standalone node's keyspace.
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A cluster node's keyspace: `slot_of` gives a key's hash slot, which is kept in its
    /// hash so the keys of one slot can be found and counted (see [`crate::hashing`]).
    pub fn with_slots(slot_of: SlotFn) -> Self {
        Self::build(Some(slot_of))
    }

    fn build(slot_of: Option<SlotFn>) -> Self {
        let seed: u64 = rand::random();
        let hasher = KeyHasher::new(seed, slot_of);
        let used = Arc::new(AtomicI64::new(0));
        Keyspace {
            shards: (0..SHARDS)
                .map(|i| {
                    Padded(Mutex::new(Shard::new(
                        seed ^ (i as u64 + 1),
                        hasher.clone(),
                        used.clone(),
                    )))
                })
                .collect(),
            snapshot_active: std::sync::atomic::AtomicBool::new(false),
            snapshot: Mutex::new(None),
            hasher,
            expire_cursor: AtomicU64::new(0),
            used,
            evict_cursor: AtomicU64::new(0),
        }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// Makes room for `keys` more keys spread over the shards (a snapshot about to load).
    pub fn reserve(&self, keys: usize) {
        let per_shard = keys / SHARDS + keys / SHARDS / 16;
        if per_shard > 0 {
            (0..SHARDS).for_each(|i| self.lock_index(i).reserve(per_shard));
        }
    }

    /// Whether this keyspace indexes keys by cluster slot ([`Keyspace::with_slots`]).
    pub fn has_slots(&self) -> bool {
        self.hasher.has_slots()
    }

    /// Keys stored for cluster `slot`, expired ones not reclaimed yet included (Redis's
    /// COUNTKEYSINSLOT). O(1); needs [`Keyspace::with_slots`].
    pub fn count_in_slot(&self, slot: u16) -> usize {
        debug_assert!(self.has_slots());
        let (shard, within) = slot_home(slot);
        self.lock_index(shard).slot_len(within)
    }

    /// Up to `max` keys of cluster `slot` (GETKEYSINSLOT, slot migration): a pass over one
    /// shard's slot array. Needs [`Keyspace::with_slots`].
    pub fn keys_in_slot(&self, slot: u16, max: usize) -> Vec<Vec<u8>> {
        debug_assert!(self.has_slots());
        let (shard, within) = slot_home(slot);
        self.lock_index(shard).slot_keys(within, max)
    }

    pub fn shard_index(h: u64) -> usize {
        ((h >> SHARD_SHIFT) as usize) & (SHARDS - 1)
    }

    /// Position of a key inside its shard in SCAN order.
    fn order(h: u64) -> u64 {
        ((h >> (SHARD_SHIFT + SHARD_BITS)) << SHARD_SHIFT) | (h & LOW_MASK)
    }

    /// Starts loading the memory that finding the keys of `hashes` will read, in two passes:
    /// every home slot, then every entry those slots point to. A pipeline's commands then
    /// wait for their cache misses together rather than one after another (with keys spread
    /// over more memory than the caches hold, the two misses of a lookup were half of what
    /// a replica spent applying a SET).
    pub fn prefetch(&self, hashes: &[u64]) {
        #[cfg(target_arch = "x86_64")]
        for &h in hashes {
            // The shards' locks first, so the passes below do not queue on their misses.
            let shard: *const Padded = &self.shards[Self::shard_index(h)];
            // SAFETY: a prefetch is a hint; the address is inside our shard array.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(shard.cast());
            }
        }
        for &h in hashes {
            self.lock(h).prefetch(h);
        }
        for &h in hashes {
            self.lock(h).prefetch_entry(h);
        }
    }

    /// Locks the shard owning hash `h`.
    pub fn lock(&self, h: u64) -> MutexGuard<'_, Shard> {
        self.lock_index(Self::shard_index(h))
    }

    /// Locks shard `i`. Every lock of a shard goes through here: while a snapshot is in
    /// progress, the first lock of each shard hands it to the snapshot's visitor before
    /// anything else can read or change it.
    pub fn lock_index(&self, i: usize) -> MutexGuard<'_, Shard> {
        let guard = self.shards[i].0.lock();
        if self.snapshot_active.load(Ordering::SeqCst) {
            self.capture(i, &guard);
        }
        guard
    }

    #[cold]
    fn capture(&self, i: usize, shard: &Shard) {
        let Some(snap) = self.snapshot.lock().clone() else {
            return;
        };
        if !snap.visited[i].swap(true, Ordering::SeqCst) {
            snap.visitor.visit(i, shard);
        }
    }

    /// Starts a point-in-time snapshot without stopping writers (what BGSAVE is built on,
    /// instead of Redis's fork). Each shard is handed to `visitor` exactly once, as it was
    /// at this call: either by [`Keyspace::finish_snapshot`] sweeping the shards, or earlier,
    /// by whichever command locks a not yet visited shard first — before that command reads
    /// or changes it.
    ///
    /// Invariant: a change is in the snapshot if and only if it was made under a shard lock
    /// taken before this call. The caller makes the call at a quiescent point for
    /// multi-shard atomicity (no EXEC half done: the node holds its exclusive EXEC gate), so
    /// a transaction is in the snapshot whole or not at all. Extra memory is what the
    /// visitor keeps of shards visited early until it writes them out.
    pub fn begin_snapshot(&self, visitor: Arc<dyn ShardVisitor>) -> Result<(), &'static str> {
        let mut current = self.snapshot.lock();
        if current.is_some() {
            return Err("a snapshot is already in progress");
        }
        *current = Some(Arc::new(Snapshot {
            visitor,
            visited: (0..SHARDS)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        }));
        self.snapshot_active.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Visits every shard not visited yet, then ends the snapshot.
    pub fn finish_snapshot(&self) {
        for i in 0..SHARDS {
            drop(self.lock_index(i));
        }
        self.snapshot_active.store(false, Ordering::SeqCst);
        *self.snapshot.lock() = None;
    }

    /// Locks every shard owning one of `hashes`, in ascending order.
    pub fn lock_many(&self, hashes: &[u64]) -> ShardSet<'_> {
        let mut idx: Vec<usize> = hashes.iter().map(|&h| Self::shard_index(h)).collect();
        idx.sort_unstable();
        idx.dedup();
        ShardSet {
            guards: idx.into_iter().map(|i| (i, self.lock_index(i))).collect(),
        }
    }

    /// Number of keys, including expired ones not yet reclaimed (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.lock_index(i).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (keys, keys with a TTL), for INFO keyspace.
    pub fn counts(&self) -> (usize, usize) {
        (0..SHARDS).fold((0, 0), |(k, v), i| {
            let s = self.lock_index(i);
            (k + s.len(), v + s.volatile_len())
        })
    }

    /// Bytes the keyspace holds (entries, value buffers, tables), exact and cheap to read.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed).max(0) as u64
    }

    /// Bookkeeping bytes over all shards: (main table, TTL list), for MEMORY STATS.
    pub fn overhead_bytes(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(m, e), s| {
            let (sm, se) = s.0.lock().overhead_bytes();
            (m + sm, e + se)
        })
    }

    /// Installs the mutation seam's observer on every shard (see [`crate::MutationObserver`]).
    pub fn set_observer(&self, observer: Option<Arc<dyn crate::shard::MutationObserver>>) {
        for s in self.shards.iter() {
            s.0.lock().set_observer(observer.clone());
        }
    }

    /// Tells every shard which policy is in force (it decides what the access field holds).
    pub fn set_policy(&self, policy: Policy) {
        for s in self.shards.iter() {
            s.0.lock().set_lfu_mode(policy.is_lfu());
        }
    }

    /// Evicts one key by `policy` from the next non-empty shard (round-robin from a random
    /// start, so eviction pressure is spread like the keys are). Returns false when nothing
    /// can be evicted.
    pub fn evict_one(&self, policy: Policy, now: u64) -> bool {
        let start = self.evict_cursor.fetch_add(1, Ordering::Relaxed) as usize;
        if matches!(
            policy,
            Policy::VolatileTtl | Policy::AllKeysLfu | Policy::VolatileLfu
        ) {
            // These rank keys globally (nearest deadline, least frequent): compare the best
            // candidate of several shards and evict from the best one, so a shard that has
            // run out of good victims does not give up a worse key.
            let mut best: Option<(usize, u64)> = None;
            let mut compared = 0;
            for i in 0..SHARDS {
                let idx = (start.wrapping_mul(97) + i) % SHARDS;
                if let Some(score) = self.lock_index(idx).best_victim_score(policy, now) {
                    if best.is_none_or(|(_, s)| score < s) {
                        best = Some((idx, score));
                    }
                    compared += 1;
                    if compared == SHARDS_COMPARED {
                        break;
                    }
                }
            }
            return match best {
                Some((idx, _)) => self.lock_index(idx).evict_one(policy, now),
                None => false,
            };
        }
        (0..SHARDS).any(|i| {
            self.lock_index((start.wrapping_mul(97) + i) % SHARDS)
                .evict_one(policy, now)
        })
    }

    /// Sums the per-shard statistics.
    pub fn stats(&self) -> crate::shard::ShardStats {
        let mut total = crate::shard::ShardStats::default();
        for s in self.shards.iter() {
            let st = s.0.lock().stats;
            total.hits += st.hits;
            total.misses += st.misses;
            total.expired += st.expired;
            total.evicted += st.evicted;
        }
        total
    }

    pub fn reset_stats(&self) {
        for s in self.shards.iter() {
            s.0.lock().stats = Default::default();
        }
    }

    /// Keys matching `pattern` (KEYS). A lone `*` matches every key, including the empty one.
    pub fn keys(&self, pattern: &[u8], now: u64) -> Vec<Vec<u8>> {
        let all = pattern == b"*";
        let mut out = Vec::new();
        for i in 0..SHARDS {
            let s = self.lock_index(i);
            out.extend(
                s.iter()
                    .filter(|e| !e.is_expired(now))
                    .filter(|e| all || glob::matches(pattern, e.key(), false))
                    .map(|e| e.key().to_vec()),
            );
        }
        out
    }

    /// One SCAN step from `cursor`: visits about `count` keys and returns the next cursor
    /// (0 when the iteration is complete) with the visited keys that pass `filter`.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        filter: &ScanFilter,
        now: u64,
        out: &mut Vec<Vec<u8>>,
    ) -> u64 {
        let count = count.max(1);
        let mut shard = (cursor >> ORDER_BITS) as usize;
        let mut from = cursor & ((1 << ORDER_BITS) - 1);
        let all = filter.pattern.as_deref().is_none_or(|p| p == b"*");
        let mut visited = 0;
        while shard < SHARDS {
            let mut guard = self.lock_index(shard);
            let mut candidates: Vec<(u64, crate::entry::EntryRef<'_>)> = guard
                .iter()
                .filter(|e| !e.is_expired(now))
                .map(|e| (Self::order(guard.hash(e.key())), e))
                .filter(|(o, _)| *o >= from)
                .collect();
            let want = count - visited;
            let mut next_from = None;
            if candidates.len() > want {
                candidates.select_nth_unstable_by_key(want - 1, |(o, _)| *o);
                let last = candidates[want - 1].0;
                // Keys sharing the last position go together, so none is skipped or repeated.
                candidates.retain(|(o, _)| *o <= last);
                next_from = Some(last + 1);
            }
            candidates.sort_unstable_by_key(|(o, _)| *o);
            visited += candidates.len();
            out.extend(
                candidates
                    .iter()
                    .filter(|(_, e)| {
                        all || glob::matches(
                            filter.pattern.as_deref().unwrap_or(b"*"),
                            e.key(),
                            false,
                        )
                    })
                    .filter(|(_, e)| {
                        filter
                            .type_name
                            .as_deref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(e.value().type_name()))
                    })
                    .map(|(_, e)| e.key().to_vec()),
            );
            // The expired keys among those visited are reclaimed, as Redis's SCAN expires
            // the keys it meets (unless this thread's command leaves expiry to a primary).
            if crate::expiry::mode() == crate::expiry::ExpiryMode::Reclaim {
                let upto = next_from.unwrap_or(u64::MAX);
                let expired: Vec<(u64, Vec<u8>)> = guard
                    .iter()
                    .filter(|e| e.is_expired(now))
                    .map(|e| (guard.hash(e.key()), e.key().to_vec()))
                    .filter(|(h, _)| (from..upto).contains(&Self::order(*h)))
                    .collect();
                for (h, key) in expired {
                    guard.peek(h, &key, now);
                }
            }
            drop(guard);
            match next_from {
                Some(f) if f < (1 << ORDER_BITS) => return ((shard as u64) << ORDER_BITS) | f,
                _ => {
                    shard += 1;
                    from = 0;
                }
            }
            if visited >= count {
                break;
            }
        }
        if shard >= SHARDS {
            0
        } else {
            (shard as u64) << ORDER_BITS
        }
    }

    /// Removes every key of cluster `slot` and returns how many (a node dropping a slot it
    /// no longer owns). `still_doomed` is asked under the shard lock, so a slot that came
    /// back meanwhile keeps its keys. Needs [`Keyspace::with_slots`].
    pub fn remove_slot(&self, slot: u16, now: u64, still_doomed: impl Fn() -> bool) -> usize {
        let (index, within) = slot_home(slot);
        let mut shard = self.lock_index(index);
        if !still_doomed() {
            return 0;
        }
        let keys = shard.slot_keys(within, usize::MAX);
        for k in &keys {
            let h = self.hash(k);
            shard.remove(h, k, now);
        }
        keys.len()
    }

    /// A random live key (RANDOMKEY): a random non-empty shard, then a random key in it.
    pub fn random_key(&self, now: u64) -> Option<Vec<u8>> {
        let start = rand::random::<usize>() % SHARDS;
        (0..SHARDS).find_map(|i| self.lock_index((start + i) % SHARDS).random_key(now))
    }

    /// Empties every shard and returns the old contents, to be dropped wherever the caller
    /// likes (FLUSHALL ASYNC frees them on another thread).
    pub fn flush(&self) -> Vec<Table> {
        (0..SHARDS).map(|i| self.lock_index(i).take()).collect()
    }

    /// One active-expiry step: reclaims due keys shard by shard, round-robin, until `budget`
    /// keys were reclaimed or every shard was visited. Returns how many were reclaimed.
    pub fn expire_cycle(&self, now: u64, budget: usize) -> usize {
        let mut done = 0;
        let start = self.expire_cursor.fetch_add(1, Ordering::Relaxed) as usize;
        for i in 0..SHARDS {
            if done >= budget {
                break;
            }
            done += self
                .lock_index((start + i) % SHARDS)
                .expire_due(now, budget - done);
        }
        done
    }
}

/// Several shards locked together for a multi-key command.
pub struct ShardSet<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl ShardSet<'_> {
    /// The locked shard owning hash `h`. Panics if it was not locked: a logic error.
    pub fn shard(&mut self, h: u64) -> &mut Shard {
        let i = Keyspace::shard_index(h);
        let pos = self
            .guards
            .binary_search_by_key(&i, |(idx, _)| *idx)
            .expect("shard of this key was locked");
        &mut self.guards[pos].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::shard::Ttl;
    use crate::value::{Str, Value};
    use std::collections::HashSet;

    fn fill(ks: &Keyspace, n: usize) {
        for i in 0..n {
            let k = format!("key:{i}");
            let h = ks.hash(k.as_bytes());
            ks.lock(h).set(
                h,
                k.as_bytes(),
                Value::Str(Str::from_bytes(b"v")),
                Ttl::Clear,
                0,
            );
        }
    }

    #[test]
    fn scan_returns_every_key_once() {
        let ks = Keyspace::new();
        fill(&ks, 5000);
        for count in [1, 10, 1000] {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = ks.scan(cursor, count, &ScanFilter::default(), 0, &mut seen);
                if cursor == 0 {
                    break;
                }
            }
            let unique: HashSet<_> = seen.iter().cloned().collect();
            assert_eq!(seen.len(), 5000, "count {count}");
            assert_eq!(unique.len(), 5000);
        }
    }

    #[test]
    fn scan_survives_growth_between_calls() {
        let ks = Keyspace::new();
        fill(&ks, 1000);
        let mut seen = Vec::new();
        let mut cursor = ks.scan(0, 100, &ScanFilter::default(), 0, &mut seen);
        // Grow every table a lot mid-iteration.
        for i in 0..20000 {
            let k = format!("new:{i}");
            let h = ks.hash(k.as_bytes());
            ks.lock(h).set(
                h,
                k.as_bytes(),
                Value::Str(Str::from_bytes(b"v")),
                Ttl::Clear,
                0,
            );
        }
        while cursor != 0 {
            cursor = ks.scan(cursor, 100, &ScanFilter::default(), 0, &mut seen);
        }
        let seen: HashSet<_> = seen.into_iter().collect();
        for i in 0..1000 {
            assert!(
                seen.contains(format!("key:{i}").as_bytes()),
                "key:{i} missed"
            );
        }
    }

    #[test]
    fn scan_match_filters_after_counting() {
        let ks = Keyspace::new();
        fill(&ks, 300);
        let filter = ScanFilter {
            pattern: Some(b"key:1*".to_vec()),
            type_name: None,
        };
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = ks.scan(cursor, 7, &filter, 0, &mut seen);
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        let mut want = ks.keys(b"key:1*", 0);
        want.sort();
        assert_eq!(seen, want);
        assert_eq!(want.len(), 111);
    }

    proptest::proptest! {
        /// With writes preceded by eviction as the server does it (room for the incoming
        /// bytes), memory stays under the budget after every write, keys disappear only by
        /// deletion or eviction, and the counts are exact.
        #[test]
        fn eviction_keeps_budget_and_loses_nothing_else(
            ops in proptest::collection::vec((0u8..4, 0u16..3000, 1usize..300), 1..1500),
            policy in proptest::sample::select(vec![Policy::AllKeysLru, Policy::AllKeysLfu, Policy::AllKeysRandom])
        ) {
            let ks = Keyspace::new();
            ks.set_policy(policy);
            let budget = 256 * 1024u64;
            let mut model: std::collections::HashSet<Vec<u8>> = Default::default();
            for (op, k, len) in ops {
                let key = format!("key:{k}").into_bytes();
                let h = ks.hash(&key);
                match op {
                    0 | 1 => {
                        let incoming = (key.len() + len + 64) as u64;
                        while ks.used_bytes() + incoming > budget {
                            proptest::prop_assert!(ks.evict_one(policy, 0));
                        }
                        let value = vec![b'v'; len];
                        ks.lock(h).set(h, &key, Value::Str(Str::from_bytes(&value)), Ttl::Clear, 0);
                        model.insert(key);
                        // Up to one shard's table growth (a few KB here) over the budget.
                        proptest::prop_assert!(ks.used_bytes() <= budget + 16 * 1024,
                            "used {} over budget {}", ks.used_bytes(), budget);
                    }
                    2 => {
                        let removed = ks.lock(h).remove(h, &key, 0).is_some();
                        let was = model.remove(&key);
                        proptest::prop_assert!(!removed || was, "removed a key the model lacks");
                    }
                    _ => {
                        let found = ks.lock(h).peek(h, &key, 0).is_some();
                        proptest::prop_assert!(!found || model.contains(&key));
                    }
                }
            }
            // Every key the store lacks was evicted; counts are exact.
            let present = model.iter().filter(|k| {
                let h = ks.hash(k);
                ks.lock(h).peek(h, k, 0).is_some()
            }).count();
            proptest::prop_assert_eq!(ks.len(), present);
            let evicted = ks.stats().evicted as usize;
            proptest::prop_assert!(model.len() - present <= evicted);
            proptest::prop_assert_eq!(ks.counts().0, present);
        }
    }

    /// A stand-in for CRC16 with hash tags: few slots so they fill up, and a tag rule.
    fn test_slot(key: &[u8]) -> u16 {
        let part = match key.iter().position(|&b| b == b'{') {
            Some(open) => &key[open + 1..],
            None => key,
        };
        (part.iter().map(|&b| b as u32 * 131).sum::<u32>() % 700) as u16 * 23
    }

    proptest::proptest! {
        /// The slot index agrees with a brute-force pass after any mix of writes, deletes,
        /// expiries (lazy and active), evictions and flushes.
        #[test]
        fn slot_index_matches_a_full_pass(
            ops in proptest::collection::vec((0u8..7, 0u16..400), 1..600),
        ) {
            let ks = Keyspace::with_slots(test_slot);
            let mut now = 1_000;
            for (op, k) in ops {
                let key = if k % 5 == 0 { format!("{{tag}}:{k}") } else { format!("key:{k}") };
                let key = key.into_bytes();
                let h = ks.hash(&key);
                match op {
                    0 | 1 => ks.lock(h).set(h, &key, Value::Str(Str::from_bytes(b"v")), Ttl::Clear, now),
                    2 => ks.lock(h).set(h, &key, Value::Str(Str::from_bytes(b"v")), Ttl::At(now + 5), now),
                    3 => { ks.lock(h).remove(h, &key, now); }
                    4 => { now += 3; ks.expire_cycle(now, 50); ks.lock(h).peek(h, &key, now); }
                    5 => { ks.evict_one(Policy::AllKeysRandom, now); }
                    _ => if k % 50 == 0 { ks.flush(); },
                }
            }
            let mut by_slot: std::collections::HashMap<u16, HashSet<Vec<u8>>> = Default::default();
            for shard in 0..SHARDS {
                for e in ks.lock_index(shard).iter() {
                    by_slot.entry(test_slot(e.key())).or_default().insert(e.key().to_vec());
                }
            }
            for slot in (0..16384u16).step_by(23) {
                let want = by_slot.remove(&slot).unwrap_or_default();
                proptest::prop_assert_eq!(ks.count_in_slot(slot), want.len(), "slot {}", slot);
                let got: HashSet<Vec<u8>> = ks.keys_in_slot(slot, usize::MAX).into_iter().collect();
                proptest::prop_assert_eq!(&got, &want);
                if want.len() > 1 {
                    proptest::prop_assert_eq!(ks.keys_in_slot(slot, 1).len(), 1);
                }
            }
            proptest::prop_assert!(by_slot.is_empty(), "keys in unexpected slots: {:?}", by_slot.keys());
            // Dropping a slot removes exactly its keys.
            let before = ks.len();
            let victim = test_slot(b"{tag}");
            let n = ks.count_in_slot(victim);
            proptest::prop_assert_eq!(ks.remove_slot(victim, now, || true), n);
            proptest::prop_assert_eq!(ks.count_in_slot(victim), 0);
            proptest::prop_assert_eq!(ks.len(), before - n);
        }
    }

    #[test]
    fn multi_shard_lock_is_ordered_and_usable() {
        let ks = Keyspace::new();
        let hs: Vec<u64> = ["a", "b", "c", "a"]
            .iter()
            .map(|k| ks.hash(k.as_bytes()))
            .collect();
        let mut set = ks.lock_many(&hs);
        for (k, h) in ["a", "b", "c"].iter().zip(&hs) {
            set.shard(*h).set(
                *h,
                k.as_bytes(),
                Value::Str(Str::from_bytes(b"1")),
                Ttl::Clear,
                0,
            );
        }
        drop(set);
        assert_eq!(ks.len(), 3);
    }
}
