//! Between the keyspace's values and the RDB codec's: what DUMP writes and RESTORE (and, next,
//! snapshots, replication and migration) reads. The codec is pure and knows nothing of the
//! store's compact encodings; the store rebuilds its own encodings as values are inserted.

use store::{Hash, List, Set, Str, ValueRef, ZSet};

/// A keyspace value borrowed as the codec encodes it (no copy of its bytes).
pub fn view<'a>(v: &'a ValueRef<'a>) -> rdb::write::ValueView<'a> {
    use rdb::write::ValueView;
    match v {
        ValueRef::Str(store::StrRef::Bytes { bytes, .. }) => ValueView::String(bytes),
        ValueRef::Str(store::StrRef::Int(_)) => unreachable!("integers are encoded by the caller"),
        ValueRef::List(l) => ValueView::List(l.iter().collect()),
        ValueRef::Set(s) => ValueView::Set(s.members()),
        ValueRef::ZSet(z) => ValueView::SortedSet(z.iter().collect()),
        ValueRef::Hash(h) => ValueView::Hash(h.iter().collect()),
    }
}

/// A keyspace value as the codec holds it.
pub fn to_rdb(v: ValueRef<'_>) -> rdb::Value {
    match v {
        ValueRef::Str(s) => rdb::Value::String(s.to_vec()),
        ValueRef::List(l) => rdb::Value::List(l.iter().map(<[u8]>::to_vec).collect()),
        ValueRef::Set(s) => rdb::Value::Set(s.members().into_iter().map(<[u8]>::to_vec).collect()),
        ValueRef::ZSet(z) => {
            rdb::Value::SortedSet(z.iter().map(|(m, s)| (m.to_vec(), s)).collect())
        }
        ValueRef::Hash(h) => {
            rdb::Value::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
        }
    }
}

/// A codec value as a keyspace value; `None` for what Redis refuses to load too: an empty
/// collection, a duplicate member or field, a NaN score.
pub fn from_rdb(v: rdb::Value) -> Option<store::Value> {
    Some(match v {
        rdb::Value::String(s) => store::Value::Str(Str::from_bytes(&s)),
        rdb::Value::List(items) => {
            if items.is_empty() {
                return None;
            }
            let mut l = List::default();
            for i in &items {
                l.push_back(i);
            }
            store::Value::List(Box::new(l))
        }
        rdb::Value::Set(members) => {
            if members.is_empty() {
                return None;
            }
            let mut s = Set::default();
            for m in &members {
                if !s.insert(m) {
                    return None;
                }
            }
            store::Value::Set(Box::new(s))
        }
        rdb::Value::SortedSet(pairs) => {
            if pairs.is_empty() {
                return None;
            }
            let mut z = ZSet::default();
            for (m, score) in &pairs {
                if score.is_nan() || !z.insert(m, *score) {
                    return None;
                }
            }
            store::Value::ZSet(Box::new(z))
        }
        rdb::Value::Hash(pairs) => {
            if pairs.is_empty() {
                return None;
            }
            let mut h = Hash::default();
            for (f, v) in &pairs {
                if !h.insert(f, v) {
                    return None;
                }
            }
            store::Value::Hash(Box::new(h))
        }
    })
}
