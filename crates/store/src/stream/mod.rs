//! Streams: Redis 7.0's stream type (`t_stream.c`) — entries with IDs in nodes, consumer
//! groups with pending-entry lists.
//!
//! Entries live in *nodes* shaped as Redis's listpack nodes ([`node`]): a node keyed by the
//! ID of its first entry (the "master" ID) holds up to `stream-node-max-entries` entries
//! (live and deleted) and up to `stream-node-max-bytes` of listpack, and the first entry's
//! field names (the "master fields"). Redis's node boundaries are visible to users —
//! approximate trimming (`MAXLEN ~`, `MINID ~`) removes whole nodes only, and XINFO reports
//! the node count — so ours fall where Redis's do.
//!
//! Deleted entries stay in their node as tombstones (flagged, as Redis flags them) until the
//! node is empty of live entries, so node sizes and counts evolve exactly as Redis's do.

mod group;
mod node;

pub use group::{Consumer, Group, Nack, ENTRIES_READ_INVALID, NEVER_ACTIVE};
pub use node::{lp_canonical_int, ItemRef, Node, FLAG_DELETED, FLAG_SAMEFIELDS, LISTPACK_MAX_SIZE};

use std::collections::BTreeMap;

/// A stream entry ID: milliseconds and sequence number, ordered as a 128-bit number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (`streamIncrID`); `None` past the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (`streamDecrID`); `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>`, as Redis writes an ID.
    pub fn text(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// The 128-bit big-endian form Redis uses as rax key and in RDB.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: &[u8; 16]) -> StreamId {
        StreamId::new(
            u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
        )
    }
}

/// How XADD/XTRIM trims.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
    node_heap: usize,
}

impl Stream {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes of a radix tree over the node keys (XINFO's `radix-tree-nodes`; the cost
    /// Redis's lazy free weighs a stream by). An estimate of Redis's rax: one node per
    /// compressed run and per branching point or key end.
    pub fn radix_tree_nodes(&self) -> usize {
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if keys.is_empty() {
                return 0;
            }
            if keys.len() == 1 {
                return if depth < 16 { 2 } else { 1 };
            }
            let mut d = depth;
            while d < 16 && keys.iter().all(|k| k[d] == keys[0][d]) {
                d += 1;
            }
            let mut n = usize::from(d > depth) + 1;
            let mut i = 0;
            while i < keys.len() {
                let mut j = i + 1;
                while j < keys.len() && keys[j][d] == keys[i][d] {
                    j += 1;
                }
                n += count(&keys[i..j], d + 1);
                i = j;
            }
            n
        }
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        1 + count(&keys, 0).saturating_sub(usize::from(!keys.is_empty()))
    }

