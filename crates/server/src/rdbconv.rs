//! Between the keyspace's values and the RDB codec's: what DUMP, MIGRATE and snapshots write
//! and RESTORE and loading read. The codec is pure and knows nothing of the
//! store's compact encodings; the store rebuilds its own encodings as values are inserted.

use store::{Hash, List, Set, Str, ValueRef, ZSet};

/// Calls `f` with a keyspace value borrowed as the codec encodes it: no copy of its bytes
/// (an integer string is formatted on the stack for the call).
pub fn with_view<R>(v: ValueRef<'_>, f: impl FnOnce(rdb::write::ValueView<'_>) -> R) -> R {
    use rdb::write::ValueView;
    match v {
        ValueRef::Str(s) => s.with_bytes(|b| f(ValueView::String(b))),
        ValueRef::List(l) => f(ValueView::List(l.iter().collect())),
        ValueRef::Set(s) => f(ValueView::Set(s.members())),
        ValueRef::ZSet(z) => f(ValueView::SortedSet(z.iter().collect())),
        ValueRef::Hash(h) => f(ValueView::Hash(h.iter().collect())),
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
