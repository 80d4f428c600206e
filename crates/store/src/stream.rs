//! Streams: Redis 7.0's stream type (`t_stream.c`) — entries with IDs in nodes, consumer
//! groups with pending-entry lists.
//!
//! Entries live in *nodes* shaped as Redis's listpack nodes: a node keyed by the ID of its
//! first entry (the "master" ID) holds up to `stream-node-max-entries` entries (live and
//! deleted) and up to `stream-node-max-bytes` of listpack, and the first entry's field names
//! (the "master fields") against which later entries are compared (`same_fields`). We keep
//! each node's exact listpack size ([`Node::lp_bytes`]) without holding the listpack itself,
//! because Redis's node boundaries are visible to users: approximate trimming (`MAXLEN ~`,
//! `MINID ~`) removes whole nodes only, and XINFO reports the node count. An RDB/DUMP
//! writer rebuilds the listpack from [`Node::elements`] byte for byte, and a loader reads one
//! back with [`Node::from_elements`].
//!
//! Deleted entries stay in their node as tombstones (flagged, as Redis flags them) until the
//! node is empty of live entries, so node sizes and counts evolve exactly as Redis's do.
use std::collections::{BTreeMap, BTreeSet};

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

/// Entry flags as Redis writes them in a node's listpack.
pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// The largest listpack Redis lets a stream node grow to (`STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// One entry of a node: its ID, flags, and its field/value pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: StreamId,
    pub deleted: bool,
    /// The entry has exactly the master fields (Redis then omits them in the listpack).
    pub same_fields: bool,
    /// Field, value, field, value...
    pub pairs: Vec<Box<[u8]>>,
}

impl Item {
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.chunks_exact(2).map(|p| (&*p[0], &*p[1]))
    }

    fn heap(&self) -> usize {
        self.pairs.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.pairs.iter().map(|p| p.len()).sum::<usize>()
    }
}

/// One node: Redis's listpack of a master entry and up to N entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The ID the node is keyed by: its first entry's, deleted or not.
    pub master: StreamId,
    pub master_fields: Vec<Box<[u8]>>,
    pub items: Vec<Item>,
    pub live: u64,
    pub deleted: u64,
    /// The size of the listpack Redis would hold for this node (`lpBytes`).
    pub lp_bytes: usize,
}

/// Bytes of a listpack element holding integer `v` (encoding + data + backlen).
fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + backlen_size(enc)
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// The integer a string is stored as in a listpack: only canonical decimal text (as
/// `string2ll` accepts it) of at most 20 characters.
pub fn lp_canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v = resp::number::parse_i64(s)?;
    let mut buf = itoa::Buffer::new();
    (buf.format(v).as_bytes() == s).then_some(v)
}

/// Bytes of a listpack element holding string `s` as Redis's `lpAppend` stores it.
fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = lp_canonical_int(s) {
        return lp_int_size(v);
    }
    let enc = if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    enc + backlen_size(enc)
}

/// A listpack's header and terminator.
const LP_OVERHEAD: usize = 7;

impl Node {
    /// A node whose master entry takes `item`'s fields.
    fn new(item: Item) -> Node {
        let master_fields: Vec<Box<[u8]>> = item.pairs.iter().step_by(2).cloned().collect();
        let mut lp_bytes = LP_OVERHEAD
            + lp_int_size(0)
            + lp_int_size(0)
            + lp_int_size(master_fields.len() as i64)
            + master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>()
            + lp_int_size(0);
        let mut item = item;
        item.same_fields = true;
        lp_bytes += Self::item_size(StreamId::new(item.id.ms, item.id.seq), &item);
        let mut node = Node {
            master: item.id,
            master_fields,
            items: vec![item],
            live: 0,
            deleted: 0,
            lp_bytes,
        };
        node.set_counts(1, 0);
        node
    }

