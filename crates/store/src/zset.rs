//! Sorted sets: members ordered by (score, member bytes), as Redis orders them.
//!
//! Small sorted sets (Redis's `zset-max-listpack-entries` 128 / `-value` 64) are one packed
//! buffer of `[score][varint length][member]` entries in order (integral scores as varints),
//! a few bytes per element where a tree would spend two allocations and a node; every
//! operation on them is a linear scan of at most 128 entries, as on Redis's listpack.
//!
//! Larger ones are a *chunked sorted list* (the layout of Python's `sortedcontainers`) plus a
//! member → score map: chunks of at most [`CHUNK_MAX`] entries, split when full. Rank, range
//! and insert cost one pass over the chunk list (n/128 comparisons) plus a binary search and a
//! short `memmove` inside one chunk, which for the sizes a cache holds is as fast as Redis's
//! skiplist and uses less memory (no per-node levels). ZSCORE is one map lookup.
//!
//! Invariants: no NaN score is ever stored; no member appears twice; chunks are non-empty and
//! concatenated they are sorted; `scores` holds exactly the members of the chunks.

use std::cmp::Ordering;

use crate::value::{get_varint, put_varint};

/// Largest chunk of the big form; a full chunk splits in two halves.
const CHUNK_MAX: usize = 256;

/// Member → score, in an insertion-ordered map so that ZSCAN can walk it by position
/// ([`crate::cursor`]); a removal moves the last member into the hole.
type ScoreMap = indexmap::IndexMap<Box<[u8]>, f64, foldhash::fast::RandomState>;

/// Redis's order: by score, then by member bytes (shorter first on a common prefix).
pub fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    match a.0.partial_cmp(&b.0) {
        Some(Ordering::Equal) | None => a.1.cmp(b.1),
        Some(o) => o,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    Packed { buf: Vec<u8>, len: usize },
    Chunked(Box<Chunked>),
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Chunked {
    chunks: Vec<Vec<(f64, Box<[u8]>)>>,
    scores: ScoreMap,
    /// The members' heap bytes (each rounded to its allocation class), kept as members come
    /// and go: `heap_size` runs on every write, and summing a big set there made each ZADD
    /// cost O(members).
    member_bytes: usize,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            repr: Repr::Packed {
                buf: Vec::new(),
                len: 0,
            },
        }
    }
}

/// Iterates a packed buffer: (score, member, byte span of the entry).
fn packed(buf: &[u8]) -> impl Iterator<Item = (f64, &[u8], std::ops::Range<usize>)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (score, p) = get_score(buf, at);
        let (n, p) = get_varint(buf, p);
        at = p + n;
        Some((score, &buf[p..p + n], start..at))
    })
}

/// Largest magnitude stored as an integer score (every such integer is exact in an f64).
const INT_SCORE_MAX: f64 = (1u64 << 53) as f64;

/// Scores are mostly integers (ranks, counts, timestamps), which a listpack stores in a few
/// bytes; so do we: a varint of `zigzag(n) << 1` for an integral score, or a `1` byte and
/// the 8-byte double otherwise.
fn put_score(out: &mut Vec<u8>, score: f64) {
    if score.fract() == 0.0 && score.abs() < INT_SCORE_MAX {
        let n = score as i64;
        let zigzag = ((n << 1) ^ (n >> 63)) as u64;
        put_varint(out, (zigzag << 1) as usize);
    } else {
        out.push(1);
        out.extend_from_slice(&score.to_le_bytes());
    }
}

fn get_score(buf: &[u8], at: usize) -> (f64, usize) {
    let (v, p) = get_varint(buf, at);
    if v & 1 == 1 {
        let bytes = buf[p..p + 8].try_into().expect("8 bytes");
        (f64::from_le_bytes(bytes), p + 8)
    } else {
        let zigzag = (v >> 1) as u64;
        let n = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        (n as f64, p)
    }
}

/// Encodes one packed entry. A listpack stores `-0` as the integer 0, so Redis reports the
/// score of a small sorted set as `0` where a skiplist would keep `-0`; so do we.
fn packed_entry(score: f64, m: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(m.len() + 10);
    put_entry(&mut v, score, m);
    v
}

/// Appends one packed entry (see [`packed_entry`]).
fn put_entry(out: &mut Vec<u8>, score: f64, m: &[u8]) {
    let score = if score == 0.0 { 0.0 } else { score };
    put_score(out, score);
    put_varint(out, m.len());
    out.extend_from_slice(m);
}

impl Chunked {
    fn len(&self) -> usize {
        self.scores.len()
    }

