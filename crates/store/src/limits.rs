//! Encoding thresholds: Redis's `hash-max-listpack-entries/value`, `set-max-intset-entries`
//! and `zset-max-listpack-entries/value`, which decide when a small collection's compact form
//! gives way to a table (and so what OBJECT ENCODING answers).
//!
//! They are per node (CONFIG SET changes them), but values decide their encoding deep inside
//! an insert, where no node handle reaches. So whoever changes values on behalf of a node —
//! a command, a snapshot load — first installs that node's thresholds for its thread with
//! [`set_current`]; values read them with [`current`] (a thread-local read, no lock). A
//! thread that never installs any uses Redis's defaults.

use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
}

impl Limits {
    /// Redis 7.0's defaults.
    pub const DEFAULT: Limits = Limits {
        hash_entries: 512,
        hash_value: 64,
        set_intset_entries: 512,
        zset_entries: 128,
        zset_value: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

thread_local! {
    static CURRENT: Cell<Limits> = const { Cell::new(Limits::DEFAULT) };
}

/// The thresholds in force on this thread.
#[inline]
pub fn current() -> Limits {
    CURRENT.with(Cell::get)
}

/// Installs the thresholds of the node this thread works for now.
#[inline]
pub fn set_current(limits: Limits) {
    CURRENT.with(|c| c.set(limits));
}