    /// Listpack bytes of one entry relative to master ID `master`.
    fn item_size(master: StreamId, item: &Item) -> usize {
        let flags = (if item.deleted { FLAG_DELETED } else { 0 })
            | if item.same_fields { FLAG_SAMEFIELDS } else { 0 };
        let n = item.pairs.len() / 2;
        let mut size = lp_int_size(flags)
            + lp_int_size(item.id.ms.wrapping_sub(master.ms) as i64)
            + lp_int_size(item.id.seq.wrapping_sub(master.seq) as i64);
        let lp_count = if item.same_fields {
            size += item
                .pairs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| lp_str_size(v))
                .sum::<usize>();
            n + 3
        } else {
            size += lp_int_size(n as i64);
            size += item.pairs.iter().map(|v| lp_str_size(v)).sum::<usize>();
            2 * n + 4
        };
        size + lp_int_size(lp_count as i64)
    }

    /// Sets the live/deleted counters, keeping `lp_bytes` exact (their integer encodings
    /// may change size, as `lpReplaceInteger` does).
    fn set_counts(&mut self, live: u64, deleted: u64) {
        self.lp_bytes = self.lp_bytes + lp_int_size(live as i64) + lp_int_size(deleted as i64)
            - lp_int_size(self.live as i64)
            - lp_int_size(self.deleted as i64);
        self.live = live;
        self.deleted = deleted;
    }

    fn same_as_master(&self, pairs: &[Box<[u8]>]) -> bool {
        pairs.len() / 2 == self.master_fields.len()
            && pairs
                .iter()
                .step_by(2)
                .zip(&self.master_fields)
                .all(|(a, b)| a == b)
    }

    fn push(&mut self, mut item: Item) {
        item.same_fields = self.same_as_master(&item.pairs);
        self.lp_bytes += Self::item_size(self.master, &item);
        self.items.push(item);
        self.set_counts(self.live + 1, self.deleted);
    }

    /// Flags item `i` deleted (its flags stay a 1-byte integer: no size change).
    fn mark_deleted(&mut self, i: usize) {
        self.items[i].deleted = true;
        self.set_counts(self.live - 1, self.deleted + 1);
    }

    fn heap(&self) -> usize {
        std::mem::size_of::<Node>()
            + self.items.capacity() * std::mem::size_of::<Item>()
            + self.items.iter().map(Item::heap).sum::<usize>()
            + self
                .master_fields
                .iter()
                .map(|f| f.len() + 16)
                .sum::<usize>()
    }

    /// The node as the elements of Redis's listpack, integers as decimal text.
    pub fn elements(&self) -> Vec<Vec<u8>> {
        let master = self.master;
        let int = |v: i64| v.to_string().into_bytes();
        let mut out = vec![
            int(self.live as i64),
            int(self.deleted as i64),
            int(self.master_fields.len() as i64),
        ];
        out.extend(self.master_fields.iter().map(|f| f.to_vec()));
        out.push(int(0));
        for item in &self.items {
            let flags = (if item.deleted { FLAG_DELETED } else { 0 })
                | if item.same_fields { FLAG_SAMEFIELDS } else { 0 };
            out.push(int(flags));
            out.push(int(item.id.ms.wrapping_sub(master.ms) as i64));
            out.push(int(item.id.seq.wrapping_sub(master.seq) as i64));
            let n = item.pairs.len() / 2;
            if item.same_fields {
                out.extend(item.pairs.iter().skip(1).step_by(2).map(|v| v.to_vec()));
                out.push(int(n as i64 + 3));
            } else {
                out.push(int(n as i64));
                out.extend(item.pairs.iter().map(|v| v.to_vec()));
                out.push(int(2 * n as i64 + 4));
            }
        }
        out
    }

    /// A node from the elements of a listpack Redis wrote (RDB, RESTORE). `None` on any
    /// inconsistency: counts that do not add up, IDs out of order or outside `master`'s
    /// node, a missing terminator.
    pub fn from_elements(master: StreamId, elems: &[&[u8]]) -> Option<Node> {
        let int = |e: &[u8]| lp_canonical_int(e);
        let mut at = 0usize;
        let mut next = || {
            let e = elems.get(at).copied();
            at += 1;
            e
        };
        let live = int(next()?)?;
        let deleted = int(next()?)?;
        let nfields = int(next()?)?;
        if live < 0 || deleted < 0 || nfields < 0 || nfields as usize > elems.len() {
            return None;
        }
        let master_fields: Vec<Box<[u8]>> = (0..nfields)
            .map(|_| next().map(Box::from))
            .collect::<Option<_>>()?;
        if int(next()?)? != 0 {
            return None;
        }
        let mut items = Vec::new();
        let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
        let mut last: Option<StreamId> = None;
        while let Some(flags) = next() {
            let flags = int(flags)?;
            let ms = master.ms.wrapping_add(int(next()?)? as u64);
            let seq = master.seq.wrapping_add(int(next()?)? as u64);
            let id = StreamId::new(ms, seq);
            if id < master || last.is_some_and(|l| id <= l) {
                return None;
            }
            last = Some(id);
            let same_fields = flags & FLAG_SAMEFIELDS != 0;
            let mut pairs = Vec::new();
            if same_fields {
                for f in &master_fields {
                    pairs.push(f.clone());
                    pairs.push(Box::from(next()?));
                }
            } else {
                let n = int(next()?)?;
                if n < 0 || n as usize > elems.len() {
                    return None;
                }
                for _ in 0..2 * n {
                    pairs.push(Box::from(next()?));
                }
            }
            let expected = if same_fields {
                nfields + 3
            } else {
                pairs.len() as i64 + 4
            };
            if int(next()?)? != expected {
                return None;
            }
            let deleted_flag = flags & FLAG_DELETED != 0;
            if deleted_flag {
                seen_deleted += 1;
            } else {
                seen_live += 1;
            }
            items.push(Item {
                id,
                deleted: deleted_flag,
                same_fields,
                pairs,
            });
        }
        if seen_live != live || seen_deleted != deleted || live == 0 {
            return None;
        }
        let mut lp_bytes = LP_OVERHEAD
            + lp_int_size(live)
            + lp_int_size(deleted)
            + lp_int_size(nfields)
            + master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>()
            + lp_int_size(0);
        lp_bytes += items
            .iter()
            .map(|i| Self::item_size(master, i))
            .sum::<usize>();
        Some(Node {
            master,
            master_fields,
            items,
            live: live as u64,
            deleted: deleted as u64,
            lp_bytes,
        })
    }
}

