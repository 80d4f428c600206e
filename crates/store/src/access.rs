//! Whether the command running on this thread records the accesses it makes (Redis 7.2's
//! CLIENT NO-TOUCH: a client that reads without making keys look recently or frequently used
//! to eviction — monitoring, backups). The flag is per thread because the client is known
//! only where a command starts, far above the shard; the caller installs it before each
//! command, as [`crate::expiry`]'s mode.

use std::cell::Cell;

thread_local! {
    static RECORDS: Cell<bool> = const { Cell::new(true) };
}

/// Whether reads and writes on this thread update keys' LRU/LFU data now.
#[inline]
pub fn records() -> bool {
    RECORDS.with(Cell::get)
}

/// Installs the flag for the commands that run next on this thread.
#[inline]
pub fn set_records(on: bool) {
    RECORDS.with(|r| r.set(on));
}
