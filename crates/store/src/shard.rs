//! One lock's worth of the keyspace: a hash table of entries plus an exact expiry index.
//!
//! Expiry: an entry with a TTL is also in `expires`, ordered by deadline, so the active cycle
//! finds exactly the keys that are due (no sampling, no pile-up of expired keys nobody reads)
//! with work proportional to what it reclaims. Lookups expire lazily as well, so a read never
//! sees a key whose deadline has passed. Redis's rule: a key is expired when `now > deadline`.

use std::collections::BTreeSet;

use hashbrown::hash_table::{Entry as TableEntry, HashTable};

use crate::lfu;
use crate::value::Value;

/// A key, its value and the metadata every key carries.
#[derive(Debug)]
pub struct Entry {
    hash: u64,
    key: Box<[u8]>,
    pub value: Value,
    /// Deadline in ms since the epoch; 0 = no TTL. Changed only through the shard so the
    /// expiry index stays exact.
    expire_at: u64,
    /// Last access, seconds since the epoch (OBJECT IDLETIME, LRU).
    access_secs: u32,
    /// LFU counter and the minute it was last decayed (OBJECT FREQ, LFU).
    lfu_counter: u8,
    lfu_minutes: u16,
}

impl Entry {
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }

    /// Milliseconds since the last access.
    pub fn idle_ms(&self, now: u64) -> u64 {
        now.saturating_sub(self.access_secs as u64 * 1000)
    }

    /// The LFU counter with decay applied (OBJECT FREQ).
    pub fn frequency(&self, now: u64) -> u8 {
        lfu::decayed(self.lfu_counter, self.lfu_minutes, now)
    }

    /// Approximate bytes this entry costs (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        let ttl_index = if self.expire_at != 0 {
            self.key.len() + 48
        } else {
            0
        };
        std::mem::size_of::<Entry>() + 8 + self.key.len() + self.value.heap_size() + ttl_index
    }
}

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
}

#[derive(Debug, Default)]
pub struct Shard {
    table: HashTable<Entry>,
    expires: BTreeSet<(u64, u64, Box<[u8]>)>,
    pub stats: ShardStats,
    rng: u64,
}

