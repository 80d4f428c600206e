//! The serving lease: how long this node may keep serving its slots without a fresh proof
//! that the cluster has not given them away.
//!
//! # How a lease is earned
//! Every [`RENEW_EVERY`] a node reads its monotonic clock (`asked`), *then* asks the Raft
//! leader for a read index (the leader confirms its leadership with a quorum heartbeat round
//! that starts after the request arrived, and answers its commit index), waits until it has
//! applied that index itself, and only then renews its lease from `asked`. A leader does the
//! same against itself (openraft's `get_read_log_id`).
//!
//! # Invariant (no slot served by two nodes)
//! Any topology change committed before `asked` (real time) is at or below the read index, so
//! it was applied here before the renewal: the topology this node serves from already shows
//! it. A change that takes this node's slots is therefore committed after `asked`, and the
//! new owner applies it even later and then waits [`GAINED_SLOT_WAIT`] (> [`LEASE`]) before
//! serving them; this node's lease ends at `asked + LEASE`, before that.
//!
//! The clock is read *before* the request leaves, so no pause can make a proof look younger
//! than it is: a node stopped (SIGSTOP, a VM freeze, a long GC-like stall) anywhere in the
//! round trip only shortens its own lease, and a node resuming from a pause holds no lease
//! until a round trip made after the pause succeeds. Validity is checked against a fresh
//! clock read for every command (the node's view stores `valid_until`, not a flag), never
//! per batch. Only durations on one machine's monotonic clock matter, so clocks need not
//! agree; [`GAINED_SLOT_WAIT`] adds a margin for their rates drifting apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a node serves after the moment it asked for its last successful proof.
pub const LEASE: Duration = Duration::from_millis(800);

/// How long a node that gains slots waits before serving them: the lease plus 10% for
/// monotonic clocks that do not run at quite the same rate on two machines.
pub const GAINED_SLOT_WAIT: Duration = Duration::from_millis(880);

// The invariant above needs the new owner to wait strictly longer than any lease lasts.
const _: () = assert!(GAINED_SLOT_WAIT.as_millis() > LEASE.as_millis());

/// How often a node asks for a fresh proof (10 tries per lease).
pub const RENEW_EVERY: Duration = Duration::from_millis(100);

/// How long one proof may take before it is given up (the next try starts afresh).
pub const RENEW_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct Lease {
    base: Instant,
    /// Milliseconds after `base` at which the lease started, plus one; 0 = never.
    start: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            base: Instant::now(),
            start: AtomicU64::new(0),
        }
    }
}

impl Lease {
    /// The lease (re)starts at `asked` (when the successful proof was asked for) if that is
    /// later than its current start. Never pass a time read after the proof arrived.
    pub fn renew(&self, asked: Instant) {
        if asked < self.base {
            return;
        }
        // Rounded down: the lease never starts later than the proof was asked for.
        let ms = asked.saturating_duration_since(self.base).as_millis() as u64 + 1;
        self.start.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the last successful proof was asked for, if ever.
    pub fn started(&self) -> Option<Instant> {
        match self.start.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.base + Duration::from_millis(ms - 1)),
        }
    }

    /// Until when this node may serve its slots.
    pub fn valid_until(&self) -> Option<Instant> {
        self.started().map(|s| s + LEASE)
    }

    pub fn is_valid(&self) -> bool {
        self.valid_until().is_some_and(|u| Instant::now() < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_only_move_forward() {
        let l = Lease::default();
        assert!(!l.is_valid());
        let now = Instant::now();
        l.renew(now);
        assert!(l.is_valid());
        let first = l.started().unwrap();
        assert!(first <= now, "never later than asked");
        l.renew(now - Duration::from_millis(1));
        assert_eq!(
            l.started().unwrap(),
            first,
            "an older proof does not move it back"
        );
    }

    #[test]
    fn an_old_proof_is_no_lease() {
        let l = Lease::default();
        std::thread::sleep(Duration::from_millis(5));
        l.renew(Instant::now() - LEASE - Duration::from_millis(1));
        assert!(!l.is_valid());
    }
}
