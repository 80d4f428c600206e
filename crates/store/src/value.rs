//! Values and their encodings.
//!
//! Strings keep Redis's three encodings because `OBJECT ENCODING` exposes them and clients and
//! tests read it: `int` for canonical integers (stored as an `i64`, 8 bytes instead of a heap
//! string), `embstr` for strings of at most 44 bytes written whole, `raw` for longer strings
//! and for strings modified in place (APPEND, SETRANGE).

use std::borrow::Cow;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

#[derive(Debug, Clone, PartialEq)]
pub enum Str {
    Int(i64),
    Emb(Box<[u8]>),
    Raw(Vec<u8>),
}

impl Str {
    /// Encodes a value written whole (SET, MSET, GETSET, ...) as Redis's `tryObjectEncoding`.
    pub fn from_bytes(b: &[u8]) -> Str {
        if b.len() <= 20 {
            if let Some(n) = resp::number::parse_i64(b) {
                return Str::Int(n);
            }
        }
        Str::from_bytes_no_int(b)
    }

    /// Encodes as `embstr`/`raw` without trying the integer form (INCRBYFLOAT's result).
    pub fn from_bytes_no_int(b: &[u8]) -> Str {
        if b.len() <= EMBSTR_MAX {
            Str::Emb(b.into())
        } else {
            Str::Raw(b.to_vec())
        }
    }

    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Str::Int(n) => Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Str::Emb(b) => Cow::Borrowed(b),
            Str::Raw(v) => Cow::Borrowed(v),
        }
    }

    /// Calls `f` with the bytes, formatting integers on the stack.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Str::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Str::Emb(b) => f(b),
            Str::Raw(v) => f(v),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(*n).len(),
            Str::Emb(b) => b.len(),
            Str::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Emb(_) => "embstr",
            Str::Raw(_) => "raw",
        }
    }

    /// The value as an integer, when it is one by Redis's rules.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Str::Int(n) => Some(*n),
            other => other.with_bytes(resp::number::parse_i64),
        }
    }

    /// Turns the value into a `raw` string for in-place modification.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Str::Raw(_)) {
            *self = Str::Raw(self.bytes().into_owned());
        }
        match self {
            Str::Raw(v) => v,
            _ => unreachable!("just made raw"),
        }
    }

    /// Heap bytes used by the payload (for MEMORY USAGE and accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Int(_) => 0,
            Str::Emb(b) => b.len(),
            Str::Raw(v) => v.capacity(),
        }
    }
}

/// A value in the keyspace. More types arrive with the data-types issue; every command checks
/// the variant and answers `WRONGTYPE` for the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str),
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<crate::zset::ZSet>),
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::List(_) => "quicklist",
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    pub fn as_str(&self) -> Option<&Str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Str::from_bytes(b"123").encoding(), "int");
        assert_eq!(Str::from_bytes(b"-5").encoding(), "int");
        assert_eq!(Str::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut s = Str::from_bytes(b"12");
        s.make_raw().extend_from_slice(b"3");
        assert_eq!(s.encoding(), "raw");
        assert_eq!(s.as_i64(), Some(123));
        assert_eq!(&*s.bytes(), b"123");
    }
}

type HashMap = indexmap::IndexMap<Box<[u8]>, Box<[u8]>, foldhash::fast::RandomState>;

/// A hash. Fields keep insertion order, as a Redis listpack does (HGETALL answers in the same
/// order), and deletion keeps the order of the rest.
///
/// Small hashes (within Redis's `hash-max-listpack-entries` and `-value`, 512 fields of at
/// most 64 bytes by default: [`crate::limits`]) are packed into one buffer of length-prefixed
/// field/value pairs, a few bytes of overhead per field instead of two allocations and a map
/// slot; operations on them are linear scans, as on Redis's listpack. Past the limits a hash
/// becomes an insertion-ordered map (`hashtable`), and, as in Redis, stays one.
#[derive(Debug, Clone, PartialEq)]
pub struct Hash {
    repr: HashRepr,
}