    /// The first position whose entry fails `pred` (`pred` true on a prefix of the order).
    fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut before = 0;
        for chunk in &self.chunks {
            let (s, m) = chunk.last().expect("chunks are non-empty");
            if pred(*s, m) {
                before += chunk.len();
                continue;
            }
            return before + chunk.partition_point(|(s, m)| pred(*s, m));
        }
        before
    }

    /// (chunk, offset) of position `i < len`.
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (c, chunk) in self.chunks.iter().enumerate() {
            if i < chunk.len() {
                return (c, i);
            }
            i -= chunk.len();
        }
        unreachable!("position in range")
    }

    /// The first chunk whose last entry is not ordered before `key`.
    fn chunk_for(&self, key: (f64, &[u8])) -> Option<usize> {
        self.chunks.iter().position(|ch| {
            let (s, lm) = ch.last().expect("non-empty");
            order((*s, lm), key) != Ordering::Less
        })
    }

    fn insert_new(&mut self, score: f64, m: &[u8]) {
        self.scores.insert(m.into(), score);
        self.member_bytes += crate::value::element_heap(m.len());
        let key = (score, m);
        // `m` is absent, so no chunk ends with `key` itself.
        let c = self
            .chunk_for(key)
            .unwrap_or(self.chunks.len().saturating_sub(1));
        if self.chunks.is_empty() {
            self.chunks.push(Vec::new());
        }
        let chunk = &mut self.chunks[c];
        let at = chunk.partition_point(|(s, lm)| order((*s, lm), key) == Ordering::Less);
        chunk.insert(at, (score, m.into()));
        if chunk.len() > CHUNK_MAX {
            let upper = chunk.split_off(chunk.len() / 2);
            self.chunks.insert(c + 1, upper);
        }
    }

    fn remove_known(&mut self, score: f64, m: &[u8]) {
        let key = (score, m);
        let c = self.chunk_for(key).expect("member is in a chunk");
        let chunk = &mut self.chunks[c];
        let at = chunk.partition_point(|(s, lm)| order((*s, lm), key) == Ordering::Less);
        debug_assert_eq!(&*chunk[at].1, m);
        chunk.remove(at);
        if chunk.is_empty() {
            self.chunks.remove(c);
        }
    }
}

