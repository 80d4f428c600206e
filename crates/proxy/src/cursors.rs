//! SCAN cursors of a proxy that scans several servers in turn: the client's cursor must name
//! the server and that server's own cursor. A server cursor below 2^55 (every Redis table
//! size) travels inside the proxy's cursor (`server_cursor << 8 | server`); a larger one (a
//! Shard-Cache node's cursors use all 64 bits) is kept here and the client gets a handle to
//! it, marked by the top bit. Handles are bounded ([`KEPT`], oldest forgotten first): a
//! forgotten one answers "invalid cursor", as a cursor from another server would.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Handles kept at once.
pub const KEPT: usize = 65_536;
const HANDLE: u64 = 1 << 63;
const INLINE_LIMIT: u64 = 1 << 55;

/// Handle -> (server, server cursor), and the handles oldest first.
#[derive(Default)]
struct Kept {
    by_handle: HashMap<u64, (usize, u64)>,
    order: VecDeque<u64>,
}

#[derive(Default)]
pub struct ScanCursors {
    next: AtomicU64,
    kept: Mutex<Kept>,
}

impl ScanCursors {
    /// The client's cursor for "go on with `server` at its cursor `inner`".
    pub fn encode(&self, server: usize, inner: u64) -> u64 {
        debug_assert!(server < 256);
        if inner < INLINE_LIMIT {
            return (inner << 8) | server as u64;
        }
        let handle = HANDLE | (self.next.fetch_add(1, Ordering::Relaxed) & !HANDLE);
        let mut kept = self.kept.lock();
        kept.by_handle.insert(handle, (server, inner));
        kept.order.push_back(handle);
        while kept.order.len() > KEPT {
            if let Some(old) = kept.order.pop_front() {
                kept.by_handle.remove(&old);
            }
        }
        handle
    }

    /// The server and its cursor a client's cursor names (`None`: not a cursor of ours).
    pub fn decode(&self, cursor: u64) -> Option<(usize, u64)> {
        if cursor & HANDLE == 0 {
            return Some(((cursor & 0xff) as usize, cursor >> 8));
        }
        self.kept.lock().by_handle.get(&cursor).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cursors_inline_and_large_ones_by_handle() {
        let c = ScanCursors::default();
        assert_eq!(c.encode(2, 5), (5 << 8) | 2);
        assert_eq!(c.decode((5 << 8) | 2), Some((2, 5)));
        assert_eq!(c.decode(0), Some((0, 0)));
        let big = 5548434740920451072u64;
        let h = c.encode(1, big);
        assert!(h & HANDLE != 0);
        assert_eq!(c.decode(h), Some((1, big)));
        assert_eq!(c.decode(HANDLE | 999_999), None);
        for i in 0..KEPT {
            c.encode(0, big + i as u64);
        }
        assert_eq!(c.decode(h), None, "the oldest handle is forgotten");
    }
}