#[derive(Debug, Clone, PartialEq)]
enum HashRepr {
    Packed {
        buf: Vec<u8>,
        len: usize,
    },
    /// Boxed so the small, common form keeps `Hash` at 32 bytes.
    Map(Box<Counted<HashMap>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            repr: HashRepr::Packed {
                buf: Vec::new(),
                len: 0,
            },
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn get_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

/// Iterates a packed buffer: (field, value, start..end of the whole pair).
fn packed_pairs(buf: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], std::ops::Range<usize>)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (flen, p) = get_varint(buf, at);
        let field = &buf[p..p + flen];
        let (vlen, q) = get_varint(buf, p + flen);
        let value = &buf[q..q + vlen];
        at = q + vlen;
        Some((field, value, start..at))
    })
}

impl Hash {
    pub fn len(&self) -> usize {
        match &self.repr {
            HashRepr::Packed { len, .. } => *len,
            HashRepr::Map(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            HashRepr::Packed { buf, .. } => packed_pairs(buf)
                .find(|(f, _, _)| *f == field)
                .map(|(_, v, _)| v),
            HashRepr::Map(m) => m.get(field).map(|v| &**v),
        }
    }

    /// Builds a hash from pairs read from a snapshot or a DUMP payload in one step (one
    /// allocation for a small hash); `None` when a field repeats, which Redis refuses to load.
    pub fn from_unique_pairs<'a, I>(pairs: I) -> Option<Hash>
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let pairs = pairs.into_iter();
        let count = pairs.len();
        let limits = crate::limits::current();
        let packed = count <= limits.hash_entries
            && pairs
                .clone()
                .all(|(f, v)| f.len() <= limits.hash_value && v.len() <= limits.hash_value);
        if !packed {
            let mut m = HashMap::with_capacity_and_hasher(count, Default::default());
            let mut bytes = 0;
            for (f, v) in pairs {
                if m.insert(f.into(), v.into()).is_some() {
                    return None;
                }
                bytes += element_heap(f.len()) + element_heap(v.len());
            }
            return Some(Hash {
                repr: HashRepr::Map(Box::new(Counted { table: m, bytes })),
            });
        }
        if !all_distinct(pairs.clone().map(|(f, _)| f)) {
            return None;
        }
        let size = pairs.clone().map(|(f, v)| f.len() + v.len() + 2).sum();
        let mut buf = Vec::with_capacity(size);
        for (f, v) in pairs {
            put_varint(&mut buf, f.len());
            buf.extend_from_slice(f);
            put_varint(&mut buf, v.len());
            buf.extend_from_slice(v);
        }
        Some(Hash {
            repr: HashRepr::Packed { buf, len: count },
        })
    }

    fn convert_to_map(&mut self) {
        if let HashRepr::Packed { buf, .. } = &self.repr {
            let map: HashMap = packed_pairs(buf)
                .map(|(f, v, _)| (f.into(), v.into()))
                .collect();
            let bytes = map
                .iter()
                .map(|(f, v)| element_heap(f.len()) + element_heap(v.len()))
                .sum();
            self.repr = HashRepr::Map(Box::new(Counted { table: map, bytes }));
        }
    }