/// An entry a consumer group delivered and nobody acknowledged yet (Redis's `streamNACK`).
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    pub consumer: Box<[u8]>,
    /// Unix milliseconds of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Consumer {
    /// Unix milliseconds of the consumer's last interaction.
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` when it cannot be known (`SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a consumer and its pending entries from the group; how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Moves (or creates) pending entry `id` to `consumer`, which must exist.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], nack: Nack) {
        if let Some(old) = self.pel.insert(id, nack) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pel.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    fn heap(&self) -> usize {
        std::mem::size_of::<Group>()
            + self.pel.len() * 64
            + self
                .consumers
                .iter()
                .map(|(n, c)| 64 + n.len() + c.pel.len() * 24)
                .sum::<usize>()
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
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: Vec<Box<[u8]>>,
        max_bytes: usize,
        max_entries: u64,
    ) {
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        let item = Item {
            id,
            deleted: false,
            same_fields: false,
            pairs,
        };
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
            node.push(item);
            self.node_heap = self.node_heap + node.heap() - before;
        } else {
            let node = Node::new(item);
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
        mut f: impl FnMut(&'a Item) -> bool,
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
                let i = node.items.partition_point(|it| it.id < start);
                for item in &node.items[i..] {
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
                let j = node.items.partition_point(|it| it.id <= end);
                for item in node.items[..j].iter().rev() {
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
    pub fn get(&self, id: StreamId) -> Option<&Item> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        let i = node.items.binary_search_by(|it| it.id.cmp(&id)).ok()?;
        let item = &node.items[i];
        (!item.deleted).then_some(item)
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
        let Ok(i) = node.items.binary_search_by(|it| it.id.cmp(&id)) else {
            return false;
        };
        if node.items[i].deleted {
            return false;
        }
        if node.live == 1 {
            let node = self.nodes.remove(&key).expect("present");
            self.node_heap -= node.heap();
        } else {
            let before = node.heap();
            node.mark_deleted(i);
            self.node_heap = self.node_heap + node.heap() - before;
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
                Trim::MinId(min) => node.items.last().is_some_and(|it| it.id < min),
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
            for i in 0..node.items.len() {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => node.items[i].id >= min,
                };
                if stop {
                    break;
                }
                if !node.items[i].deleted {
                    node.items[i].deleted = true;
                    from_node += 1;
                    self.length -= 1;
                }
            }
            node.set_counts(node.live - from_node, node.deleted + from_node);
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
            .is_some_and(|(_, last)| last.items.last().is_some_and(|it| it.id >= master))
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
            .is_none_or(|(_, n)| n.items.last().is_none_or(|it| it.id <= self.last_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(kv: &[(&str, &str)]) -> Vec<Box<[u8]>> {
        kv.iter()
            .flat_map(|(k, v)| [Box::from(k.as_bytes()), Box::from(v.as_bytes())])
            .collect()
    }

    #[test]
    fn nodes_split_by_entries_and_trim_whole_nodes_when_approximate() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), pairs(&[("a", "1")]), 4096, 100);
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
            s.append(StreamId::new(i, 0), pairs(&[("f", "v")]), 4096, 100);
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
        assert!(s.delete(StreamId::new(1, 0)));
        assert!(s.delete(StreamId::new(3, 0)));
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn elements_round_trip() {
        let mut s = Stream::default();
        s.append(
            StreamId::new(5, 1),
            pairs(&[("a", "1"), ("b", "x")]),
            4096,
            100,
        );
        s.append(
            StreamId::new(5, 2),
            pairs(&[("a", "2"), ("b", "y")]),
            4096,
            100,
        );
        s.append(StreamId::new(7, 0), pairs(&[("c", "3")]), 4096, 100);
        s.delete(StreamId::new(5, 2));
        let (master, node) = s.nodes().next().unwrap();
        let elems = node.elements();
        let refs: Vec<&[u8]> = elems.iter().map(|e| e.as_slice()).collect();
        let back = Node::from_elements(master, &refs).unwrap();
        assert_eq!(&back, node);
    }
}