impl Shard {
    pub fn new(seed: u64) -> Self {
        Shard {
            rng: seed | 1,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys that have a TTL.
    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    fn random01(&mut self) -> f64 {
        // xorshift64*: plenty for a probabilistic counter, and no lock or syscall.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn touch(entry: &mut Entry, now: u64, r: f64) {
        entry.access_secs = (now / 1000) as u32;
        let counter = lfu::decayed(entry.lfu_counter, entry.lfu_minutes, now);
        entry.lfu_counter = lfu::log_incr(counter, r);
        entry.lfu_minutes = lfu::minutes(now);
    }

    /// Finds a live entry, removing it first if its deadline has passed.
    fn find_live(&mut self, h: u64, key: &[u8], now: u64) -> Option<&mut Entry> {
        find_live(
            &mut self.table,
            &mut self.expires,
            &mut self.stats,
            h,
            key,
            now,
        )
    }

    /// A read: counts a hit or miss and records the access.
    pub fn get(&mut self, h: u64, key: &[u8], now: u64) -> Option<&mut Entry> {
        let r = self.random01();
        let Shard {
            table,
            expires,
            stats,
            ..
        } = self;
        match find_live(table, expires, stats, h, key, now) {
            Some(e) => {
                stats.hits += 1;
                Self::touch(e, now, r);
                Some(e)
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    /// A lookup for writing: records the access, counts nothing.
    pub fn get_mut(&mut self, h: u64, key: &[u8], now: u64) -> Option<&mut Entry> {
        let r = self.random01();
        let e = self.find_live(h, key, now)?;
        Self::touch(e, now, r);
        Some(e)
    }

    /// A lookup that leaves no trace (TTL, TYPE, OBJECT, EXISTS).
    pub fn peek(&mut self, h: u64, key: &[u8], now: u64) -> Option<&Entry> {
        self.find_live(h, key, now).map(|e| &*e)
    }

    /// Writes `value` under `key`. An existing key keeps its LFU counter (as Redis's
    /// `dbOverwrite` does) and its TTL only with [`Ttl::Keep`]. Returns the previous value.
    pub fn set(&mut self, h: u64, key: &[u8], value: Value, ttl: Ttl, now: u64) -> Option<Value> {
        let access_secs = (now / 1000) as u32;
        match self.table.entry(h, |e| &*e.key == key, |e| e.hash) {
            TableEntry::Occupied(mut o) => {
                let e = o.get_mut();
                let live = !e.is_expired(now);
                let old = std::mem::replace(&mut e.value, value);
                e.access_secs = access_secs;
                if !live {
                    e.lfu_counter = lfu::INIT;
                    e.lfu_minutes = lfu::minutes(now);
                }
                let old_deadline = e.expire_at;
                let new_deadline = match ttl {
                    Ttl::Keep if live => old_deadline,
                    Ttl::Keep | Ttl::Clear => 0,
                    Ttl::At(at) => at,
                };
                if !live {
                    self.stats.expired += 1;
                }
                if new_deadline != old_deadline {
                    e.expire_at = new_deadline;
                    let k = e.key.clone();
                    if old_deadline != 0 {
                        self.expires.remove(&(old_deadline, h, k.clone()));
                    }
                    if new_deadline != 0 {
                        self.expires.insert((new_deadline, h, k));
                    }
                }
                live.then_some(old)
            }
            TableEntry::Vacant(v) => {
                let deadline = match ttl {
                    Ttl::At(at) => at,
                    _ => 0,
                };
                let key: Box<[u8]> = key.into();
                if deadline != 0 {
                    self.expires.insert((deadline, h, key.clone()));
                }
                v.insert(Entry {
                    hash: h,
                    key,
                    value,
                    expire_at: deadline,
                    access_secs,
                    lfu_counter: lfu::INIT,
                    lfu_minutes: lfu::minutes(now),
                });
                None
            }
        }
    }

    /// Removes a live key; an expired one is reclaimed and reported absent.
    pub fn remove(&mut self, h: u64, key: &[u8], now: u64) -> Option<Entry> {
        let occupied = self.table.find_entry(h, |e| &*e.key == key).ok()?;
        let (removed, _) = occupied.remove();
        if removed.expire_at != 0 {
            self.expires
                .remove(&(removed.expire_at, removed.hash, removed.key.clone()));
        }
        if removed.is_expired(now) {
            self.stats.expired += 1;
            return None;
        }
        Some(removed)
    }

    /// Re-inserts an entry taken out with [`Shard::remove`] under a (possibly) new key,
    /// keeping its TTL and access data (RENAME, MOVE between shards).
    pub fn insert_entry(&mut self, h: u64, key: &[u8], mut entry: Entry) {
        if let Ok(o) = self.table.find_entry(h, |e| &*e.key == key) {
            let (old, _) = o.remove();
            if old.expire_at != 0 {
                self.expires.remove(&(old.expire_at, old.hash, old.key));
            }
        }
        entry.hash = h;
        entry.key = key.into();
        if entry.expire_at != 0 {
            self.expires.insert((entry.expire_at, h, entry.key.clone()));
        }
        self.table.insert_unique(h, entry, |e| e.hash);
    }

    /// Sets or clears the deadline of an existing live key; false when the key is absent.
    pub fn set_expire(&mut self, h: u64, key: &[u8], deadline: Option<u64>, now: u64) -> bool {
        let Some(e) = self.find_live(h, key, now) else {
            return false;
        };
        let old = e.expire_at;
        let new = deadline.unwrap_or(0);
        if old == new {
            return true;
        }
        e.expire_at = new;
        let k = e.key.clone();
        if old != 0 {
            self.expires.remove(&(old, h, k.clone()));
        }
        if new != 0 {
            self.expires.insert((new, h, k));
        }
        true
    }

    /// Reclaims up to `max` keys whose deadline has passed; returns how many.
    pub fn expire_due(&mut self, now: u64, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some((deadline, h, _)) = self.expires.first() else {
                break;
            };
            if *deadline >= now {
                break;
            }
            let h = *h;
            let (_, _, key) = self.expires.pop_first().expect("first exists");
            if let Ok(o) = self.table.find_entry(h, |e| e.key == key) {
                o.remove();
            }
            self.stats.expired += 1;
            n += 1;
        }
        n
    }

    /// Empties the shard, handing back the old contents so a caller can free them elsewhere
    /// (FLUSHALL ASYNC).
    pub fn take(&mut self) -> Shard {
        let stats = self.stats;
        let rng = self.rng;
        let old = std::mem::take(self);
        self.stats = stats;
        self.rng = rng;
        old
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// A uniformly chosen live key, if any (RANDOMKEY).
    pub fn random_key(&mut self, now: u64) -> Option<Vec<u8>> {
        let live = self.table.iter().filter(|e| !e.is_expired(now)).count();
        if live == 0 {
            return None;
        }
        let pick = (self.random01() * live as f64) as usize % live;
        self.table
            .iter()
            .filter(|e| !e.is_expired(now))
            .nth(pick)
            .map(|e| e.key.to_vec())
    }
}

/// Free function so callers can keep borrowing the shard's other fields (split borrows).
fn find_live<'a>(
    table: &'a mut HashTable<Entry>,
    expires: &mut BTreeSet<(u64, u64, Box<[u8]>)>,
    stats: &mut ShardStats,
    h: u64,
    key: &[u8],
    now: u64,
) -> Option<&'a mut Entry> {
    let occupied = table.find_entry(h, |e| &*e.key == key).ok()?;
    if occupied.get().is_expired(now) {
        let (removed, _) = occupied.remove();
        expires.remove(&(removed.expire_at, removed.hash, removed.key));
        stats.expired += 1;
        return None;
    }
    Some(occupied.into_mut())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Str;

    fn v(s: &str) -> Value {
        Value::Str(Str::from_bytes(s.as_bytes()))
    }

    #[test]
    fn lazy_expiry_at_exact_redis_boundary() {
        let mut s = Shard::new(1);
        s.set(7, b"k", v("x"), Ttl::At(1000), 0);
        assert!(
            s.get(7, b"k", 1000).is_some(),
            "alive at the deadline itself"
        );
        assert!(s.get(7, b"k", 1001).is_none(), "gone just after");
        assert_eq!(s.len(), 0);
        assert_eq!(s.volatile_len(), 0);
        assert_eq!(s.stats.expired, 1);
    }

    #[test]
    fn active_expiry_reclaims_only_due_keys() {
        let mut s = Shard::new(1);
        for i in 0..100u64 {
            s.set(i, format!("k{i}").as_bytes(), v("x"), Ttl::At(1000 + i), 0);
        }
        s.set(500, b"forever", v("x"), Ttl::Clear, 0);
        assert_eq!(s.expire_due(1050, usize::MAX), 50);
        assert_eq!(s.len(), 51);
        assert_eq!(s.expire_due(5000, 10), 10, "bounded work per call");
        assert_eq!(s.expire_due(5000, usize::MAX), 40);
        assert_eq!(s.len(), 1);
        assert_eq!(s.volatile_len(), 0);
    }

    #[test]
    fn ttl_kept_or_cleared_on_overwrite() {
        let mut s = Shard::new(1);
        s.set(1, b"a", v("1"), Ttl::At(9000), 0);
        s.set(1, b"a", v("2"), Ttl::Keep, 0);
        assert_eq!(s.peek(1, b"a", 0).unwrap().expire_at(), Some(9000));
        s.set(1, b"a", v("3"), Ttl::Clear, 0);
        assert_eq!(s.peek(1, b"a", 0).unwrap().expire_at(), None);
        assert_eq!(s.volatile_len(), 0);
        assert!(s.set_expire(1, b"a", Some(50), 0));
        assert_eq!(s.volatile_len(), 1);
        assert!(s.set_expire(1, b"a", None, 0));
        assert_eq!(s.volatile_len(), 0);
    }
}