    /// Sets a field; true when it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let HashRepr::Packed { len, .. } = &self.repr {
            let limits = crate::limits::current();
            let too_long = field.len() > limits.hash_value || value.len() > limits.hash_value;
            let too_many = *len >= limits.hash_entries && self.get(field).is_none();
            if too_long || too_many {
                self.convert_to_map();
            }
        }
        match &mut self.repr {
            HashRepr::Packed { buf, len } => {
                let mut pair = Vec::with_capacity(field.len() + value.len() + 4);
                put_varint(&mut pair, field.len());
                pair.extend_from_slice(field);
                put_varint(&mut pair, value.len());
                pair.extend_from_slice(value);
                let existing = packed_pairs(buf)
                    .find(|(f, _, _)| *f == field)
                    .map(|(_, _, r)| r);
                match existing {
                    Some(span) => {
                        buf.splice(span, pair);
                        false
                    }
                    None => {
                        // Exact growth, as a listpack reallocates per insert: doubling would
                        // leave up to half of every small hash's buffer unused.
                        buf.reserve_exact(pair.len());
                        buf.extend_from_slice(&pair);
                        *len += 1;
                        true
                    }
                }
            }
            HashRepr::Map(m) => match m.table.get_mut(field) {
                Some(v) => {
                    m.bytes = m.bytes - element_heap(v.len()) + element_heap(value.len());
                    *v = value.into();
                    false
                }
                None => {
                    m.table.insert(field.into(), value.into());
                    m.bytes += element_heap(field.len()) + element_heap(value.len());
                    true
                }
            },
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            HashRepr::Packed { buf, len } => {
                let existing = packed_pairs(buf)
                    .find(|(f, _, _)| *f == field)
                    .map(|(_, _, r)| r);
                match existing {
                    Some(span) => {
                        buf.drain(span);
                        *len -= 1;
                        if buf.capacity() > 2 * buf.len() + 64 {
                            buf.shrink_to_fit();
                        }
                        true
                    }
                    None => false,
                }
            }
            HashRepr::Map(m) => match m.table.shift_remove(field) {
                Some(v) => {
                    m.bytes -= element_heap(field.len()) + element_heap(v.len());
                    true
                }
                None => false,
            },
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            HashRepr::Packed { buf, .. } => Box::new(packed_pairs(buf).map(|(f, v, _)| (f, v))),
            HashRepr::Map(m) => Box::new(m.iter().map(|(k, v)| (&**k, &**v))),
        }
    }

    /// For HSCAN: the number of positions a cursor walks over ([`crate::cursor`]), for a
    /// hash table; `None` for a packed hash, which a scan returns whole (as Redis does a
    /// listpack).
    pub fn cursor_len(&self) -> Option<usize> {
        match &self.repr {
            HashRepr::Packed { .. } => None,
            HashRepr::Map(m) => Some(m.len()),
        }
    }

    /// The `i`th field/value in insertion order.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            HashRepr::Packed { .. } => self.iter().nth(i),
            HashRepr::Map(m) => m.get_index(i).map(|(k, v)| (&**k, &**v)),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            HashRepr::Packed { .. } => "listpack",
            HashRepr::Map(_) => "hashtable",
        }
    }

    /// Approximate heap bytes, for accounting.
    pub fn heap_size(&self) -> usize {
        let round = |n: usize| (n + 15) & !15;
        match &self.repr {
            HashRepr::Packed { buf, .. } => round(buf.capacity()),
            HashRepr::Map(m) => m.capacity() * (8 + 32 + 8) + m.bytes,
        }
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The packed and map forms behave like an insertion-ordered map, across conversion.
        #[test]
        fn hash_matches_an_ordered_model(ops in proptest::collection::vec((0u8..3, 0u8..200, 0usize..80), 1..600)) {
            let mut h = Hash::default();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (op, f, vlen) in ops {
                let field = format!("f{f}").into_bytes();
                match op {
                    0 | 1 => {
                        let value = vec![b'v'; vlen];
                        let new = h.insert(&field, &value);
                        match model.iter_mut().find(|(k, _)| *k == field) {
                            Some(slot) => { prop_assert!(!new); slot.1 = value; }
                            None => { prop_assert!(new); model.push((field, value)); }
                        }
                    }
                    _ => {
                        let had = model.iter().position(|(k, _)| *k == field);
                        prop_assert_eq!(h.remove(&field), had.is_some());
                        if let Some(i) = had { model.remove(i); }
                    }
                }
                prop_assert_eq!(h.len(), model.len());
            }
            let got: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(got, model.clone());
            for (f, v) in &model {
                prop_assert_eq!(h.get(f), Some(&v[..]));
            }
            // The byte count kept as fields come and go is the one a full count gives.
            if let HashRepr::Map(m) = &h.repr {
                let full: usize = m.iter().map(|(f, v)| element_heap(f.len()) + element_heap(v.len())).sum();
                prop_assert_eq!(m.bytes, full);
            }
        }
    }
}

/// Lists up to this many elements, each at most [`LIST_PACKED_VALUE`] bytes, are packed.
pub const LIST_PACKED_ENTRIES: usize = 128;
pub const LIST_PACKED_VALUE: usize = 64;

