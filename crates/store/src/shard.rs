//! One lock's worth of the keyspace: a [`Table`] of compact [`Entry`]s, the list of keys that
//! have a TTL, and exact byte accounting.
//!
//! Expiry: lookups expire lazily (a read never sees a key whose deadline has passed; Redis's
//! rule: expired when `now > deadline`). The active cycle samples the keys with a TTL, as
//! Redis does, and keeps going while many samples were expired, so expired keys nobody reads
//! are reclaimed in the background with bounded work per call.
//!
//! Eviction: [`Shard::evict_one`] samples a few keys and removes the worst by the policy.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::entry::{Entry, EntryMut, EntryRef, Meta};
use crate::hashing::{slot_in_shard, KeyHasher, SLOTS_PER_SHARD};
use crate::lfu;
use crate::policy::Policy;
use crate::table::Table;
use crate::value::Value;

/// How a write treats an existing TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the key's TTL (SET KEEPTTL, SETRANGE, APPEND, INCR, ...).
    Keep,
    /// Set this deadline (ms since the epoch).
    At(u64),
}

/// Counters kept under the shard lock (no atomics on the hot path); INFO sums them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
}

/// jemalloc's size class for a request of `n` bytes (16-byte quantum, four classes per
/// doubling above 128), so accounting matches what the allocator really hands out.
pub fn size_class(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => (n + 15) & !15,
        _ => {
            let lg = usize::BITS - (n - 1).leading_zeros();
            let step = (1usize << (lg - 1)) / 4;
            n.div_ceil(step) * step
        }
    }
}

/// Bytes an entry costs: its allocation plus a raw string's buffer or a collection.
pub fn entry_bytes(e: EntryRef<'_>) -> usize {
    size_class(e.alloc_size()) + size_class(e.extra_bytes())
}

/// Bytes a key costs in the keyspace: its entry and buffers plus its table slot (MEMORY
/// USAGE).
pub fn key_memory(e: EntryRef<'_>) -> usize {
    entry_bytes(e) + 8 + if e.has_ttl() { 8 } else { 0 }
}

/// The LFU counter of a key with decay applied (OBJECT FREQ, under an LFU policy).
pub fn lfu_counter(e: EntryRef<'_>, now: u64) -> u8 {
    let a = e.access();
    lfu::decayed((a & 0xff) as u8, (a >> 8) as u16, now)
}

/// A collection type stored behind an entry (hash, list, ...).
pub trait Collection {
    fn new_entry(key: &[u8], meta: Meta) -> Entry;
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self>;
    fn is_empty(&self) -> bool;
}

