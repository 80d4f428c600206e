//! The serving lease: how long this node may keep serving its slots without hearing from
//! the Raft majority.
//!
//! A node that loses the majority must stop serving before the majority can have given its
//! slots to another node. The lease starts at the last moment the node *knows* a majority
//! still followed the leader it follows:
//! - on the leader, the last time a quorum acknowledged it (openraft's
//!   `millis_since_quorum_ack`);
//! - on a follower, the leader's quorum-acknowledged moment as carried by the leader's last
//!   successful append (the leader sends its lease age with every append, so a follower of a
//!   leader that itself lost the majority does not renew anything either).
//!
//! Invariant: a node gaining slots waits [`LEASE`] before serving them (see the node's
//! cluster view), so the old owner's lease has run out by then wherever it is. Only
//! durations are exchanged, never wall-clock times, so clocks need not agree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a node serves after its last proof of a majority (20 heartbeats).
pub const LEASE: Duration = Duration::from_millis(1000);

#[derive(Debug)]
pub struct Lease {
    base: Instant,
    /// Milliseconds after `base` at which the lease started, plus one; 0 = never.
    start: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        let now = Instant::now();
        Lease {
            // Far enough back that any proof worth a lease lies after it.
            base: now.checked_sub(LEASE * 10).unwrap_or(now),
            start: AtomicU64::new(0),
        }
    }
}

impl Lease {
    /// The lease (re)starts at `at` if that is later than its current start.
    pub fn renew(&self, at: Instant) {
        if at < self.base {
            return;
        }
        let ms = at.saturating_duration_since(self.base).as_millis() as u64 + 1;
        self.start.fetch_max(ms, Ordering::Relaxed);
    }

    /// Renews from an age: the majority was last proven `age_ms` ago.
    pub fn renew_from_age(&self, age_ms: u64) {
        if let Some(at) = Instant::now().checked_sub(Duration::from_millis(age_ms)) {
            self.renew(at);
        }
    }

    /// When the majority was last proven, if ever.
    pub fn started(&self) -> Option<Instant> {
        match self.start.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.base + Duration::from_millis(ms - 1)),
        }
    }

    /// Milliseconds since the majority was last proven (what a leader sends with appends).
    pub fn age_ms(&self) -> Option<u64> {
        self.started().map(|s| s.elapsed().as_millis() as u64)
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
        assert_eq!(l.age_ms(), None);
        l.renew_from_age(0);
        assert!(l.is_valid());
        let first = l.started().unwrap();
        l.renew_from_age(5_000);
        assert_eq!(
            l.started().unwrap(),
            first,
            "an older proof does not move it back"
        );
        assert!(l.age_ms().unwrap() < 1000);
    }

    #[test]
    fn an_old_proof_is_no_lease() {
        let l = Lease::default();
        l.renew_from_age(LEASE.as_millis() as u64 + 10);
        assert!(!l.is_valid());
    }
}