/// A list (Redis 7.0 reports every list as `quicklist`). Small lists are one buffer of
/// length-prefixed elements (like a quicklist node's listpack); operations on them are
/// linear in at most 128 elements. Longer lists are a ring buffer of elements.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    repr: ListRepr,
}

#[derive(Debug, Clone, PartialEq)]
enum ListRepr {
    Packed {
        buf: Vec<u8>,
        len: usize,
    },
    /// Boxed with its byte count, so the small form keeps `List` as small as it was.
    Deque(Box<Counted<Ring>>),
}

type Ring = std::collections::VecDeque<Box<[u8]>>;

/// A ring buffer counted: the elements' heap bytes computed once.
fn counted_ring(ring: Ring) -> Box<Counted<Ring>> {
    let bytes = ring.iter().map(|e| element_heap(e.len())).sum();
    Box::new(Counted { table: ring, bytes })
}

impl Default for List {
    fn default() -> Self {
        List {
            repr: ListRepr::Packed {
                buf: Vec::new(),
                len: 0,
            },
        }
    }
}

/// Elements of a packed list with their spans.
fn packed_elements(buf: &[u8]) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (n, p) = get_varint(buf, at);
        at = p + n;
        Some((&buf[p..p + n], start..at))
    })
}

fn packed_element(e: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(e.len() + 2);
    put_varint(&mut v, e.len());
    v.extend_from_slice(e);
    v
}

impl List {
    pub fn len(&self) -> usize {
        match &self.repr {
            ListRepr::Packed { len, .. } => *len,
            ListRepr::Deque(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds a list from its elements in order in one step (one allocation for a small
    /// list), as a snapshot or a DUMP payload holds them.
    pub fn from_elements<'a, I>(elements: I) -> List
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let elements = elements.into_iter();
        let count = elements.len();
        let packed =
            count <= LIST_PACKED_ENTRIES && elements.clone().all(|e| e.len() <= LIST_PACKED_VALUE);
        if !packed {
            return List {
                repr: ListRepr::Deque(counted_ring(elements.map(Box::from).collect())),
            };
        }
        let size = elements.clone().map(|e| e.len() + 1).sum();
        let mut buf = Vec::with_capacity(size);
        for e in elements {
            put_varint(&mut buf, e.len());
            buf.extend_from_slice(e);
        }
        List {
            repr: ListRepr::Packed { buf, len: count },
        }
    }

    /// Switches to the ring buffer when an insert of `e` would pass the packed limits.
    fn grow_for(&mut self, e: &[u8]) {
        if let ListRepr::Packed { buf, len } = &self.repr {
            if e.len() > LIST_PACKED_VALUE || *len >= LIST_PACKED_ENTRIES {
                let d = packed_elements(buf).map(|(e, _)| e.into()).collect();
                self.repr = ListRepr::Deque(counted_ring(d));
            }
        }
    }

    fn span_of(buf: &[u8], i: usize) -> Option<std::ops::Range<usize>> {
        packed_elements(buf).nth(i).map(|(_, r)| r)
    }

    /// Inserts `e` so that it becomes element `i` (0 = head, len = tail).
    pub fn insert(&mut self, i: usize, e: &[u8]) {
        self.grow_for(e);
        match &mut self.repr {
            ListRepr::Packed { buf, len } => {
                let at = if i >= *len {
                    buf.len()
                } else {
                    Self::span_of(buf, i).expect("in range").start
                };
                if at == buf.len() {
                    buf.reserve_exact(e.len() + 2);
                    put_varint(buf, e.len());
                    buf.extend_from_slice(e);
                } else {
                    let piece = packed_element(e);
                    buf.reserve_exact(piece.len());
                    buf.splice(at..at, piece);
                }
                *len += 1;
            }
            ListRepr::Deque(d) => {
                let at = i.min(d.len());
                d.table.insert(at, e.into());
                d.bytes += element_heap(e.len());
            }
        }
    }

    pub fn push_front(&mut self, e: &[u8]) {
        self.insert(0, e);
    }

    pub fn push_back(&mut self, e: &[u8]) {
        let n = self.len();
        self.insert(n, e);
    }

    /// Removes element `i`.
    pub fn remove(&mut self, i: usize) -> Option<Vec<u8>> {
        match &mut self.repr {
            ListRepr::Packed { buf, len } => {
                let span = Self::span_of(buf, i)?;
                let (n, p) = get_varint(buf, span.start);
                let e = buf[p..p + n].to_vec();
                buf.drain(span);
                *len -= 1;
                Some(e)
            }
            ListRepr::Deque(d) => {
                let e = d.table.remove(i)?;
                d.bytes -= element_heap(e.len());
                Some(e.into_vec())
            }
        }
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        self.remove(0)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let n = self.len();
        n.checked_sub(1).and_then(|last| self.remove(last))
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            ListRepr::Packed { buf, .. } => packed_elements(buf).nth(i).map(|(e, _)| e),
            ListRepr::Deque(d) => d.get(i).map(|e| &**e),
        }
    }

    /// Replaces element `i`; false when out of range.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        if i >= self.len() {
            return false;
        }
        self.grow_for(e);
        match &mut self.repr {
            ListRepr::Packed { buf, .. } => {
                let span = Self::span_of(buf, i).expect("in range");
                buf.splice(span, packed_element(e));
            }
            ListRepr::Deque(d) => {
                d.bytes = d.bytes - element_heap(d.table[i].len()) + element_heap(e.len());
                d.table[i] = e.into();
            }
        }
        true
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.repr {
            ListRepr::Packed { buf, .. } => Box::new(packed_elements(buf).map(|(e, _)| e)),
            ListRepr::Deque(d) => Box::new(d.iter().map(|e| &**e)),
        }
    }