    /// Nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &Node)> {
        self.nodes.iter().map(|(k, n)| (*k, n))
    }

    /// Bytes beyond the struct: nodes, entries, groups.
    pub fn heap_size(&self) -> usize {
        self.node_heap + self.groups.values().map(Group::heap).sum::<usize>()
    }

    /// The ID `XADD *` would give now (`streamNextID`).
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry with `id` (greater than `last_id`, checked by the caller) and
    /// `pairs` (field, value, ...), opening a new node when the tail one is full by
    /// `max_bytes` / `max_entries` (Redis's `streamAppendItem`).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], max_bytes: usize, max_entries: u64) {
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        let max_bytes = if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            max_bytes
        };
        let tail_fits = self.nodes.last_key_value().is_some_and(|(_, n)| {
            n.lp_bytes + total < max_bytes && (max_entries == 0 || n.live + n.deleted < max_entries)
        });
        if tail_fits {
            let mut last = self.nodes.last_entry().expect("tail exists");
            let node = last.get_mut();
            let before = node.heap();
            node.push(id, pairs);
            self.node_heap = self.node_heap + node.heap() - before;
        } else {
            if let Some(mut last) = self.nodes.last_entry() {
                // The tail is full: it takes no more entries.
                let node = last.get_mut();
                let before = node.heap();
                node.shrink();
                self.node_heap = self.node_heap + node.heap() - before;
            }
            let node = Node::new(id, pairs);
            self.node_heap += node.heap();
            self.nodes.insert(id, node);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Calls `f` with the live entries from `start` to `end` (inclusive), in order or in
    /// reverse, until it returns false.
    pub fn visit<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(ItemRef<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            // The node that may hold `start` is the last one keyed at or before it.
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(StreamId::MIN);
            for node in self.nodes.range(from..=end).map(|(_, n)| n) {
                for i in node.lower_bound(start)..node.entry_count() {
                    let item = node.item(i);
                    if item.id > end {
                        return;
                    }
                    if !item.deleted && !f(item) {
                        return;
                    }
                }
            }
        } else {
            for node in self.nodes.range(..=end).rev().map(|(_, n)| n) {
                let upto = match end.incr() {
                    Some(next) => node.lower_bound(next),
                    None => node.entry_count(),
                };
                for i in (0..upto).rev() {
                    let item = node.item(i);
                    if item.id < start {
                        return;
                    }
                    if !item.deleted && !f(item) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entry with this ID.
    pub fn get(&self, id: StreamId) -> Option<ItemRef<'_>> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        let i = node.lower_bound(id);
        if i == node.entry_count() {
            return None;
        }
        let item = node.item(i);
        (item.id == id && !item.deleted).then_some(item)
    }

    /// The first or last live entry's ID.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut found = None;
        self.visit(StreamId::MIN, StreamId::MAX, !first, |it| {
            found = Some(it.id);
            false
        });
        found
    }

    /// Deletes one live entry (a tombstone until its node is empty); false if absent.
    /// The caller updates `max_deleted` and `first_id` as XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, _)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let node = self.nodes.get_mut(&key).expect("just found");
        let i = node.lower_bound(id);
        if i == node.entry_count() {
            return false;
        }
        let item = node.item(i);
        if item.id != id || item.deleted {
            return false;
        }
        if node.live == 1 {
            let node = self.nodes.remove(&key).expect("present");
            self.node_heap -= node.heap();
        } else {
            node.mark_deleted(i);
        }
        self.length -= 1;
        true
    }

    /// Trims from the head (`streamTrim`): whole nodes while they can go, then — unless
    /// `approx` — entries of the next node one by one. At most `limit` entries (0: no
    /// limit). Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&key, node)) = self.nodes.first_key_value() else {
                break;
            };
            let entries = node.live;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last_id().is_some_and(|last| last < min),
            };
            if remove_node {
                let node = self.nodes.remove(&key).expect("present");
                self.node_heap -= node.heap();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let node = self.nodes.get_mut(&key).expect("present");
            let mut from_node = 0u64;
            for i in 0..node.entry_count() {
                let item = node.item(i);
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => item.id >= min,
                };
                if stop {
                    break;
                }
                if !item.deleted {
                    node.flag_deleted(i);
                    from_node += 1;
                    self.length -= 1;
                }
            }
            let (live, dead) = (node.live - from_node, node.deleted + from_node);
            node.set_live_deleted(live, dead);
            deleted += from_node;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or_default();
        }
        deleted
    }

    /// Whether `start..=end` may hold a tombstone (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of `id`, or
    /// [`ENTRIES_READ_INVALID`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return ENTRIES_READ_INVALID,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A consumer group's lag (`streamReplyWithCGLag`); `None` when it cannot be known.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// Adds a node read from a snapshot (in key order, after the ones added before).
    pub fn push_node(&mut self, master: StreamId, node: Node) -> bool {
        if self
            .nodes
            .last_key_value()
            .is_some_and(|(_, last)| last.last_id().is_some_and(|l| l >= master))
        {
            return false;
        }
        self.length += node.live;
        self.node_heap += node.heap();
        self.nodes.insert(master, node);
        true
    }

    /// Sets the counters a snapshot carries after its nodes.
    pub fn set_meta(
        &mut self,
        last_id: StreamId,
        first_id: StreamId,
        max_deleted: StreamId,
        entries_added: u64,
    ) {
        self.last_id = last_id;
        self.first_id = first_id;
        self.max_deleted = max_deleted;
        self.entries_added = entries_added;
    }

    /// The last node's item IDs never exceed `last_id` (a loaded stream must hold this).
    pub fn is_consistent(&self) -> bool {
        self.nodes
            .last_key_value()
            .is_none_or(|(_, n)| n.last_id().is_none_or(|l| l <= self.last_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs<'a>(kv: &[(&'a str, &'a str)]) -> Vec<&'a [u8]> {
        kv.iter()
            .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()])
            .collect()
    }

    #[test]
    fn nodes_split_by_entries_and_trim_whole_nodes_when_approximate() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), &pairs(&[("a", "1")]), 4096, 100);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.len(), 250);
        assert_eq!(s.trim(Trim::MaxLen(160), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(140), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(140), false, 0), 10);
        assert_eq!(s.first_id, StreamId::new(111, 0));
    }

    #[test]
    fn delete_leaves_tombstones_until_a_node_is_empty() {
        let mut s = Stream::default();
        for i in 1..=3u64 {
            s.append(StreamId::new(i, 0), &pairs(&[("f", "v")]), 4096, 100);
        }
        assert!(s.delete(StreamId::new(2, 0)));
        assert!(!s.delete(StreamId::new(2, 0)));
        assert_eq!(s.len(), 2);
        let mut seen = Vec::new();
        s.visit(StreamId::MIN, StreamId::MAX, false, |it| {
            seen.push(it.id.ms);
            true
        });
        assert_eq!(seen, vec![1, 3]);
        let mut back = Vec::new();
        s.visit(StreamId::MIN, StreamId::new(3, 0), true, |it| {
            back.push(it.id.ms);
            true
        });
        assert_eq!(back, vec![3, 1]);
        assert!(s.delete(StreamId::new(1, 0)));
        assert!(s.delete(StreamId::new(3, 0)));
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn entries_keep_their_fields_and_values() {
        let mut s = Stream::default();
        s.append(
            StreamId::new(5, 9),
            &pairs(&[("a", "1"), ("b", "x")]),
            4096,
            100,
        );
        s.append(
            StreamId::new(5, 10),
            &pairs(&[("a", "2"), ("b", "")]),
            4096,
            100,
        );
        s.append(
            StreamId::new(7, 0),
            &pairs(&[("c", &"z".repeat(300))]),
            4096,
            100,
        );
        let got: Vec<(StreamId, Vec<Vec<u8>>)> = {
            let mut v = Vec::new();
            s.visit(StreamId::MIN, StreamId::MAX, false, |it| {
                v.push((it.id, it.pairs().map(|p| p.to_vec()).collect()));
                true
            });
            v
        };
        assert_eq!(
            got[0].1,
            vec![b"a".to_vec(), b"1".to_vec(), b"b".to_vec(), b"x".to_vec()]
        );
        assert_eq!(got[1].0, StreamId::new(5, 10));
        assert_eq!(got[1].1[3], b"".to_vec());
        assert_eq!(got[2].1[1].len(), 300);
        assert!(s.get(StreamId::new(5, 10)).is_some());
        assert!(s.get(StreamId::new(6, 0)).is_none());
    }

    #[test]
    fn elements_round_trip() {
        let mut s = Stream::default();
        s.append(
            StreamId::new(5, 1),
            &pairs(&[("a", "1"), ("b", "x")]),
            4096,
            100,
        );
        s.append(
            StreamId::new(5, 2),
            &pairs(&[("a", "2"), ("b", "y")]),
            4096,
            100,
        );
        s.append(StreamId::new(7, 0), &pairs(&[("c", "3")]), 4096, 100);
        s.delete(StreamId::new(5, 2));
        let (master, node) = s.nodes().next().unwrap();
        let elems = node.elements();
        let refs: Vec<&[u8]> = elems.iter().map(|e| e.as_slice()).collect();
        let back = Node::from_elements(master, &refs).unwrap();
        assert_eq!(back.elements(), elems);
        assert_eq!(back.lp_bytes, node.lp_bytes);
    }
}
