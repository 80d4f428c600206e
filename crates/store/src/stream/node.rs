//! A stream node: Redis's listpack node (a master entry, then up to N entries), held in a
//! compact form of our own that keeps Redis's node boundaries exact.
//!
//! Entries sit back to back in one buffer, each: a flags byte (Redis's `FLAG_DELETED`,
//! `FLAG_SAMEFIELDS`), the ID as deltas from the node's master ID (milliseconds as a
//! varint, sequence zigzag-encoded), then — when the entry has exactly the master fields —
//! only its values, else the field count and its fields and values; each string as a
//! varint length and its bytes. An index of entry offsets gives binary search by ID. About
//! 4 bytes of index and 3-4 bytes of header per entry beyond its values: close to a
//! listpack's own size, instead of an allocation per field.
//!
//! [`Node::lp_bytes`] tracks the size the listpack Redis would hold for the node (its
//! integer and string encodings and backlens), because Redis decides where a node ends by
//! it (`stream-node-max-bytes`); [`Node::elements`] rebuilds that listpack's elements for
//! RDB and DUMP, and [`Node::from_elements`] reads one.
use super::StreamId;

/// Entry flags as Redis writes them in a node's listpack.
pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// The largest listpack Redis lets a stream node grow to (`STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(buf: &[u8], mut at: usize) -> (u64, usize) {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = buf[at];
        n |= u64::from(b & 0x7f) << shift;
        at += 1;
        if b < 0x80 {
            return (n, at);
        }
        shift += 7;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn get_str(buf: &[u8], at: usize) -> (&[u8], usize) {
    let (len, at) = get_varint(buf, at);
    let end = at + len as usize;
    (&buf[at..end], end)
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

/// One entry of a node, borrowed.
#[derive(Clone, Copy)]
pub struct ItemRef<'a> {
    pub id: StreamId,
    pub deleted: bool,
    /// The entry has exactly the master fields (Redis then omits them in the listpack).
    pub same_fields: bool,
    node: &'a Node,
    /// Where its first string starts in the node's buffer.
    at: usize,
    /// Field/value pairs.
    n: usize,
}

impl<'a> ItemRef<'a> {
    /// Field, value, field, value...
    pub fn pairs(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let data = &self.node.data[..];
        let masters = &self.node.master_fields;
        let same = self.same_fields;
        let mut at = self.at;
        let total = 2 * self.n;
        (0..total).map(move |i| {
            if same && i % 2 == 0 {
                &masters[i / 2][..]
            } else {
                let (s, next) = get_str(data, at);
                at = next;
                s
            }
        })
    }

    /// Field/value pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut it = self.pairs();
        std::iter::from_fn(move || Some((it.next()?, it.next()?)))
    }

    /// How many strings [`ItemRef::pairs`] yields.
    pub fn len(&self) -> usize {
        2 * self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Owned copies of the strings (for replies written after a lock is released).
    pub fn pairs_owned(&self) -> Vec<Box<[u8]>> {
        self.pairs().map(Box::from).collect()
    }
}

/// One node: Redis's listpack of a master entry and up to N entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The ID the node is keyed by: its first entry's, deleted or not.
    pub master: StreamId,
    pub master_fields: Vec<Box<[u8]>>,
    /// Where each entry starts in `data`, in ID order (deleted entries included).
    offsets: Vec<u32>,
    data: Vec<u8>,
    pub live: u64,
    pub deleted: u64,
    /// The size of the listpack Redis would hold for this node (`lpBytes`).
    pub lp_bytes: usize,
}

impl Node {
    /// A node whose master entry takes the fields of its first entry, `id` with `pairs`.
    pub(super) fn new(id: StreamId, pairs: &[&[u8]]) -> Node {
        let master_fields: Vec<Box<[u8]>> =
            pairs.iter().step_by(2).map(|f| Box::from(*f)).collect();
        let lp_bytes = LP_OVERHEAD
            + lp_int_size(0)
            + lp_int_size(0)
            + lp_int_size(master_fields.len() as i64)
            + master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>()
            + lp_int_size(0);
        let mut node = Node {
            master: id,
            master_fields,
            offsets: Vec::new(),
            data: Vec::new(),
            live: 0,
            deleted: 0,
            lp_bytes,
        };
        node.push(id, pairs);
        node
    }