    /// Keeps only elements `start..=end` (indexes already clamped by the caller).
    pub fn keep_range(&mut self, start: usize, end: usize) {
        match &mut self.repr {
            ListRepr::Packed { buf, len } => {
                let spans: Vec<_> = packed_elements(buf).map(|(_, r)| r).collect();
                let (from, to) = (spans[start].start, spans[end].end);
                buf.truncate(to);
                buf.drain(..from);
                buf.shrink_to_fit();
                *len = end - start + 1;
            }
            ListRepr::Deque(d) => {
                // Only the dropped elements are visited (LTRIM costs what it removes).
                let gone: usize = d
                    .table
                    .range(..start)
                    .chain(d.table.range(end + 1..))
                    .map(|e| element_heap(e.len()))
                    .sum();
                d.bytes -= gone;
                d.table.truncate(end + 1);
                d.table.drain(..start);
            }
        }
    }

    pub fn clear(&mut self) {
        *self = List::default();
    }

    /// Approximate heap bytes, for accounting.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            ListRepr::Packed { buf, .. } => (buf.capacity() + 15) & !15,
            ListRepr::Deque(d) => 64 + d.capacity() * 16 + d.bytes,
        }
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    proptest! {
        /// Packed and ring-buffer forms behave like a deque, across the conversion.
        #[test]
        fn list_matches_a_deque(ops in proptest::collection::vec((0u8..7, 0usize..200, 0usize..80), 1..500)) {
            let mut l = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (op, i, n) in ops {
                let e = vec![b'a' + (i % 26) as u8; n];
                match op {
                    0 => { l.push_front(&e); model.push_front(e); }
                    1 => { l.push_back(&e); model.push_back(e); }
                    2 => prop_assert_eq!(l.pop_front(), model.pop_front()),
                    3 => prop_assert_eq!(l.pop_back(), model.pop_back()),
                    4 => {
                        let at = i.min(model.len());
                        l.insert(at, &e);
                        model.insert(at, e);
                    }
                    5 => {
                        let ok = l.set(i, &e);
                        prop_assert_eq!(ok, i < model.len());
                        if ok { model[i] = e; }
                    }
                    _ => prop_assert_eq!(l.remove(i), model.remove(i)),
                }
                prop_assert_eq!(l.len(), model.len());
            }
            let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
            prop_assert_eq!(got, model.iter().cloned().collect::<Vec<_>>());
            if !model.is_empty() {
                let (s, e) = (model.len() / 4, model.len() - 1 - model.len() / 4);
                l.keep_range(s, e);
                let kept: Vec<Vec<u8>> = l.iter().map(|x| x.to_vec()).collect();
                prop_assert_eq!(kept, model.range(s..=e).cloned().collect::<Vec<_>>());
            }
            // The byte count kept as elements come and go is the one a full count gives.
            if let ListRepr::Deque(d) = &l.repr {
                prop_assert_eq!(d.bytes, d.iter().map(|e| element_heap(e.len())).sum::<usize>());
            }
        }
    }
}