impl ZSet {
    /// Builds a sorted set from pairs (later duplicates win), choosing the encoding by the
    /// final size as Redis does for ZUNIONSTORE and friends.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], f64)>) -> ZSet {
        let mut big = Chunked::default();
        for (m, s) in pairs {
            if let Some(old) = big.scores.get(m).copied() {
                big.remove_known(old, m);
            }
            big.insert_new(s, m);
        }
        let limits = crate::limits::current();
        let fits = big.len() <= limits.zset_entries
            && big.scores.keys().all(|m| m.len() <= limits.zset_value);
        if fits {
            let mut buf = Vec::new();
            for (s, m) in big.chunks.iter().flatten() {
                buf.extend_from_slice(&packed_entry(*s, m));
            }
            buf.shrink_to_fit();
            ZSet {
                repr: Repr::Packed {
                    buf,
                    len: big.len(),
                },
            }
        } else {
            ZSet {
                repr: Repr::Chunked(Box::new(big)),
            }
        }
    }

    /// Builds a sorted set from pairs read from a snapshot or a DUMP payload; `None` when a
    /// member repeats or a score is NaN, which Redis refuses to load. Pairs already in
    /// order (as a listpack or a skiplist is written) make a small set in one step.
    pub fn from_unique_pairs<'a, I>(pairs: I) -> Option<ZSet>
    where
        I: IntoIterator<Item = (&'a [u8], f64)>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let pairs = pairs.into_iter();
        if pairs.clone().any(|(_, s)| s.is_nan()) {
            return None;
        }
        let limits = crate::limits::current();
        let mut next = pairs.clone();
        next.next();
        let sorted = pairs
            .clone()
            .zip(next)
            .all(|(a, b)| order((a.1, a.0), (b.1, b.0)) == Ordering::Less);
        let fits = pairs.len() <= limits.zset_entries
            && pairs.clone().all(|(m, _)| m.len() <= limits.zset_value);
        if sorted && fits {
            if !crate::value::all_distinct(pairs.clone().map(|(m, _)| m)) {
                return None;
            }
            let count = pairs.len();
            let mut buf = Vec::with_capacity(pairs.clone().map(|(m, _)| m.len() + 3).sum());
            for (m, s) in pairs {
                put_entry(&mut buf, s, m);
            }
            return Some(ZSet {
                repr: Repr::Packed { buf, len: count },
            });
        }
        let mut z = ZSet::default();
        for (m, s) in pairs {
            if !z.insert(m, s) {
                return None;
            }
        }
        Some(z)
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { len, .. } => *len,
            Repr::Chunked(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed { .. } => "listpack",
            Repr::Chunked(_) => "skiplist",
        }
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed { buf, .. } => packed(buf).find(|(_, e, _)| *e == m).map(|(s, _, _)| s),
            Repr::Chunked(c) => c.scores.get(m).copied(),
        }
    }

    /// Moves to the big form when Redis would leave listpack.
    fn grow_for(&mut self, m: &[u8]) {
        let limits = crate::limits::current();
        if let Repr::Packed { len, .. } = &self.repr {
            if m.len() > limits.zset_value || *len >= limits.zset_entries {
                self.convert_to_skiplist();
            }
        }
    }

    /// Moves to the big form (`skiplist`) whatever the size: Redis's SORT converts a sorted
    /// set so before reading it, and OBJECT ENCODING shows it afterwards.
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Packed { buf, len } = &self.repr {
            let mut big = Chunked::default();
            big.chunks.push(Vec::with_capacity(*len));
            for (s, e, _) in packed(buf) {
                big.scores.insert(e.into(), s);
                big.chunks[0].push((s, e.into()));
                big.member_bytes += crate::value::element_heap(e.len());
            }
            if big.chunks[0].is_empty() {
                big.chunks.clear();
            }
            self.repr = Repr::Chunked(Box::new(big));
        }
    }

    /// Sets `m`'s score (adding it when absent); true when it was added. `score` is not NaN.
    pub fn insert(&mut self, m: &[u8], score: f64) -> bool {
        debug_assert!(!score.is_nan());
        let existed = self.remove(m);
        self.grow_for(m);
        match &mut self.repr {
            Repr::Packed { buf, len } => {
                let at = packed(buf)
                    .find(|(s, e, _)| order((*s, e), (score, m)) == Ordering::Greater)
                    .map_or(buf.len(), |(_, _, r)| r.start);
                let piece = packed_entry(score, m);
                buf.reserve_exact(piece.len());
                buf.splice(at..at, piece);
                *len += 1;
            }
            Repr::Chunked(c) => c.insert_new(score, m),
        }
        !existed
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed { buf, len } => {
                let Some(span) = packed(buf).find(|(_, e, _)| *e == m).map(|(_, _, r)| r) else {
                    return false;
                };
                buf.drain(span);
                *len -= 1;
                true
            }
            Repr::Chunked(c) => match c.scores.swap_remove(m) {
                Some(s) => {
                    c.remove_known(s, m);
                    c.member_bytes -= crate::value::element_heap(m.len());
                    true
                }
                None => false,
            },
        }
    }

    /// The first position whose entry fails `pred`; `pred(score, member)` must hold on a
    /// prefix of the order (e.g. "score < min").
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed { buf, len } => packed(buf)
                .position(|(s, e, _)| !pred(s, e))
                .unwrap_or(*len),
            Repr::Chunked(c) => c.partition_point(pred),
        }
    }

    /// 0-based ascending rank of `m`.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let score = self.score(m)?;
        Some(self.partition_point(|s, e| order((s, e), (score, m)) == Ordering::Less))
    }

    /// Entries at positions `start..end` in ascending order (`end` clamped to the length).
    pub fn range(&self, start: usize, end: usize) -> Vec<(&[u8], f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(end - start);
        match &self.repr {
            Repr::Packed { buf, .. } => out.extend(
                packed(buf)
                    .skip(start)
                    .take(end - start)
                    .map(|(s, e, _)| (e, s)),
            ),
            Repr::Chunked(c) => {
                let (ci, off) = c.locate(start);
                out.extend(
                    c.chunks[ci..]
                        .iter()
                        .flatten()
                        .skip(off)
                        .take(end - start)
                        .map(|(s, e)| (&**e, *s)),
                );
            }
        }
        out
    }

    /// Entries from position `start` on, in ascending order.
    pub fn iter_from(&self, start: usize) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        if start >= self.len() {
            return Box::new(std::iter::empty());
        }
        match &self.repr {
            Repr::Packed { buf, .. } => Box::new(packed(buf).skip(start).map(|(s, e, _)| (e, s))),
            Repr::Chunked(c) => {
                let (ci, off) = c.locate(start);
                Box::new(
                    c.chunks[ci..]
                        .iter()
                        .flatten()
                        .skip(off)
                        .map(|(s, e)| (&**e, *s)),
                )
            }
        }
    }

    /// For ZSCAN: the number of positions a cursor walks over ([`crate::cursor`]) for the
    /// big form; `None` for a packed set, which a scan returns whole (as Redis does a
    /// listpack).
    pub fn cursor_len(&self) -> Option<usize> {
        match &self.repr {
            Repr::Packed { .. } => None,
            Repr::Chunked(c) => Some(c.scores.len()),
        }
    }

    /// The member and score at position `i` of the big form's member map.
    pub fn member_at(&self, i: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Packed { .. } => None,
            Repr::Chunked(c) => c.scores.get_index(i).map(|(m, s)| (&**m, *s)),
        }
    }

    /// Every entry in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match &self.repr {
            Repr::Packed { buf, .. } => Box::new(packed(buf).map(|(s, e, _)| (e, s))),
            Repr::Chunked(c) => Box::new(c.chunks.iter().flatten().map(|(s, e)| (&**e, *s))),
        }
    }

    /// Removes and returns the entries at positions `start..end` (ascending).
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Vec<u8>, f64)> {
        let removed: Vec<(Vec<u8>, f64)> = self
            .range(start, end)
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        match &mut self.repr {
            Repr::Packed { buf, len } => {
                let spans: Vec<_> = packed(buf)
                    .skip(start)
                    .take(removed.len())
                    .map(|(_, _, r)| r)
                    .collect();
                if let (Some(first), Some(last)) = (spans.first(), spans.last()) {
                    buf.drain(first.start..last.end);
                }
                *len -= removed.len();
            }
            Repr::Chunked(_) => {
                for (m, _) in &removed {
                    self.remove(m);
                }
            }
        }
        removed
    }

    /// Approximate heap bytes, for accounting.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed { buf, .. } => (buf.capacity() + 15) & !15,
            Repr::Chunked(c) => {
                let members = c.member_bytes;
                // The member map: an entry (hash, key, score) and an index slot with its
                // control byte per member.
                64 + c.scores.capacity() * (8 + 16 + 8 + 8 + 1)
                    + c.chunks.capacity() * 24
                    + c.chunks.iter().map(|ch| ch.capacity() * 24).sum::<usize>()
                    + 2 * members
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn model_order(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| order((a.1, &a.0), (b.1, &b.0)));
        v
    }

    proptest! {
        /// Both forms, across the conversion, keep Redis's order, ranks and scores.
        #[test]
        fn zset_matches_a_model(ops in proptest::collection::vec((0u8..4, 0u16..700, -20i32..20, 0usize..70), 1..1500)) {
            let mut z = ZSet::default();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for (op, m, s, len) in ops {
                let mut member = format!("m{m}").into_bytes();
                if len > 66 { member.resize(len, b'x'); }
                let score = match s { -20 => f64::NEG_INFINITY, 19 => 9.5e15, 18 => -1e300, _ => s as f64 / 2.0 };
                match op {
                    0 | 1 => prop_assert_eq!(z.insert(&member, score), model.insert(member.clone(), score).is_none()),
                    2 => prop_assert_eq!(z.remove(&member), model.remove(&member).is_some()),
                    _ => {
                        let n = (m as usize % 5).min(z.len());
                        let removed = z.remove_range(0, n);
                        for (r, _) in &removed { model.remove(r); }
                    }
                }
                prop_assert_eq!(z.len(), model.len());
            }
            let expected = model_order(&model);
            let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            prop_assert_eq!(&got, &expected);
            for (i, (m, s)) in expected.iter().enumerate() {
                prop_assert_eq!(z.rank(m), Some(i));
                prop_assert_eq!(z.score(m), Some(*s));
            }
            let mid = expected.len() / 3;
            let got: Vec<(Vec<u8>, f64)> = z.range(mid, mid + 7).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
            prop_assert_eq!(&got[..], &expected[mid..(mid + 7).min(expected.len())]);
            let below = z.partition_point(|s, _| s < 0.0);
            prop_assert_eq!(below, expected.iter().filter(|(_, s)| *s < 0.0).count());
            // The byte count kept as members come and go is the one a full count gives.
            if let Repr::Chunked(c) = &z.repr {
                let full: usize = c.scores.keys().map(|m| crate::value::element_heap(m.len())).sum();
                prop_assert_eq!(c.member_bytes, full);
            }
        }
    }

    #[test]
    fn encoding_follows_redis_limits() {
        let mut z = ZSet::default();
        for i in 0..128 {
            z.insert(format!("{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"x", 0.0);
        assert_eq!(z.encoding(), "skiplist");
        let small = ZSet::from_pairs([(&b"a"[..], 1.0)]);
        assert_eq!(small.encoding(), "listpack");
        let long = [b'a'; 65];
        let mut z = ZSet::default();
        z.insert(&long, 1.0);
        assert_eq!(z.encoding(), "skiplist");
    }
}
