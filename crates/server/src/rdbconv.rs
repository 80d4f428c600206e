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
            store::Value::List(Box::new(List::from_elements(items.iter())))
        }
        rdb::Value::Set(members) => {
            if members.is_empty() {
                return None;
            }
            store::Value::Set(Box::new(Set::from_unique_members(members.iter())?))
        }
        rdb::Value::SortedSet(pairs) => {
            if pairs.is_empty() {
                return None;
            }
            store::Value::ZSet(Box::new(ZSet::from_unique_pairs(pairs.iter())?))
        }
        rdb::Value::Hash(pairs) => {
            if pairs.is_empty() {
                return None;
            }
            store::Value::Hash(Box::new(Hash::from_unique_pairs(pairs.iter())?))
        }
    })
}