/// Sets of at most this many members, each at most [`SET_PACKED_VALUE`] bytes, are packed
/// into one buffer (Redis 7.2's `set-max-listpack-*` defaults): one allocation per small set
/// instead of one per member plus a table, and a load from a snapshot builds one in one step.
pub const SET_PACKED_ENTRIES: usize = 128;
pub const SET_PACKED_VALUE: usize = 64;

type SetTable = indexmap::IndexSet<Box<[u8]>, foldhash::fast::RandomState>;

/// A collection's table form with its elements' heap bytes (each rounded to its allocation
/// class), kept as elements come and go: `heap_size` runs on every write for the keyspace's
/// byte count, and summing a big collection there made each write cost O(elements).
/// Reads go through `Deref`; every change must go through the owner's methods, which keep
/// `bytes` (the tests check it against a full count).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counted<T> {
    table: T,
    bytes: usize,
}

impl<T> std::ops::Deref for Counted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.table
    }
}

impl<T: PartialEq> PartialEq for Counted<T> {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
    }
}

/// The heap bytes of one stored element of `n` bytes (allocation classes of 16).
pub(crate) fn element_heap(n: usize) -> usize {
    (n.max(1) + 15) & !15
}

/// A set. Reported as `intset` while every member is an integer and there are at most
/// `set-max-intset-entries` ([`crate::limits`]; then iterated in numeric order, as Redis's
/// intset is), `hashtable` after that — whatever the form it is kept in: small sets are a
/// packed buffer of length-prefixed members (linear scans over at most 128 short members),
/// larger ones a table, and a set that became a table stays one, as in Redis.
#[derive(Debug, Clone)]
pub struct Set {
    repr: SetRepr,
    intset: bool,
}

#[derive(Debug, Clone)]
enum SetRepr {
    Packed { buf: Vec<u8>, len: usize },
    Table(Box<Counted<SetTable>>),
}

impl Default for Set {
    fn default() -> Self {
        Set {
            repr: SetRepr::Packed {
                buf: Vec::new(),
                len: 0,
            },
            intset: true,
        }
    }
}

/// Equal when they hold the same members, whatever their forms and orders.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.members().iter().all(|m| other.contains(m))
    }
}

fn is_int_member(m: &[u8]) -> bool {
    m.len() <= 20 && resp::number::parse_i64(m).is_some()
}

impl Set {
    pub fn len(&self) -> usize {
        match &self.repr {
            SetRepr::Packed { len, .. } => *len,
            SetRepr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            SetRepr::Packed { buf, .. } => packed_elements(buf).any(|(e, _)| e == m),
            SetRepr::Table(t) => t.contains(m),
        }
    }