    /// Entries, deleted ones included.
    pub fn entry_count(&self) -> usize {
        self.offsets.len()
    }

    /// Entry `i` (deleted or not).
    pub fn item(&self, i: usize) -> ItemRef<'_> {
        let at = self.offsets[i] as usize;
        let flags = self.data[at];
        let (ms, at) = get_varint(&self.data, at + 1);
        let (seq, at) = get_varint(&self.data, at);
        let id = StreamId::new(
            self.master.ms.wrapping_add(ms),
            self.master.seq.wrapping_add(unzigzag(seq) as u64),
        );
        let same_fields = flags & FLAG_SAMEFIELDS as u8 != 0;
        let (n, at) = if same_fields {
            (self.master_fields.len(), at)
        } else {
            let (n, at) = get_varint(&self.data, at);
            (n as usize, at)
        };
        ItemRef {
            id,
            deleted: flags & FLAG_DELETED as u8 != 0,
            same_fields,
            node: self,
            at,
            n,
        }
    }

    /// Entries, deleted ones included, in ID order.
    pub fn items(&self) -> impl DoubleEndedIterator<Item = ItemRef<'_>> + '_ {
        (0..self.offsets.len()).map(|i| self.item(i))
    }

    /// The index of the first entry with an ID at least `id` (`entry_count` if none).
    pub fn lower_bound(&self, id: StreamId) -> usize {
        let (mut lo, mut hi) = (0, self.offsets.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.item(mid).id < id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The last entry's ID (deleted or not).
    pub fn last_id(&self) -> Option<StreamId> {
        (!self.offsets.is_empty()).then(|| self.item(self.offsets.len() - 1).id)
    }

    /// Listpack bytes of one entry relative to master ID `master`.
    fn item_size(master: StreamId, id: StreamId, flags: i64, same: bool, pairs: &[&[u8]]) -> usize {
        let n = pairs.len() / 2;
        let mut size = lp_int_size(flags)
            + lp_int_size(id.ms.wrapping_sub(master.ms) as i64)
            + lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
        let lp_count = if same {
            size += pairs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| lp_str_size(v))
                .sum::<usize>();
            n + 3
        } else {
            size += lp_int_size(n as i64);
            size += pairs.iter().map(|v| lp_str_size(v)).sum::<usize>();
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

    fn same_as_master(&self, pairs: &[&[u8]]) -> bool {
        pairs.len() / 2 == self.master_fields.len()
            && pairs
                .iter()
                .step_by(2)
                .zip(&self.master_fields)
                .all(|(a, b)| *a == &b[..])
    }

    /// Appends an entry (live, or deleted when loading one).
    fn push_entry(&mut self, id: StreamId, pairs: &[&[u8]], deleted: bool) {
        let same = self.same_as_master(pairs);
        let flags =
            (if deleted { FLAG_DELETED } else { 0 }) | if same { FLAG_SAMEFIELDS } else { 0 };
        self.lp_bytes += Self::item_size(self.master, id, flags, same, pairs);
        self.offsets.push(self.data.len() as u32);
        self.data.push(flags as u8);
        put_varint(&mut self.data, id.ms.wrapping_sub(self.master.ms));
        put_varint(
            &mut self.data,
            zigzag(id.seq.wrapping_sub(self.master.seq) as i64),
        );
        if same {
            for v in pairs.iter().skip(1).step_by(2) {
                put_varint(&mut self.data, v.len() as u64);
                self.data.extend_from_slice(v);
            }
        } else {
            put_varint(&mut self.data, (pairs.len() / 2) as u64);
            for s in pairs {
                put_varint(&mut self.data, s.len() as u64);
                self.data.extend_from_slice(s);
            }
        }
        if deleted {
            self.set_counts(self.live, self.deleted + 1);
        } else {
            self.set_counts(self.live + 1, self.deleted);
        }
    }

    pub(super) fn push(&mut self, id: StreamId, pairs: &[&[u8]]) {
        self.push_entry(id, pairs, false);
    }

    /// Flags entry `i` deleted (its flags stay a 1-byte integer in the listpack: no size
    /// change).
    pub(super) fn mark_deleted(&mut self, i: usize) {
        self.data[self.offsets[i] as usize] |= FLAG_DELETED as u8;
        self.set_counts(self.live - 1, self.deleted + 1);
    }

    /// Flags entries deleted without touching the counters (the caller sets them once).
    pub(super) fn flag_deleted(&mut self, i: usize) {
        self.data[self.offsets[i] as usize] |= FLAG_DELETED as u8;
    }

    pub(super) fn set_live_deleted(&mut self, live: u64, deleted: u64) {
        self.set_counts(live, deleted);
    }

    pub(super) fn heap(&self) -> usize {
        std::mem::size_of::<Node>()
            + self.offsets.capacity() * 4
            + self.data.capacity()
            + self.master_fields.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.master_fields.iter().map(|f| f.len()).sum::<usize>()
    }

    /// Gives unused capacity back (a node that is full takes no more entries).
    pub(super) fn shrink(&mut self) {
        self.offsets.shrink_to_fit();
        self.data.shrink_to_fit();
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
        for item in self.items() {
            let flags = (if item.deleted { FLAG_DELETED } else { 0 })
                | if item.same_fields { FLAG_SAMEFIELDS } else { 0 };
            out.push(int(flags));
            out.push(int(item.id.ms.wrapping_sub(master.ms) as i64));
            out.push(int(item.id.seq.wrapping_sub(master.seq) as i64));
            let n = item.n;
            if item.same_fields {
                out.extend(item.pairs().skip(1).step_by(2).map(|v| v.to_vec()));
                out.push(int(n as i64 + 3));
            } else {
                out.push(int(n as i64));
                out.extend(item.pairs().map(|v| v.to_vec()));
                out.push(int(2 * n as i64 + 4));
            }
        }
        out
    }

    /// A node from the elements of a listpack Redis wrote (RDB, RESTORE). `None` on any
    /// inconsistency: counts that do not add up, IDs out of order or before `master`, a
    /// missing terminator, no live entry.
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
        if live <= 0 || deleted < 0 || nfields < 0 || nfields as usize > elems.len() {
            return None;
        }
        let master_fields: Vec<Box<[u8]>> = (0..nfields)
            .map(|_| next().map(Box::from))
            .collect::<Option<_>>()?;
        if int(next()?)? != 0 {
            return None;
        }
        let mut node = Node {
            master,
            master_fields,
            offsets: Vec::new(),
            data: Vec::new(),
            live: 0,
            deleted: 0,
            lp_bytes: 0,
        };
        node.lp_bytes = LP_OVERHEAD
            + lp_int_size(0)
            + lp_int_size(0)
            + lp_int_size(nfields)
            + node
                .master_fields
                .iter()
                .map(|f| lp_str_size(f))
                .sum::<usize>()
            + lp_int_size(0);
        let masters = node.master_fields.clone();
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
            let mut pairs: Vec<&[u8]> = Vec::new();
            if same_fields {
                for f in &masters {
                    pairs.push(f);
                    pairs.push(next()?);
                }
            } else {
                let n = int(next()?)?;
                if n < 0 || n as usize > elems.len() {
                    return None;
                }
                for _ in 0..2 * n {
                    pairs.push(next()?);
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
            node.push_entry(id, &pairs, flags & FLAG_DELETED != 0);
        }
        if node.live as i64 != live || node.deleted as i64 != deleted {
            return None;
        }
        node.shrink();
        Some(node)
    }
}
