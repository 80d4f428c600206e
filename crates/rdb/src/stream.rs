//! A stream as RDB holds it (`RDB_TYPE_STREAM_LISTPACKS*`): its nodes as Redis's listpacks
//! keyed by 128-bit big-endian master IDs, its counters, and its consumer groups with their
//! pending-entry lists. The codec keeps the listpacks as bytes; the keyspace decodes them.

/// An ID as (milliseconds, sequence).
pub type Id = (u64, u64);

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamValue {
    /// (master ID as 16 big-endian bytes, listpack).
    pub nodes: Vec<([u8; 16], Vec<u8>)>,
    pub length: u64,
    pub last_id: Id,
    /// Absent before RDB 10 (`RDB_TYPE_STREAM_LISTPACKS`): the loader computes it.
    pub first_id: Option<Id>,
    pub max_deleted: Id,
    /// Absent before RDB 10: the stream's length stands for it.
    pub entries_added: Option<u64>,
    pub groups: Vec<GroupValue>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupValue {
    pub name: Vec<u8>,
    pub last_id: Id,
    /// Absent before RDB 10: the loader estimates it; -1 when unknown.
    pub entries_read: Option<i64>,
    /// (ID as 16 big-endian bytes, delivery time in Unix ms, delivery count).
    pub pel: Vec<([u8; 16], u64, u64)>,
    pub consumers: Vec<ConsumerValue>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerValue {
    pub name: Vec<u8>,
    pub seen_time: u64,
    /// Only in RDB 11 (Redis 7.2); ignored when writing version 10.
    pub active_time: Option<u64>,
    pub pel: Vec<[u8; 16]>,
}

/// Encodes `s` as `RDB_TYPE_STREAM_LISTPACKS_2` (Redis 7.0's `rdbSaveObject`).
pub(crate) fn encode(s: &StreamValue, out: &mut Vec<u8>) {
    use crate::write::{push_len, push_string};
    push_len(out, s.nodes.len() as u64);
    for (key, lp) in &s.nodes {
        push_string(out, key);
        push_string(out, lp);
    }
    let first = s.first_id.unwrap_or_default();
    for n in [
        s.length,
        s.last_id.0,
        s.last_id.1,
        first.0,
        first.1,
        s.max_deleted.0,
        s.max_deleted.1,
        s.entries_added.unwrap_or(s.length),
    ] {
        push_len(out, n);
    }
    push_len(out, s.groups.len() as u64);
    for g in &s.groups {
        push_string(out, &g.name);
        push_len(out, g.last_id.0);
        push_len(out, g.last_id.1);
        push_len(out, g.entries_read.unwrap_or(-1) as u64);
        push_len(out, g.pel.len() as u64);
        for (id, time, count) in &g.pel {
            out.extend_from_slice(id);
            out.extend_from_slice(&time.to_le_bytes());
            push_len(out, *count);
        }
        push_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            push_string(out, &c.name);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            push_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(id);
            }
        }
    }
}
