//! The keyspace of a node: values, expiry, access tracking. Pure data structures, no I/O.
//!
//! The keyspace is split into [`keyspace::SHARDS`] independently locked shards so every core
//! can serve requests at once without a global lock; a key's shard comes from its hash.
//! Time is passed in by the caller (milliseconds since the Unix epoch), which keeps this crate
//! deterministic under test.

pub mod access;
pub mod cursor;
pub mod entry;
pub mod expiry;
pub mod float;
pub mod geohash;
pub mod glob;
pub mod hashing;
pub mod hll;
pub mod keyspace;
pub mod lfu;
pub mod limits;
pub mod policy;
pub mod shard;
pub mod stream;
pub mod table;
pub mod value;
pub mod zset;

pub use entry::{Entry, EntryMut, EntryRef, StrRef, ValueRef};
pub use keyspace::{Keyspace, ScanFilter, ShardSet, ShardVisitor};
pub use policy::Policy;
pub use shard::{Collection, Mutation, MutationObserver, Shard, Ttl, WatchFlag};
pub use stream::{Stream, StreamId};
pub use value::{Hash, List, Set, Str, Value};
pub use zset::ZSet;
