//! Big collections travel in pieces. A DUMP of a hash with millions of fields would hold its
//! keyspace shard's lock for the whole encoding (and build one huge payload); instead such a
//! key is sent as DEL, then commands of [`PIECE`] elements each (HSET, RPUSH, SADD, ZADD),
//! each piece read under the lock for just that piece, then its expiry. A key that changes
//! while its pieces are read is marked by the mutation seam and sent again, whole, later
//! (at the switch, with the slot paused, nothing changes under it).

use store::ValueRef;

/// Elements per command.
pub const PIECE: usize = 1024;
/// Collections with more elements than this travel in pieces (smaller ones as a DUMP).
pub const BIG: usize = 4 * PIECE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hash,
    List,
    Set,
    ZSet,
}

/// The kind and length of `value` when it is a big collection.
pub fn big(value: &ValueRef<'_>) -> Option<(Kind, usize)> {
    let (kind, len) = match value {
        ValueRef::Hash(h) => (Kind::Hash, h.len()),
        ValueRef::List(l) => (Kind::List, l.len()),
        ValueRef::Set(s) => (Kind::Set, s.len()),
        ValueRef::ZSet(z) => (Kind::ZSet, z.len()),
        // A stream travels whole, as a DUMP (its groups and IDs cannot be rebuilt in
        // pieces by commands without XSETID/XGROUP bookkeeping).
        ValueRef::Str(_) | ValueRef::Stream(_) => return None,
    };
    (len > BIG).then_some((kind, len))
}

/// The command carrying elements `from..from + PIECE` of `value` (`None` when the key is no
/// longer that kind, or has no elements there any more: it changed, and will be sent again).
pub fn piece(key: &[u8], value: &ValueRef<'_>, kind: Kind, from: usize) -> Option<Vec<Vec<u8>>> {
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(2 + 2 * PIECE);
    let end = |len: usize| (from + PIECE).min(len);
    match (kind, value) {
        (Kind::Hash, ValueRef::Hash(h)) => {
            argv.extend([b"HSET".to_vec(), key.to_vec()]);
            for i in from..end(h.len()) {
                let (f, v) = h.get_index(i)?;
                argv.extend([f.to_vec(), v.to_vec()]);
            }
        }
        (Kind::List, ValueRef::List(l)) => {
            argv.extend([b"RPUSH".to_vec(), key.to_vec()]);
            for i in from..end(l.len()) {
                argv.push(l.get(i)?.to_vec());
            }
        }
        (Kind::Set, ValueRef::Set(s)) => {
            argv.extend([b"SADD".to_vec(), key.to_vec()]);
            for i in from..end(s.len()) {
                argv.push(s.get_index(i)?.to_vec());
            }
        }
        (Kind::ZSet, ValueRef::ZSet(z)) => {
            argv.extend([b"ZADD".to_vec(), key.to_vec()]);
            for i in from..end(z.len()) {
                let (m, score) = z.member_at(i)?;
                // Rust prints the shortest text that reads back as the same f64.
                argv.extend([score.to_string().into_bytes(), m.to_vec()]);
            }
        }
        _ => return None,
    }
    (argv.len() > 2).then_some(argv)
}