impl Collection for crate::value::Hash {
    fn new_entry(key: &[u8], meta: Meta) -> Entry {
        Entry::new_hash(key, None, meta)
    }
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self> {
        e.hash_mut()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Collection for crate::value::List {
    fn new_entry(key: &[u8], meta: Meta) -> Entry {
        Entry::new_list(key, None, meta)
    }
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self> {
        e.list_mut()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Collection for crate::value::Set {
    fn new_entry(key: &[u8], meta: Meta) -> Entry {
        Entry::new_set(key, None, meta)
    }
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self> {
        e.set_mut()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stream stays when its last entry goes (Redis keeps empty streams, with their groups
/// and last ID).
impl Collection for crate::stream::Stream {
    fn new_entry(key: &[u8], meta: Meta) -> Entry {
        Entry::new_stream(key, None, meta)
    }
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self> {
        e.stream_mut()
    }
    fn is_empty(&self) -> bool {
        false
    }
}

impl Collection for crate::zset::ZSet {
    fn new_entry(key: &[u8], meta: Meta) -> Entry {
        Entry::new_zset(key, None, meta)
    }
    fn from_entry<'a>(e: &'a mut EntryMut<'_>) -> Option<&'a mut Self> {
        e.zset_mut()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keys sampled per eviction (Redis samples 5 and keeps a pool; we sample more instead).
const EVICTION_SAMPLES: usize = 16;

pub struct Shard {
    table: Table,
    /// Addresses of the entries that have a TTL; each such entry stores its index here.
    volatile: Vec<u64>,
    hasher: KeyHasher,
    /// Keys of each of this shard's 64 cluster slots (see [`crate::hashing`]), counted by
    /// the table tag every insert and removal sees; meaningful only when hashes carry slots.
    slot_keys: [u32; SLOTS_PER_SHARD],
    pub stats: ShardStats,
    rng: u64,
    /// Whether the access field holds LFU data (an LFU policy is selected).
    lfu_mode: bool,
    /// Keys still on probation (not promoted by the eviction policy).
    probation: usize,
    /// Fingerprints of keys recently evicted from probation (S3-FIFO's ghost queue), one
    /// 16-bit slot per table slot, direct-mapped by hash; 0 = empty.
    ghosts: Vec<u16>,
    /// Bytes held by this shard (entries, buffers, table, volatile list, ghosts).
    used: usize,
    /// The keyspace-wide total, adjusted by every change of `used`.
    total: Arc<AtomicI64>,
    /// WATCHed keys of this shard and the flags of the clients watching them. Every change
    /// of a key (write, delete, expiry, eviction, flush) raises its watchers' flags; EXEC
    /// aborts when its client's flag is up. Empty (no allocation, one length check per
    /// write) unless some client watches a key here.
    watchers: hashbrown::HashMap<Box<[u8]>, Vec<WatchFlag>>,
    /// The mutation seam's observer, when one is installed.
    observer: Option<Arc<dyn MutationObserver>>,
}

/// What happened to a key, as the mutation seam reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Created or changed (SET, HSET, APPEND, EXPIRE, ...).
    Write,
    /// Deleted by a command (DEL, a collection emptied, RESTORE REPLACE, ...).
    Delete,
    /// Reclaimed because its TTL passed (on access or by the active cycle).
    Expire,
    /// Evicted by the maxmemory policy.
    Evict,
    /// Emptied with its whole shard (FLUSHALL, FLUSHDB).
    Flush,
    /// A key that did not exist was added (reported after the `Write` that adds it; for
    /// keyspace notifications' `new`).
    Create,
    /// A read found no key (Redis's `keymiss`); nothing changed.
    Miss,
}

/// Sees every change to every key of the shards it is installed on: the one mutation seam
/// that WATCH (inside the shard), keyspace notifications, client tracking, replication and
/// slot migration hang on, instead of patching commands. Called with the shard locked,
/// right after the change: it must be quick and must not lock shards.
pub trait MutationObserver: Send + Sync {
    fn changed(&self, key: &[u8], what: Mutation);
}

/// A client's "a watched key changed" flag (Redis's `CLIENT_DIRTY_CAS`).
pub type WatchFlag = Arc<std::sync::atomic::AtomicBool>;

impl Shard {
    pub fn new(seed: u64, hasher: KeyHasher, total: Arc<AtomicI64>) -> Self {
        Shard {
            table: Table::default(),
            volatile: Vec::new(),
            hasher,
            slot_keys: [0; SLOTS_PER_SHARD],
            stats: ShardStats::default(),
            rng: seed | 1,
            lfu_mode: false,
            probation: 0,
            ghosts: Vec::new(),
            watchers: Default::default(),
            observer: None,
            used: 0,
            total,
        }
    }

    /// A shard with its own counter, for tests.
    pub fn standalone(seed: u64) -> Self {
        Self::new(
            seed,
            KeyHasher::new(seed, None),
            Arc::new(AtomicI64::new(0)),
        )
    }

    /// The key's full hash (the one the keyspace uses: lookups need its tag bits).
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// Keys stored for cluster slot `within` of this shard (see [`crate::hashing`]),
    /// including expired ones not reclaimed yet, as Redis counts them.
    pub fn slot_len(&self, within: usize) -> usize {
        self.slot_keys[within] as usize
    }

    /// Keys of cluster slot `within` of this shard, up to `max`, expired ones included (as
    /// Redis's GETKEYSINSLOT). Reads only the slot array's tags, and the entries that match.
    pub fn slot_keys(&self, within: usize, max: usize) -> Vec<Vec<u8>> {
        if self.slot_keys[within] == 0 {
            return Vec::new();
        }
        self.table
            .occupied()
            .filter(|&i| slot_in_shard(self.table.tag(i)) == within)
            .take(max)
            .map(|i| self.table.get(i).key().to_vec())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys that have a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Bytes this shard holds.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// Bookkeeping bytes: (table slots and eviction ghosts, list of keys with a TTL).
    pub fn overhead_bytes(&self) -> (usize, usize) {
        (
            self.table.heap_bytes() + self.ghosts.capacity() * 2,
            self.volatile.capacity() * 8,
        )
    }

    pub fn set_lfu_mode(&mut self, lfu: bool) {
        self.lfu_mode = lfu;
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: plenty for sampling and a probabilistic counter; no lock or syscall.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn random01(&mut self) -> f64 {
        (self.random() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn account(&mut self, before: usize, after: usize) {
        if before != after {
            self.used = self.used + after - before;
            self.total
                .fetch_add(after as i64 - before as i64, Ordering::Relaxed);
        }
    }

    fn container_bytes(&self) -> usize {
        self.table.heap_bytes() + self.volatile.capacity() * 8 + self.ghosts.capacity() * 2
    }

    fn ghost_fingerprint(h: u64) -> u16 {
        ((h >> 24) as u16).max(1)
    }

    /// Remembers a key evicted from probation.
    fn add_ghost(&mut self, h: u64) {
        let want = self.table.capacity();
        if self.ghosts.len() != want {
            let before = self.container_bytes();
            self.ghosts = vec![0; want];
            let after = self.container_bytes();
            self.account(before, after);
        }
        if want > 0 {
            let i = (h >> 32) as usize % want;
            self.ghosts[i] = Self::ghost_fingerprint(h);
        }
    }

    /// True (and forgets it) when `h` was recently evicted from probation.
    fn take_ghost(&mut self, h: u64) -> bool {
        if self.ghosts.is_empty() {
            return false;
        }
        let i = (h >> 32) as usize % self.ghosts.len();
        if self.ghosts[i] == Self::ghost_fingerprint(h) {
            self.ghosts[i] = 0;
            true
        } else {
            false
        }
    }

    /// The access metadata of a new key.
    fn fresh_meta(&self, now: u64) -> Meta {
        Meta {
            access: if self.lfu_mode {
                ((lfu::minutes(now) as u32) << 8) | lfu::INIT as u32
            } else {
                lru_clock(now)
            },
            freq: 0,
            main: false,
        }
    }

    /// Records an access (LRU clock or LFU counter, and a read credit for eviction),
    /// unless the running command's client asked not to ([`crate::access`]).
    fn touch(e: &mut EntryMut<'_>, lfu_mode: bool, now: u64, r: f64) {
        if !crate::access::records() {
            return;
        }
        if lfu_mode {
            let access = e.as_ref().access();
            let counter = lfu::decayed((access & 0xff) as u8, (access >> 8) as u16, now);
            let counter = lfu::log_incr(counter, r);
            e.set_access(((lfu::minutes(now) as u32) << 8) | counter as u32);
        } else {
            e.set_access(lru_clock(now));
        }
        let f = e.as_ref().freq();
        if f < 3 {
            e.set_freq(f + 1);
        }
    }

    /// Installs (or removes) the mutation seam's observer.
    pub fn set_observer(&mut self, observer: Option<Arc<dyn MutationObserver>>) {
        self.observer = observer;
    }

    /// The mutation seam: called by every path that changes a key. Raises the flags of
    /// `key`'s watchers and tells the observer, if any.
    #[inline]
    fn touched(&self, key: &[u8], what: Mutation) {
        if !self.watchers.is_empty() {
            self.flag_watchers(key);
        }
        if let Some(o) = &self.observer {
            o.changed(key, what);
        }
    }

    #[cold]
    fn flag_watchers(&self, key: &[u8]) {
        if let Some(flags) = self.watchers.get(key) {
            for f in flags {
                f.store(true, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Tells `key`'s watchers it changed, after a change made in place through
    /// [`Shard::get_mut`] (INCR on an int-encoded value), which does not itself count as one.
    pub fn modified(&self, key: &[u8]) {
        self.touched(key, Mutation::Write);
    }

    /// Registers `flag` as a watcher of `key` (WATCH).
    pub fn watch(&mut self, key: &[u8], flag: &WatchFlag) {
        let flags = self.watchers.entry(key.into()).or_default();
        if !flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            flags.push(flag.clone());
        }
    }

    /// Removes `flag` from `key`'s watchers (UNWATCH, EXEC, DISCARD, disconnect).
    pub fn unwatch(&mut self, key: &[u8], flag: &WatchFlag) {
        if let Some(flags) = self.watchers.get_mut(key) {
            flags.retain(|f| !Arc::ptr_eq(f, flag));
            if flags.is_empty() {
                self.watchers.remove(key);
            }
        }
    }

    /// Slot of a live key. An expired one is removed first, unless this thread's command
    /// leaves expiry to a primary ([`crate::expiry`]).
    fn find_live(&mut self, h: u64, key: &[u8], now: u64) -> Option<usize> {
        let i = self.table.find(h, key)?;
        if self.table.get(i).is_expired(now) {
            match crate::expiry::mode() {
                crate::expiry::ExpiryMode::Keep => return Some(i),
                crate::expiry::ExpiryMode::Hide => return None,
                crate::expiry::ExpiryMode::Reclaim => {}
            }
            self.remove_slot(i, Mutation::Expire);
            self.stats.expired += 1;
            return None;
        }
        Some(i)
    }

    /// EXISTS's lookup (Redis's `LOOKUP_NOTOUCH`): counts a hit or miss, leaves the access
    /// time alone.
    pub fn exists(&mut self, h: u64, key: &[u8], now: u64) -> bool {
        let found = self.find_live(h, key, now).is_some();
        if found {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
            if let Some(o) = &self.observer {
                o.changed(key, Mutation::Miss);
            }
        }
        found
    }

    /// A read: counts a hit or miss and records the access.
    pub fn get(&mut self, h: u64, key: &[u8], now: u64) -> Option<EntryMut<'_>> {
        let r = self.random01();
        match self.find_live(h, key, now) {
            Some(i) => {
                self.stats.hits += 1;
                let lfu = self.lfu_mode;
                let mut e = self.table.get_mut(i);
                Self::touch(&mut e, lfu, now, r);
                Some(e)
            }
            None => {
                self.stats.misses += 1;
                if let Some(o) = &self.observer {
                    o.changed(key, Mutation::Miss);
                }
                None
            }
        }
    }

    /// A lookup for writing: records the access, counts nothing. Changes made through the
    /// returned view must be reported with [`Shard::modified`].
    pub fn get_mut(&mut self, h: u64, key: &[u8], now: u64) -> Option<EntryMut<'_>> {
        let r = self.random01();
        let i = self.find_live(h, key, now)?;
        let lfu = self.lfu_mode;
        let mut e = self.table.get_mut(i);
        Self::touch(&mut e, lfu, now, r);
        Some(e)
    }

    /// A lookup that leaves no trace (TTL, TYPE, OBJECT, EXISTS).
    /// The entry at `key` even if its TTL has passed (nothing is expired or counted), as
    /// Redis's DEBUG OBJECT finds it in the dict.
    pub fn peek_raw(&self, h: u64, key: &[u8]) -> Option<EntryRef<'_>> {
        let i = self.table.find(h, key)?;
        Some(self.table.get(i))
    }

    pub fn peek(&mut self, h: u64, key: &[u8], now: u64) -> Option<EntryRef<'_>> {
        let i = self.find_live(h, key, now)?;
        Some(self.table.get(i))
    }

    /// Writes a string as SET does (Redis's encoding rules).
    pub fn set_str(&mut self, h: u64, key: &[u8], bytes: &[u8], ttl: Ttl, now: u64) {
        self.write(h, key, ttl, now, |key, expire, meta| {
            Entry::new_str(key, bytes, expire, meta)
        });
    }

    /// Writes an owned value, keeping its encoding.
    pub fn set(&mut self, h: u64, key: &[u8], value: Value, ttl: Ttl, now: u64) {
        self.write(h, key, ttl, now, |key, expire, meta| {
            Entry::new(key, value, expire, meta)
        });
    }

    /// Replaces or inserts `key`. An existing key keeps its access data (as Redis's
    /// `dbOverwrite` keeps LFU data) and its TTL only with [`Ttl::Keep`].
    fn write(
        &mut self,
        h: u64,
        key: &[u8],
        ttl: Ttl,
        now: u64,
        make: impl FnOnce(&[u8], Option<u64>, Meta) -> Entry,
    ) {
        self.touched(key, Mutation::Write);
        let existing = self.find_live(h, key, now);
        let (old_deadline, meta) = match existing {
            Some(i) => {
                let e = self.table.get(i);
                let mut meta = e.meta();
                if !self.lfu_mode {
                    meta.access = lru_clock(now);
                }
                (e.expire_at(), meta)
            }
            None => (None, self.fresh_meta(now)),
        };
        let deadline = match ttl {
            Ttl::Keep => old_deadline,
            Ttl::Clear => None,
            Ttl::At(at) => Some(at),
        };
        let entry = make(key, deadline, meta);
        match existing {
            Some(i) => {
                let old = self.table.take_for_rebuild(i);
                self.put_rebuilt(i, old, entry);
            }
            None => self.insert_fresh(h, entry),
        }
    }

    /// Starts loading the table slot of hash `h` into the cache (see [`Table::prefetch`]).
    #[inline]
    pub fn prefetch(&self, h: u64) {
        self.table.prefetch(h);
    }

    /// Starts loading the entry of hash `h` (see [`Table::prefetch_entry`]).
    #[inline]
    pub fn prefetch_entry(&self, h: u64) {
        self.table.prefetch_entry(h);
    }

    /// Makes room for `additional` more keys at once (see [`Table::reserve`]).
    pub fn reserve(&mut self, additional: usize) {
        let before = self.container_bytes();
        let hasher = self.hasher.clone();
        self.table
            .reserve(additional, &move |k: &[u8]| hasher.home(k));
        let after = self.container_bytes();
        self.account(before, after);
    }

    fn insert_fresh(&mut self, h: u64, mut entry: Entry) {
        if !entry.as_ref().main() && self.take_ghost(h) {
            // Evicted from probation not long ago and wanted again: straight to main.
            entry.as_mut().set_main(true);
        }
        if !entry.as_ref().main() {
            self.probation += 1;
        }
        let before = self.container_bytes();
        let bytes = entry_bytes(entry.as_ref());
        if entry.as_ref().has_ttl() {
            entry.as_mut().set_volatile_pos(self.volatile.len() as u32);
        }
        let addr_hint = entry.as_ref().has_ttl();
        let hasher = self.hasher.clone();
        let hash_of = move |k: &[u8]| hasher.home(k);
        let i = self.table.insert_new(h, entry, &hash_of);
        self.slot_keys[slot_in_shard(h)] += 1;
        if addr_hint {
            let addr = self.table.get(i).addr();
            self.volatile.push(addr);
        }
        let after = self.container_bytes() + bytes;
        self.account(before, after);
        if let Some(o) = &self.observer {
            o.changed(self.table.get(i).key(), Mutation::Create);
        }
    }

    /// Puts `new` into slot `i` in place of `old` (same key), fixing the volatile list.
    fn put_rebuilt(&mut self, i: usize, old: Entry, new: Entry) {
        self.track_probation(old.as_ref().main(), new.as_ref().main());
        let old_bytes = entry_bytes(old.as_ref());
        let old_pos = old.as_ref().has_ttl().then(|| old.as_ref().volatile_pos());
        drop(old);
        self.put_rebuilt_parts(i, old_bytes, old_pos, new);
    }

    fn volatile_remove(&mut self, pos: u32) {
        let pos = pos as usize;
        self.volatile.swap_remove(pos);
        if let Some(&moved) = self.volatile.get(pos) {
            // SAFETY: every address in the list is a live entry of this shard's table, and
            // the shard is borrowed mutably.
            unsafe { Entry::view_mut(moved) }.set_volatile_pos(pos as u32);
        }
    }

    fn remove_slot(&mut self, i: usize, what: Mutation) -> Entry {
        let before = self.container_bytes();
        let hasher = self.hasher.clone();
        let hash_of = move |k: &[u8]| hasher.home(k);
        self.slot_keys[slot_in_shard(self.table.tag(i))] -= 1;
        let entry = self.table.remove(i, &hash_of);
        self.touched(entry.key(), what);
        if !entry.as_ref().main() {
            self.probation -= 1;
        }
        if entry.as_ref().has_ttl() {
            self.volatile_remove(entry.as_ref().volatile_pos());
        }
        let after = self.container_bytes();
        self.account(before + entry_bytes(entry.as_ref()), after);
        entry
    }

    /// Removes a live key; an expired one is reclaimed and reported absent.
    pub fn remove(&mut self, h: u64, key: &[u8], now: u64) -> Option<Entry> {
        let i = self.find_live(h, key, now)?;
        Some(self.remove_slot(i, Mutation::Delete))
    }

    /// Stores an entry taken out with [`Shard::remove`] under `key` (replacing any value
    /// there), keeping its TTL and access data (RENAME).
    pub fn insert_entry(&mut self, h: u64, key: &[u8], entry: Entry, now: u64) {
        self.touched(key, Mutation::Write);
        let deadline = entry.expire_at();
        let entry = entry.rebuild(Some(key), deadline);
        match self.find_live(h, key, now) {
            Some(i) => {
                let old = self.table.take_for_rebuild(i);
                self.put_rebuilt(i, old, entry);
            }
            None => self.insert_fresh(h, entry),
        }
    }

    /// Sets or clears the deadline of an existing live key; false when the key is absent.
    pub fn set_expire(&mut self, h: u64, key: &[u8], deadline: Option<u64>, now: u64) -> bool {
        let Some(i) = self.find_live(h, key, now) else {
            return false;
        };
        self.touched(key, Mutation::Write);
        let current = self.table.get(i).expire_at();
        match (current, deadline) {
            (Some(_), Some(at)) => self.table.get_mut(i).set_deadline_in_place(at),
            (None, None) => {}
            _ => {
                let old = self.table.take_for_rebuild(i);
                // Rebuilding moves the value into a new allocation with or without the TTL
                // fields; `put_rebuilt` sees the old entry only through its metadata.
                let meta = old.as_ref().meta();
                let pos = old.as_ref().has_ttl().then(|| old.as_ref().volatile_pos());
                let key = old.key().to_vec();
                let old_bytes = entry_bytes(old.as_ref());
                let value = old.into_value();
                let new = Entry::new(&key, value, deadline, meta);
                self.put_rebuilt_parts(i, old_bytes, pos, new);
            }
        }
        true
    }

    fn track_probation(&mut self, was_main: bool, is_main: bool) {
        match (was_main, is_main) {
            (false, true) => self.probation -= 1,
            (true, false) => self.probation += 1,
            _ => {}
        }
    }

    /// Like `put_rebuilt` when the old entry was already consumed (its metadata, including
    /// the promotion flag, carried over into `new`).
    fn put_rebuilt_parts(
        &mut self,
        i: usize,
        old_bytes: usize,
        old_pos: Option<u32>,
        mut new: Entry,
    ) {
        let before = self.container_bytes() + old_bytes;
        let new_ttl = new.as_ref().has_ttl();
        if new_ttl {
            new.as_mut()
                .set_volatile_pos(old_pos.unwrap_or(self.volatile.len() as u32));
        }
        let bytes = entry_bytes(new.as_ref());
        self.table.put_back(i, new);
        let addr = self.table.get(i).addr();
        match (old_pos, new_ttl) {
            (Some(pos), true) => self.volatile[pos as usize] = addr,
            (None, true) => self.volatile.push(addr),
            (Some(pos), false) => self.volatile_remove(pos),
            (None, false) => {}
        }
        let after = self.container_bytes() + bytes;
        self.account(before, after);
    }

    /// Runs `f` on the key's string as a raw buffer (APPEND, SETRANGE), converting an int
    /// or embstr first; `None` when the key is absent. Keeps the TTL.
    pub fn modify_raw<R>(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Option<R> {
        self.modify_raw_if(h, key, now, |raw| (f(raw), true))
    }

    /// [`Shard::modify_raw`] where `f` also says whether it changed the string: only then
    /// is the change reported (WATCH, the mutation seam) — PFADD that changes no register.
    pub fn modify_raw_if<R>(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut Vec<u8>) -> (R, bool),
    ) -> Option<R> {
        let i = self.find_live(h, key, now)?;
        let raw_now = self.table.get(i).is_heap_raw();
        if !raw_now {
            let old = self.table.take_for_rebuild(i);
            let old_bytes = entry_bytes(old.as_ref());
            let pos = old.as_ref().has_ttl().then(|| old.as_ref().volatile_pos());
            let new = old.into_raw();
            self.put_rebuilt_parts(i, old_bytes, pos, new);
        }
        let before = entry_bytes(self.table.get(i));
        let (result, changed) = self
            .table
            .get_mut(i)
            .with_raw(f)
            .expect("raw after conversion");
        let after = entry_bytes(self.table.get(i));
        self.account(before, after);
        if changed {
            self.touched(key, Mutation::Write);
        }
        Some(result)
    }

    /// Runs `f` on the collection of type `C` at `key`, creating an empty one when absent
    /// and `create` is set. `Err(())` when the key holds another type; `Ok(None)` when absent
    /// and not created. An emptied collection is deleted, as Redis deletes empty collections.
    /// Keeps the TTL; keeps the byte count exact.
    #[allow(clippy::result_unit_err)]
    pub fn modify<C: Collection, R>(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        create: bool,
        f: impl FnOnce(&mut C) -> R,
    ) -> Result<Option<R>, ()> {
        self.modify_if(h, key, now, create, |c| (f(c), true))
    }

    /// [`Shard::modify`] for changes that may turn out to be no-ops (SREM of an absent
    /// member): `f` also says whether it changed anything, and only then are the key's
    /// watchers told, as Redis signals a key only when a command really modified it.
    #[allow(clippy::result_unit_err)]
    pub fn modify_if<C: Collection, R>(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        create: bool,
        f: impl FnOnce(&mut C) -> (R, bool),
    ) -> Result<Option<R>, ()> {
        let i = match self.find_live(h, key, now) {
            Some(i) => i,
            None if create => {
                let meta = self.fresh_meta(now);
                self.insert_fresh(h, C::new_entry(key, meta));
                self.table.find(h, key).expect("just inserted")
            }
            None => return Ok(None),
        };
        let r = self.random01();
        let lfu = self.lfu_mode;
        let before = entry_bytes(self.table.get(i));
        let mut e = self.table.get_mut(i);
        let Some(collection) = C::from_entry(&mut e) else {
            return Err(());
        };
        let (result, changed) = f(collection);
        let empty = collection.is_empty();
        Self::touch(&mut e, lfu, now, r);
        if changed {
            self.touched(key, Mutation::Write);
        }
        let after = entry_bytes(self.table.get(i));
        self.account(before, after);
        if empty {
            self.remove_slot(i, Mutation::Delete);
        }
        Ok(Some(result))
    }

    /// [`Shard::modify`] for hashes.
    #[allow(clippy::result_unit_err)]
    pub fn modify_hash<R>(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        create: bool,
        f: impl FnOnce(&mut crate::value::Hash) -> R,
    ) -> Result<Option<R>, ()> {
        self.modify(h, key, now, create, f)
    }

    /// Active expiry: samples keys with a TTL and removes expired ones, repeating while more
    /// than a quarter of a sample was expired, up to `max` removals. Returns how many.
    pub fn expire_due(&mut self, now: u64, max: usize) -> usize {
        const SAMPLE: usize = 20;
        let mut removed = 0;
        while removed < max && !self.volatile.is_empty() {
            let mut expired_in_sample = 0;
            let n = SAMPLE.min(self.volatile.len());
            for _ in 0..n {
                if self.volatile.is_empty() || removed >= max {
                    break;
                }
                let pos = (self.random() % self.volatile.len() as u64) as usize;
                // SAFETY: addresses in the list are live entries of this shard.
                let e = unsafe { Entry::view(self.volatile[pos]) };
                if e.is_expired(now) {
                    let key = e.key().to_vec();
                    let h = self.hash(&key);
                    if let Some(i) = self.table.find(h, &key) {
                        self.remove_slot(i, Mutation::Expire);
                        self.stats.expired += 1;
                        removed += 1;
                        expired_in_sample += 1;
                    }
                }
            }
            // With few keys left, every one was likely looked at; stop when the sample
            // shows expired keys are now rare.
            if expired_in_sample * 4 <= n || n < SAMPLE && expired_in_sample == 0 {
                break;
            }
        }
        removed
    }

    /// Removes one key chosen by `policy` among a random sample; returns false when the
    /// policy finds nothing to evict here.
    pub fn evict_one(&mut self, policy: Policy, now: u64) -> bool {
        let volatile_only = policy.volatile_only();
        let pool = if volatile_only {
            self.volatile.len()
        } else {
            self.table.len()
        };
        if pool == 0 || policy == Policy::NoEviction {
            return false;
        }
        if matches!(policy, Policy::AllKeysLru | Policy::VolatileLru) {
            return self.evict_probation_first(volatile_only, now);
        }
        let Some((slot, _)) = self.pick_victim(policy, now) else {
            return false;
        };
        self.remove_slot(slot, Mutation::Evict);
        self.stats.evicted += 1;
        true
    }

    /// The best victim by a score-based policy (random, TTL, LFU) and its score (lower is a
    /// better victim), without evicting it.
    fn pick_victim(&mut self, policy: Policy, now: u64) -> Option<(usize, u64)> {
        let volatile_only = policy.volatile_only();
        let pool = if volatile_only {
            self.volatile.len()
        } else {
            self.table.len()
        };
        if pool == 0 {
            return None;
        }
        let mut best: Option<(usize, u64)> = None;
        // A small pool is examined whole (the exact best victim); a large one is sampled.
        let exhaustive = pool <= 4 * EVICTION_SAMPLES;
        let candidates: Vec<usize> = if exhaustive {
            if volatile_only {
                (0..self.volatile.len())
                    .map(|pos| {
                        // SAFETY: addresses in the list are live entries of this shard.
                        let key = unsafe { Entry::view(self.volatile[pos]) }.key().to_vec();
                        self.table
                            .find(self.hash(&key), &key)
                            .expect("volatile key is in the table")
                    })
                    .collect()
            } else {
                self.table.occupied().collect()
            }
        } else {
            (0..EVICTION_SAMPLES)
                .map(|_| self.sample_slot(volatile_only))
                .collect()
        };
        for slot in candidates {
            let e = self.table.get(slot);
            // Lower score = better victim.
            let score = match policy {
                Policy::AllKeysRandom | Policy::VolatileRandom => 0,
                Policy::VolatileTtl => e.expire_at().unwrap_or(u64::MAX),
                _ => {
                    // LFU: Redis's decayed logarithmic counter, then the 2-bit read counter.
                    let a = e.access();
                    let counter = lfu::decayed((a & 0xff) as u8, (a >> 8) as u16, now);
                    ((counter as u64) << 8) | e.freq() as u64
                }
            };
            if best.is_none_or(|(_, s)| score < s) {
                best = Some((slot, score));
            }
            if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
                break;
            }
        }
        best
    }

    /// The score of this shard's best victim under `policy` (lower is better), so the
    /// keyspace can compare shards for the policies that rank keys globally.
    pub fn best_victim_score(&mut self, policy: Policy, now: u64) -> Option<u64> {
        self.pick_victim(policy, now).map(|(_, score)| score)
    }

    /// A random slot of a key that may be evicted.
    fn sample_slot(&mut self, volatile_only: bool) -> usize {
        let r = self.random();
        if volatile_only {
            let addr = self.volatile[(r % self.volatile.len() as u64) as usize];
            // SAFETY: addresses in the list are live entries of this shard.
            let key = unsafe { Entry::view(addr) }.key().to_vec();
            let h = self.hash(&key);
            self.table
                .find(h, &key)
                .expect("volatile key is in the table")
        } else {
            self.table.sample(r).expect("non-empty")
        }
    }

    /// The policy behind the `*-lru` names: S3-FIFO (Yang et al., SOSP'23) with sampling in
    /// place of queues. New keys start on probation, kept near 10% of the shard; a
    /// probation key read since it was written is promoted when the policy looks at it, one
    /// that was not is evicted (oldest first) and remembered as a ghost, so if it comes back
    /// soon it goes straight to main. Main keys are evicted oldest first, but each read
    /// credit (a 2-bit counter) buys a second chance, as a CLOCK hand passing it. One-time
    /// keys (scans, one-hit wonders) therefore leave before anything read twice.
    fn evict_probation_first(&mut self, volatile_only: bool, now: u64) -> bool {
        let mut samples: Vec<(bool, u64, usize)> = Vec::with_capacity(EVICTION_SAMPLES * 4);
        let from_probation = self.probation * 10 > self.table.len();
        for _attempt in 0..4 {
            samples.clear();
            let mut draws = 0;
            while samples.len() < EVICTION_SAMPLES && draws < EVICTION_SAMPLES * 4 {
                draws += 1;
                let slot = self.sample_slot(volatile_only);
                let e = self.table.get(slot);
                if (from_probation && e.main()) || samples.iter().any(|s| s.2 == slot) {
                    continue;
                }
                let idle = lru_idle_ticks(e.access(), now);
                samples.push((e.main(), u64::MAX - idle, slot));
            }
            if samples.is_empty() {
                continue;
            }
            // Probation before main, then oldest first.
            samples.sort_unstable();
            for &(main, _, slot) in &samples {
                let mut e = self.table.get_mut(slot);
                let credits = e.as_ref().freq();
                if credits == 0 {
                    if !main {
                        let h = self.hash(self.table.get(slot).key());
                        self.add_ghost(h);
                    }
                    self.remove_slot(slot, Mutation::Evict);
                    self.stats.evicted += 1;
                    return true;
                }
                e.set_freq(credits - 1);
                if !main {
                    e.set_main(true);
                    self.probation -= 1;
                }
            }
        }
        // Everything sampled kept earning second chances: evict the oldest sampled.
        let Some(&(_, _, slot)) = samples.first() else {
            let slot = self.sample_slot(volatile_only);
            self.remove_slot(slot, Mutation::Evict);
            self.stats.evicted += 1;
            return true;
        };
        self.remove_slot(slot, Mutation::Evict);
        self.stats.evicted += 1;
        true
    }

    /// Empties the shard, handing back the old table so a caller can free it elsewhere
    /// (FLUSHALL ASYNC).
    pub fn take(&mut self) -> Table {
        if let Some(o) = &self.observer {
            for e in self.table.iter() {
                o.changed(e.key(), Mutation::Flush);
            }
        }
        for (key, flags) in &self.watchers {
            if self.table.find(self.hash(key), key).is_some() {
                flags
                    .iter()
                    .for_each(|f| f.store(true, std::sync::atomic::Ordering::Release));
            }
        }
        let before = self.used;
        self.volatile = Vec::new();
        self.ghosts = Vec::new();
        self.probation = 0;
        self.slot_keys = [0; SLOTS_PER_SHARD];
        let old = std::mem::take(&mut self.table);
        self.account(before, 0);
        self.used = 0;
        old
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.table.iter()
    }

    /// Every entry with its cluster slot's index within this shard (see
    /// [`crate::hashing`]; meaningful when hashes carry slots), read from the stored tag.
    pub fn iter_with_slot(&self) -> impl Iterator<Item = (usize, EntryRef<'_>)> {
        self.table
            .occupied()
            .map(|i| (slot_in_shard(self.table.tag(i)), self.table.get(i)))
    }

    /// A live key chosen at random (RANDOMKEY). An expired key met on the way is reclaimed
    /// (unless this thread's command leaves expiry to a primary), as Redis's
    /// `dbRandomKey` does.
    pub fn random_key(&mut self, now: u64) -> Option<Vec<u8>> {
        for _ in 0..100 {
            let r = self.random();
            let i = self.table.sample(r)?;
            let e = self.table.get(i);
            if !e.is_expired(now) {
                return Some(e.key().to_vec());
            }
            if crate::expiry::mode() == crate::expiry::ExpiryMode::Reclaim {
                self.remove_slot(i, Mutation::Expire);
                self.stats.expired += 1;
            }
        }
        self.table
            .iter()
            .find(|e| !e.is_expired(now))
            .map(|e| e.key().to_vec())
    }

    /// Sets a key's access data as RESTORE's IDLETIME (seconds since last access, for LRU)
    /// or FREQ (the LFU counter) say, for whichever the current policy tracks: Redis's
    /// `objectSetLRUOrLFU`. Without a hint the key keeps the fresh data of a new key.
    pub fn set_access_hints(
        &mut self,
        h: u64,
        key: &[u8],
        now: u64,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) {
        let lfu = self.lfu_mode;
        let Some(i) = self.find_live(h, key, now) else {
            return;
        };
        let mut e = self.table.get_mut(i);
        match (lfu, freq, idle_secs) {
            (true, Some(f), _) => e.set_access(((lfu::minutes(now) as u32) << 8) | u32::from(f)),
            (false, _, Some(idle)) => {
                e.set_access(lru_clock(now.saturating_sub(idle.saturating_mul(1000))))
            }
            _ => {}
        }
    }

    /// Seconds since the key was last accessed (OBJECT IDLETIME, under a non-LFU policy).
    pub fn idle_secs(e: EntryRef<'_>, now: u64) -> u64 {
        lru_idle_ticks(e.access(), now) * LRU_TICK_MS / 1000
    }
}

/// The LRU clock: 64 ms ticks in 24 bits (wraps after 12.4 days). Redis ticks once a second
/// (194 days); a finer tick lets eviction order keys a cache turns over within seconds.
const LRU_TICK_MS: u64 = 64;

fn lru_clock(now: u64) -> u32 {
    ((now / LRU_TICK_MS) & 0x00ff_ffff) as u32
}

/// Ticks since `access`, handling wrap-around as Redis does.
fn lru_idle_ticks(access: u32, now: u64) -> u64 {
    let clock = lru_clock(now);
    if clock >= access {
        (clock - access) as u64
    } else {
        (clock as u64 + 0x00ff_ffff) - access as u64
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let used = self.used;
        self.account(used, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Str;

    fn set(s: &mut Shard, key: &str, ttl: Ttl, now: u64) {
        let h = s.hash(key.as_bytes());
        s.set_str(h, key.as_bytes(), b"x", ttl, now);
    }

    fn get(s: &mut Shard, key: &str, now: u64) -> bool {
        let h = s.hash(key.as_bytes());
        s.get(h, key.as_bytes(), now).is_some()
    }

    #[test]
    fn size_classes_match_jemalloc() {
        let classes = [
            (1, 8),
            (9, 16),
            (48, 48),
            (49, 64),
            (128, 128),
            (129, 160),
            (256, 256),
            (257, 320),
            (600, 640),
        ];
        for (n, c) in classes {
            assert_eq!(size_class(n), c, "{n}");
        }
    }

    #[test]
    fn lazy_expiry_at_exact_redis_boundary() {
        let mut s = Shard::standalone(1);
        set(&mut s, "k", Ttl::At(1000), 0);
        assert!(get(&mut s, "k", 1000), "alive at the deadline itself");
        assert!(!get(&mut s, "k", 1001), "gone just after");
        assert_eq!(s.len(), 0);
        assert_eq!(s.volatile_len(), 0);
        assert_eq!(s.stats.expired, 1);
    }

    #[test]
    fn active_expiry_reclaims_expired_keys_only() {
        let mut s = Shard::standalone(1);
        for i in 0..1000u64 {
            set(&mut s, &format!("k{i}"), Ttl::At(1000 + i), 0);
        }
        set(&mut s, "forever", Ttl::Clear, 0);
        let mut removed = 0;
        for _ in 0..100 {
            removed += s.expire_due(1500, 10_000);
        }
        assert_eq!(removed, 500, "only keys due before t=1500");
        assert_eq!(s.len(), 501);
        assert!(s.expire_due(10_000, 10) <= 10, "bounded work per call");
        for _ in 0..200 {
            s.expire_due(10_000, 10_000);
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.volatile_len(), 0);
    }

    #[test]
    fn ttl_kept_or_cleared_on_overwrite_and_accounting_returns_to_zero() {
        let mut s = Shard::standalone(1);
        let h = s.hash(b"a");
        s.set_str(h, b"a", b"1", Ttl::At(9000), 0);
        s.set_str(h, b"a", b"2", Ttl::Keep, 0);
        assert_eq!(s.peek(h, b"a", 0).unwrap().expire_at(), Some(9000));
        s.set_str(h, b"a", b"3", Ttl::Clear, 0);
        assert_eq!(s.peek(h, b"a", 0).unwrap().expire_at(), None);
        assert_eq!(s.volatile_len(), 0);
        assert!(s.set_expire(h, b"a", Some(50), 0));
        assert_eq!(s.volatile_len(), 1);
        assert!(s.set_expire(h, b"a", None, 0));
        assert_eq!(s.volatile_len(), 0);
        s.modify_raw(h, b"a", 0, |v| v.extend_from_slice(&[b'z'; 100]));
        assert_eq!(
            s.peek(h, b"a", 0).unwrap().value().as_str().unwrap().len(),
            101
        );
        let entry = s.remove(h, b"a", 0).unwrap();
        drop(entry);
        assert_eq!(s.len(), 0);
        let containers = s.container_bytes();
        assert_eq!(
            s.used_bytes(),
            containers,
            "only the empty table remains accounted"
        );
        assert_eq!(s.total.load(Ordering::Relaxed) as usize, containers);
    }

    #[test]
    fn accounting_tracks_every_change() {
        let mut s = Shard::standalone(7);
        let mut expected_entries = 0;
        for i in 0..500 {
            let key = format!("key:{i}");
            let h = s.hash(key.as_bytes());
            let ttl = if i % 3 == 0 {
                Ttl::At(1_000_000)
            } else {
                Ttl::Clear
            };
            s.set(
                h,
                key.as_bytes(),
                Value::Str(Str::from_bytes(format!("value-{i}").as_bytes())),
                ttl,
                0,
            );
        }
        for e in s.iter() {
            expected_entries += entry_bytes(e);
        }
        assert_eq!(s.used_bytes(), expected_entries + s.container_bytes());
        for _ in 0..200 {
            assert!(s.evict_one(Policy::AllKeysLru, 5000));
        }
        let on_probation = s.iter().filter(|e| !e.main()).count();
        assert_eq!(
            s.probation, on_probation,
            "probation counter matches the entries"
        );
        let entries: usize = s.iter().map(entry_bytes).sum();
        assert_eq!(s.used_bytes(), entries + s.container_bytes());
    }

    /// A cache at capacity (300 keys) with a hot set of 100 keys read every 250 inserts, and
    /// a one-time scan of 3000 cold keys. Plain LRU loses the hot set (250 inserts between
    /// reads turn over the 200 slots the hot keys leave free); ours must keep it.
    #[test]
    fn eviction_resists_a_scan() {
        let mut s = Shard::standalone(3);
        let capacity = 300;
        let mut now = 1_000_000;
        for i in 0..100 {
            set(&mut s, &format!("hot:{i}"), Ttl::Clear, now);
        }
        for round in 0..3 {
            for i in 0..100 {
                get(&mut s, &format!("hot:{i}"), now + round);
            }
        }
        for i in 0..200 {
            set(&mut s, &format!("filler:{i}"), Ttl::Clear, now);
        }
        for i in 0..3000 {
            now += 10;
            set(&mut s, &format!("scan:{i}"), Ttl::Clear, now);
            while s.len() > capacity {
                assert!(s.evict_one(Policy::AllKeysLru, now));
            }
            if i % 250 == 249 {
                for h in 0..100 {
                    get(&mut s, &format!("hot:{h}"), now);
                }
            }
        }
        let hot_left = (0..100)
            .filter(|i| {
                let k = format!("hot:{i}");
                s.peek(s.hash(k.as_bytes()), k.as_bytes(), now).is_some()
            })
            .count();
        assert!(
            hot_left >= 90,
            "only {hot_left} of 100 hot keys survived the scan"
        );
    }

    #[test]
    fn hashes_are_accounted_and_deleted_when_emptied() {
        let mut s = Shard::standalone(9);
        let h = s.hash(b"h");
        let empty = s.used_bytes();
        for i in 0..50 {
            let added = s
                .modify_hash(h, b"h", 0, true, |hash| {
                    hash.insert(format!("f{i}").as_bytes(), b"value")
                })
                .unwrap();
            assert_eq!(added, Some(true));
        }
        let entries: usize = s.iter().map(entry_bytes).sum();
        assert_eq!(s.used_bytes(), entries + s.container_bytes());
        assert!(s.used_bytes() > empty + 50 * 10);
        set(&mut s, "str", Ttl::Clear, 0);
        let hs = s.hash(b"str");
        assert_eq!(
            s.modify_hash(hs, b"str", 0, true, |_| ()),
            Err(()),
            "WRONGTYPE"
        );
        for i in 0..50 {
            s.modify_hash(h, b"h", 0, false, |hash| {
                hash.remove(format!("f{i}").as_bytes())
            })
            .unwrap();
        }
        assert!(s.peek(h, b"h", 0).is_none(), "an emptied hash is deleted");
        let entries: usize = s.iter().map(entry_bytes).sum();
        assert_eq!(s.used_bytes(), entries + s.container_bytes());
    }

    #[test]
    fn volatile_policies_only_evict_keys_with_ttl() {
        let mut s = Shard::standalone(5);
        set(&mut s, "persistent", Ttl::Clear, 0);
        set(&mut s, "soon", Ttl::At(100), 0);
        set(&mut s, "later", Ttl::At(900), 0);
        assert!(s.evict_one(Policy::VolatileTtl, 0));
        assert!(
            s.peek(s.hash(b"soon"), b"soon", 0).is_none(),
            "nearest deadline goes first"
        );
        assert!(s.evict_one(Policy::VolatileLru, 0));
        assert!(
            !s.evict_one(Policy::VolatileRandom, 0),
            "no key with a TTL left"
        );
        assert!(s.peek(s.hash(b"persistent"), b"persistent", 0).is_some());
    }
}
