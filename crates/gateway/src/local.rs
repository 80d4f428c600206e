//! An optional near cache (`--local-cache-size`, `--local-cache-ttl-ms`): entries read from
//! or written to the shared store are also kept in this process for a short time, so a hot
//! URL is served without a round trip to the store. Its staleness is bounded by the TTL:
//! a purge or an invalidation through another gateway reaches this one's copies only when
//! they expire (a purge through this gateway drops them at once). Off by default.
//!
//! Sixteen independently locked maps, each evicting its oldest entries first once its share
//! of the byte budget is used.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::entry::Entry;

const PARTS: usize = 16;

struct Kept {
    entry: Arc<Entry>,
    shard: Arc<str>,
    until: Instant,
    size: usize,
}

#[derive(Default)]
struct Part {
    map: HashMap<String, Kept>,
    order: VecDeque<String>,
    bytes: usize,
}

pub struct LocalCache {
    parts: Vec<Mutex<Part>>,
    budget_per_part: usize,
    ttl: Duration,
}

fn size_of(entry: &Entry) -> usize {
    match entry {
        Entry::Response(s) => {
            s.body.len()
                + s.headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len())
                    .sum::<usize>()
                + 128
        }
        Entry::Vary(names) => names.iter().map(|n| n.len()).sum::<usize>() + 64,
    }
}

impl LocalCache {
    pub fn new(bytes: usize, ttl: Duration) -> LocalCache {
        LocalCache {
            parts: (0..PARTS).map(|_| Mutex::new(Part::default())).collect(),
            budget_per_part: bytes / PARTS,
            ttl,
        }
    }

    fn part(&self, key: &str) -> &Mutex<Part> {
        // FNV-1a: cheap, and spreads keys well enough over 16 parts.
        let h = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        &self.parts[(h % PARTS as u64) as usize]
    }

    /// The kept entry for `key` and the shard it came from, unless it expired here.
    pub fn get(&self, key: &str) -> Option<(Arc<Entry>, Arc<str>)> {
        let part = self.part(key).lock();
        let kept = part.map.get(key)?;
        (Instant::now() < kept.until).then(|| (kept.entry.clone(), kept.shard.clone()))
    }

    /// Keeps `entry` for at most the local TTL (`max` caps it further: the entry's own
    /// freshness).
    pub fn put(&self, key: &str, entry: Arc<Entry>, shard: Arc<str>, max: Duration) {
        let size = size_of(&entry) + key.len();
        if size > self.budget_per_part {
            return;
        }
        let until = Instant::now() + self.ttl.min(max);
        let mut part = self.part(key).lock();
        if let Some(old) = part.map.insert(
            key.to_string(),
            Kept {
                entry,
                shard,
                until,
                size,
            },
        ) {
            part.bytes -= old.size;
        } else {
            part.order.push_back(key.to_string());
        }
        part.bytes += size;
        while part.bytes > self.budget_per_part {
            let Some(oldest) = part.order.pop_front() else {
                break;
            };
            if let Some(k) = part.map.remove(&oldest) {
                part.bytes -= k.size;
            }
        }
    }

    /// Drops `key` (an invalidation through this gateway).
    pub fn remove(&self, key: &str) {
        let mut part = self.part(key).lock();
        if let Some(k) = part.map.remove(key) {
            part.bytes -= k.size;
            part.order.retain(|o| o != key);
        }
    }

    /// Drops everything (a purge through this gateway).
    pub fn clear(&self) {
        for p in &self.parts {
            *p.lock() = Part::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(body: usize) -> Arc<Entry> {
        Arc::new(Entry::Response(crate::entry::Stored {
            status: 200,
            headers: vec![],
            body: Bytes::from(vec![b'x'; body]),
            stored_at: 0,
            fresh_until: 0,
            stale_until: 0,
            error_until: 0,
            upstream_age: 0,
        }))
    }

    #[test]
    fn entries_expire_evict_oldest_and_can_be_dropped() {
        let c = LocalCache::new(16 * 4096, Duration::from_secs(60));
        c.put("a", entry(10), "s".into(), Duration::from_secs(60));
        assert!(c.get("a").is_some());
        c.put("b", entry(10), "s".into(), Duration::ZERO);
        assert!(c.get("b").is_none(), "capped by the entry's own freshness");
        c.remove("a");
        assert!(c.get("a").is_none());
        // Over a part's budget: the oldest go first.
        for i in 0..200 {
            c.put(
                &format!("k{i}"),
                entry(1000),
                "s".into(),
                Duration::from_secs(60),
            );
        }
        let kept = (0..200)
            .filter(|i| c.get(&format!("k{i}")).is_some())
            .count();
        assert!(kept < 200 && c.get("k199").is_some());
        c.clear();
        assert!(c.get("k199").is_none());
    }
}