    /// Builds a set from members read from a snapshot or a DUMP payload in one step (one
    /// allocation for a small set); `None` when a member repeats, which Redis refuses to load.
    pub fn from_unique_members<'a, I>(members: I) -> Option<Set>
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let members = members.into_iter();
        let count = members.len();
        let limits = crate::limits::current();
        let intset = count <= limits.set_intset_entries && members.clone().all(is_int_member);
        let packed =
            count <= SET_PACKED_ENTRIES && members.clone().all(|m| m.len() <= SET_PACKED_VALUE);
        if !packed {
            let mut t = SetTable::with_capacity_and_hasher(count, Default::default());
            let mut bytes = 0;
            for m in members {
                if !t.insert(m.into()) {
                    return None;
                }
                bytes += element_heap(m.len());
            }
            return Some(Set {
                repr: SetRepr::Table(Box::new(Counted { table: t, bytes })),
                intset,
            });
        }
        if !all_distinct(members.clone()) {
            return None;
        }
        let size = members.clone().map(|m| m.len() + 1).sum();
        let mut buf = Vec::with_capacity(size);
        for m in members {
            put_varint(&mut buf, m.len());
            buf.extend_from_slice(m);
        }
        Some(Set {
            repr: SetRepr::Packed { buf, len: count },
            intset,
        })
    }

    fn convert_to_table(&mut self) {
        if let SetRepr::Packed { buf, len } = &self.repr {
            let mut t = SetTable::with_capacity_and_hasher(*len + 1, Default::default());
            t.extend(packed_elements(buf).map(|(e, _)| Box::<[u8]>::from(e)));
            let bytes = t.iter().map(|m| element_heap(m.len())).sum();
            self.repr = SetRepr::Table(Box::new(Counted { table: t, bytes }));
        }
    }

    /// Adds a member; true when it is new.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if let SetRepr::Packed { buf, len } = &self.repr {
            if packed_elements(buf).any(|(e, _)| e == m) {
                return false;
            }
            if *len >= SET_PACKED_ENTRIES || m.len() > SET_PACKED_VALUE {
                self.convert_to_table();
            }
        }
        match &mut self.repr {
            SetRepr::Packed { buf, len } => {
                // Exact growth, as for packed hashes: a small set's buffer has no slack.
                buf.reserve_exact(m.len() + 2);
                put_varint(buf, m.len());
                buf.extend_from_slice(m);
                *len += 1;
            }
            SetRepr::Table(t) => {
                if !t.table.insert(m.into()) {
                    return false;
                }
                t.bytes += element_heap(m.len());
            }
        }
        if self.intset && !is_int_member(m) {
            self.intset = false;
        }
        if self.len() > crate::limits::current().set_intset_entries {
            self.intset = false;
        }
        true
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            SetRepr::Packed { buf, len } => {
                let Some(span) = packed_elements(buf).find(|(e, _)| *e == m).map(|(_, r)| r) else {
                    return false;
                };
                buf.drain(span);
                *len -= 1;
                true
            }
            SetRepr::Table(t) => {
                let removed = t.table.swap_remove(m);
                if removed {
                    t.bytes -= element_heap(m.len());
                }
                removed
            }
        }
    }

    /// For SSCAN: the number of positions a cursor walks over ([`crate::cursor`], members
    /// read with [`Self::get_index`]), for a table that is not reported as an intset;
    /// `None` for the others, which a scan returns whole (Redis does an intset; a packed
    /// set is at most 128 members).
    pub fn cursor_len(&self) -> Option<usize> {
        match &self.repr {
            SetRepr::Table(t) if !self.intset => Some(t.len()),
            _ => None,
        }
    }

    /// Members in Redis's order where it has one (numeric for an intset).
    pub fn members(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = match &self.repr {
            SetRepr::Packed { buf, len } => {
                let mut v = Vec::with_capacity(*len);
                v.extend(packed_elements(buf).map(|(e, _)| e));
                v
            }
            SetRepr::Table(t) => t.iter().map(|m| &**m).collect(),
        };
        if self.intset {
            v.sort_by_key(|m| resp::number::parse_i64(m).unwrap_or(0));
        }
        v
    }

    /// The member at position `i` of the set's own order (for random picks).
    pub fn get_index(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            SetRepr::Packed { buf, .. } => packed_elements(buf).nth(i).map(|(e, _)| e),
            SetRepr::Table(t) => t.get_index(i).map(|m| &**m),
        }
    }

    pub fn encoding(&self) -> &'static str {
        if self.intset {
            "intset"
        } else {
            "hashtable"
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            SetRepr::Packed { buf, .. } => buf.capacity(),
            SetRepr::Table(t) => t.capacity() * (8 + 16 + 8) + t.bytes,
        }
    }
}

/// True when no two of `items` are equal: pairwise for a few (no allocation), by a hash set
/// beyond that.
pub(crate) fn all_distinct<'a>(items: impl ExactSizeIterator<Item = &'a [u8]> + Clone) -> bool {
    if items.len() <= 12 {
        let mut rest = items.clone();
        return items.into_iter().all(|a| {
            rest.next();
            rest.clone().all(|b| a != b)
        });
    }
    let mut seen = foldhash::HashSet::with_capacity_and_hasher(items.len(), Default::default());
    items.into_iter().all(|m| seen.insert(m))
}

