//! Between the keyspace's values and the RDB codec's: what DUMP, MIGRATE and snapshots write
//! and RESTORE and loading read. The codec is pure and knows nothing of the
//! store's compact encodings; the store rebuilds its own encodings as values are inserted.

use store::{Hash, List, Set, Str, Stream, StreamId, ValueRef, ZSet};

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
        ValueRef::Stream(s) => f(ValueView::Stream(&stream_to_rdb(s))),
    }
}

/// A stream as the codec writes it: each node rebuilt as the listpack Redis holds.
pub fn stream_to_rdb(s: &Stream) -> rdb::stream::StreamValue {
    use rdb::stream::{ConsumerValue, GroupValue, StreamValue};
    let id = |i: StreamId| (i.ms, i.seq);
    StreamValue {
        nodes: s
            .nodes()
            .map(|(master, node)| {
                let elements = node.elements();
                let lp = rdb::packed::listpack(elements.iter().map(|e| e.as_slice()));
                (master.to_be_bytes(), lp)
            })
            .collect(),
        length: s.len(),
        last_id: id(s.last_id),
        first_id: Some(id(s.first_id)),
        max_deleted: id(s.max_deleted),
        entries_added: Some(s.entries_added),
        groups: s
            .groups
            .iter()
            .map(|(name, g)| GroupValue {
                name: name.to_vec(),
                last_id: id(g.last_id),
                entries_read: Some(g.entries_read),
                pel: g
                    .pel
                    .iter()
                    .map(|(i, n)| (i.to_be_bytes(), n.delivery_time, n.delivery_count))
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(name, c)| ConsumerValue {
                        name: name.to_vec(),
                        seen_time: c.seen_time,
                        active_time: None,
                        pel: c.pel.iter().map(|i| i.to_be_bytes()).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A stream from the codec, checked as Redis checks one it loads with
/// `sanitize-dump-payload yes`: every listpack well formed and non-empty, nodes in order,
/// the length adding up, group names unique, every consumer's pending entry in its
/// group's list and every group entry owned by exactly one consumer. `None` otherwise.
pub fn stream_from_rdb(v: rdb::stream::StreamValue) -> Option<Stream> {
    use store::stream::{Consumer, Group, Nack, Node};
    let id = |(ms, seq): (u64, u64)| StreamId::new(ms, seq);
    let mut s = Stream::default();
    for (key, lp) in &v.nodes {
        let master = StreamId::from_be_bytes(key);
        let mut elements = rdb::Elements::default();
        rdb::packed::listpack_entries(lp, &mut elements)?;
        let refs: Vec<&[u8]> = elements.iter().collect();
        let node = Node::from_elements(master, &refs)?;
        if !s.push_node(master, node) {
            return None;
        }
    }
    if s.len() != v.length {
        return None;
    }
    let last_id = id(v.last_id);
    let first_id = match v.first_id {
        Some(f) => id(f),
        None => s.edge_id(true).unwrap_or_default(),
    };
    let entries_added = v.entries_added.unwrap_or(v.length);
    s.set_meta(last_id, first_id, id(v.max_deleted), entries_added);
    if !s.is_consistent() {
        return None;
    }
    for g in v.groups {
        let name: Box<[u8]> = g.name.into();
        let entries_read = match g.entries_read {
            Some(n) => n,
            None => s.estimate_distance(id(g.last_id)),
        };
        let mut group = Group::new(id(g.last_id), entries_read);
        // Each pending entry: delivery time, count, and the consumer that claims it.
        type Pending = (u64, u64, Option<Box<[u8]>>);
        let mut owner: std::collections::BTreeMap<StreamId, Pending> =
            std::collections::BTreeMap::new();
        for (i, time, count) in g.pel {
            if owner
                .insert(StreamId::from_be_bytes(&i), (time, count, None))
                .is_some()
            {
                return None;
            }
        }
        for c in g.consumers {
            let cname: Box<[u8]> = c.name.into();
            // Type 19 (Redis 7.0, what we write) has no active time: Redis 7.2 takes the
            // seen time for it, "the best estimate we got".
            let mut consumer = Consumer {
                active_time: c.active_time.map_or(c.seen_time as i64, |t| t as i64),
                ..Consumer::new(c.seen_time)
            };
            for i in c.pel {
                let i = StreamId::from_be_bytes(&i);
                let slot = owner.get_mut(&i)?;
                if slot.2.is_some() || !consumer.pel.insert(i) {
                    return None;
                }
                slot.2 = Some(cname.clone());
            }
            if group.consumers.insert(cname, consumer).is_some() {
                return None;
            }
        }
        for (i, (delivery_time, delivery_count, consumer)) in owner {
            let nack = Nack {
                consumer: consumer?,
                delivery_time,
                delivery_count,
            };
            group.pel.insert(i, nack);
        }
        if s.groups.insert(name, group).is_some() {
            return None;
        }
    }
    Some(s)
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
        rdb::Value::Stream(s) => store::Value::Stream(Box::new(stream_from_rdb(*s)?)),
    })
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// The listpack size a node keeps (Redis decides where nodes end by it) is the size of
    /// the listpack we write for it: integers of every width, strings across the 1-, 2- and
    /// 5-byte length encodings, sequence numbers below the master's.
    #[test]
    fn node_sizes_match_the_listpacks_written() {
        let mut s = Stream::default();
        let values: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"-4096".to_vec(),
            b"32767".to_vec(),
            b"-8388608".to_vec(),
            b"2147483647".to_vec(),
            b"9223372036854775807".to_vec(),
            b"012".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            Vec::new(),
        ];
        let mut id = StreamId::new(1000, 5);
        for (i, v) in values.iter().cycle().take(200).enumerate() {
            let field: &[u8] = if i % 3 == 0 { b"f" } else { b"other" };
            s.append(id, &[field, v, b"g", b"1"], 4096, 10);
            // Alternately a later millisecond from sequence 0 (below the master's 5) and
            // the next sequence.
            id = if i % 2 == 0 {
                StreamId::new(id.ms + 1 + i as u64 * 1000, 0)
            } else {
                StreamId::new(id.ms, id.seq + 1)
            };
        }
        s.delete(StreamId::new(1000, 5));
        s.trim(store::stream::Trim::MaxLen(150), false, 0);
        let value = stream_to_rdb(&s);
        assert_eq!(value.nodes.len(), s.node_count());
        for ((_, node), (_, lp)) in s.nodes().zip(&value.nodes) {
            assert_eq!(node.lp_bytes, lp.len());
        }
        let back = stream_from_rdb(value.clone()).expect("reads back");
        assert_eq!(stream_to_rdb(&back), value);
    }
}
