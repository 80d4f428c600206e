//! Redis's RDB format, pure: a snapshot is a header, auxiliary fields, then for each database
//! its keys with their values, TTLs and eviction hints, and a CRC64 trailer. The same value
//! encoding (plus a version and a CRC64) is the DUMP/RESTORE payload.
//!
//! - [`read::Reader`] reads versions 1-11: every encoding redis-server 2.x to 7.2 writes
//!   (plain, zipmap, ziplist, intset, quicklist 1 and 2, listpack, LZF and integer strings).
//!   Streams are read with their listpacks kept as bytes ([`stream::StreamValue`]); modules,
//!   which Shard-Cache does not hold, are parsed past and reported as
//!   [`read::Item::Skipped`], never silently dropped.
//! - [`write::Writer`] writes version 10 with Redis 7.0's encodings (listpacks for small
//!   hashes and sorted sets, quicklist 2 for lists, intsets), which any Redis >= 7.0 loads.
//! - [`dump`] encodes and checks DUMP payloads.
//!
//! Everything here works on `std::io::Read`/`Write` and byte slices; untrusted lengths never
//! allocate more than the data that actually arrives.

pub mod dump;
pub mod elements;
pub mod functions;
pub mod lzf;
pub mod packed;
pub mod read;
pub mod stream;
pub mod write;

pub use elements::{Elements, Pairs, Scored};

/// The RDB version this crate writes (Redis 7.0's).
pub const WRITE_VERSION: u16 = 10;
/// The newest RDB version this crate reads (Redis 7.2's).
pub const MAX_READ_VERSION: u16 = 11;

/// A value Shard-Cache holds. Collections keep Redis's order where it has one (lists,
/// sorted sets by score then member as read).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Elements),
    Set(Elements),
    SortedSet(Scored),
    Hash(Pairs),
    Stream(Box<stream::StreamValue>),
}

impl Value {
    /// The same value with its unordered parts in one canonical order (set members and hash
    /// fields sorted, sorted-set members by score then member), so two copies compare equal
    /// whatever order a server iterated them in.
    pub fn normalized(&self) -> Value {
        match self {
            Value::Set(m) => {
                let mut m: Vec<&[u8]> = m.iter().collect();
                m.sort();
                Value::Set(m.into_iter().collect())
            }
            Value::Hash(p) => {
                let mut p: Vec<_> = p.iter().collect();
                p.sort();
                Value::Hash(p.into_iter().collect())
            }
            Value::SortedSet(p) => {
                let mut p: Vec<_> = p.iter().collect();
                p.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
                Value::SortedSet(p.into_iter().collect())
            }
            other => other.clone(),
        }
    }

    /// Redis's name for the type (as TYPE answers).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::SortedSet(_) => "zset",
            Value::Hash(_) => "hash",
            Value::Stream(_) => "stream",
        }
    }
}

/// One key of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute expiry, Unix milliseconds.
    pub expire_ms: Option<u64>,
    /// LRU idle time in seconds (`RDB_OPCODE_IDLE`), when the writer kept it.
    pub idle_seconds: Option<u64>,
    /// LFU counter (`RDB_OPCODE_FREQ`), when the writer kept it.
    pub freq: Option<u8>,
}

impl Entry {
    pub fn new(key: impl Into<Vec<u8>>, value: Value) -> Entry {
        Entry {
            db: 0,
            key: key.into(),
            value,
            expire_ms: None,
            idle_seconds: None,
            freq: None,
        }
    }
}

/// What is wrong with an RDB file or payload, and where.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("{reason} at offset {offset}")]
    Corrupt { offset: u64, reason: String },
    #[error("I/O error at offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
}

impl RdbError {
    pub fn offset(&self) -> u64 {
        match self {
            RdbError::Corrupt { offset, .. } | RdbError::Io { offset, .. } => *offset,
        }
    }
}

/// CRC-64/Jones as Redis computes it (reflected, poly 0xad93d23594c935a9, init 0). The
/// slice-by-16 tables (32 KiB) make it several times faster than byte-at-a-time on whole
/// files, where the checksum was a tenth of the time spent loading.
pub static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// RDB types (`rdb.h`).
pub(crate) mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// RDB opcodes (`rdb.h`).
pub(crate) mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc64_is_redis_jones() {
        // Redis's own check value (crc64.c).
        assert_eq!(super::CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }
}