impl FromIterator<Vec<u8>> for Set {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(iter: I) -> Self {
        let mut s = Set::default();
        for m in iter {
            s.insert(&m);
        }
        s
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Packed and table forms behave like a set across the conversion, and the encoding
        /// Redis reports follows the members (intset while all are integers and few enough).
        #[test]
        fn set_matches_a_model(ops in proptest::collection::vec((0u8..3, 0u16..300, 0usize..80), 1..700)) {
            let mut s = Set::default();
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            for (op, n, len) in ops {
                let m = if len < 40 { n.to_string().into_bytes() } else { vec![b'a' + (n % 26) as u8; len] };
                match op {
                    0 | 1 => prop_assert_eq!(s.insert(&m), model.insert(m.clone())),
                    _ => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.contains(&m), model.contains(&m));
            }
            let got: BTreeSet<Vec<u8>> = s.members().into_iter().map(|m| m.to_vec()).collect();
            prop_assert_eq!(&got, &model);
            let picked: BTreeSet<Vec<u8>> = (0..s.len()).map(|i| s.get_index(i).unwrap().to_vec()).collect();
            prop_assert_eq!(&picked, &model);
            prop_assert!(s.get_index(s.len()).is_none());
            // The byte count kept as members come and go is the one a full count gives.
            if let SetRepr::Table(t) = &s.repr {
                prop_assert_eq!(t.bytes, t.iter().map(|m| element_heap(m.len())).sum::<usize>());
            }
        }

        /// A set, hash, list or sorted set built in one step from a snapshot's elements
        /// equals the one built element by element; a repeated member or field is refused.
        #[test]
        fn one_step_builders_match_incremental(items in proptest::collection::vec((0u16..400, 0usize..90), 1..300)) {
            let members: Vec<Vec<u8>> = items.iter().map(|&(n, len)| {
                if len < 45 { n.to_string().into_bytes() } else { format!("{n}{}", "x".repeat(len)).into_bytes() }
            }).collect();
            let distinct = members.iter().collect::<BTreeSet<_>>().len() == members.len();

            let built = Set::from_unique_members(members.iter().map(|m| &m[..]));
            let mut by_insert = Set::default();
            let all_new = members.iter().all(|m| by_insert.insert(m));
            prop_assert_eq!(all_new, distinct);
            prop_assert_eq!(built.is_some(), distinct);
            if let Some(b) = built {
                prop_assert_eq!(b.encoding(), by_insert.encoding());
                prop_assert_eq!(b.members(), by_insert.members());
            }

            let pairs: Vec<(Vec<u8>, Vec<u8>)> = members.iter().map(|m| (m.clone(), m.repeat(2))).collect();
            let built = Hash::from_unique_pairs(pairs.iter().map(|(f, v)| (&f[..], &v[..])));
            prop_assert_eq!(built.is_some(), distinct);
            if let Some(b) = built {
                let mut h = Hash::default();
                for (f, v) in &pairs { h.insert(f, v); }
                prop_assert_eq!(b.encoding(), h.encoding());
                prop_assert!(b.iter().eq(h.iter()));
            }

            let l = List::from_elements(members.iter().map(|m| &m[..]));
            let mut by_push = List::default();
            for m in &members { by_push.push_back(m); }
            prop_assert!(l.iter().eq(by_push.iter()));

            let mut scored: Vec<(Vec<u8>, f64)> = members.iter().zip(&items).map(|(m, &(n, _))| (m.clone(), (n % 7) as f64 * 0.5)).collect();
            for sort_first in [false, true] {
                if sort_first {
                    scored.sort_by(|a, b| crate::zset::order((a.1, &a.0), (b.1, &b.0)));
                }
                let built = crate::zset::ZSet::from_unique_pairs(scored.iter().map(|(m, s)| (&m[..], *s)));
                prop_assert_eq!(built.is_some(), distinct);
                if let Some(b) = built {
                    let mut z = crate::zset::ZSet::default();
                    for (m, s) in &scored { z.insert(m, *s); }
                    prop_assert_eq!(b.encoding(), z.encoding());
                    prop_assert!(b.iter().eq(z.iter()));
                }
            }
        }
    }
}
