//! CLIENT PAUSE: holding clients' commands back for a while (all of them, or only those that
//! write), as an operator does around a failover or a restart of something downstream.
//!
//! A held command is not refused: its connection waits and runs it once the pause ends or
//! CLIENT UNPAUSE lifts it (checked every few milliseconds), as Redis postpones it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a held connection looks again (so UNPAUSE takes effect quickly).
const RECHECK: Duration = Duration::from_millis(5);

#[derive(Debug, Default)]
pub struct ClientPause {
    /// (end, all commands rather than only writes)
    state: Mutex<Option<(Instant, bool)>>,
    /// Fast check on every command.
    active: AtomicBool,
    /// FAILOVER holds writes until the hand-over ends, apart from any CLIENT PAUSE (Redis's
    /// `PAUSE_DURING_FAILOVER` purpose).
    failover: AtomicBool,
}

impl ClientPause {
    /// Pauses until `until` (or later, if a pause already runs longer); the mode is the new
    /// one's, as Redis replaces it.
    pub fn pause(&self, until: Instant, all: bool) {
        let mut state = self.state.lock();
        let end = state.map_or(until, |(end, _)| end.max(until));
        *state = Some((end, all));
        self.active.store(true, Ordering::SeqCst);
    }

    /// Holds (or releases) every write for a FAILOVER.
    pub fn hold_writes_for_failover(&self, on: bool) {
        self.failover.store(on, Ordering::SeqCst);
    }

    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.active.store(false, Ordering::SeqCst);
    }

    /// Whether a pause is in force. Keys do not expire meanwhile — they read as absent but
    /// stay, and the active cycle waits — as Redis 7 pauses expiry with its clients (at the
    /// end of a pause around a failover, the new primary's DELs or this node's own expiry
    /// decide).
    pub fn in_force(&self) -> bool {
        if self.failover.load(Ordering::Relaxed) {
            return true;
        }
        if !self.active.load(Ordering::Relaxed) {
            return false;
        }
        matches!(*self.state.lock(), Some((end, _)) if Instant::now() < end)
    }

    /// When a command (`writes`: it writes or may replicate) must wait: the instant to look
    /// again; `None` to run it now.
    pub fn hold(&self, writes: bool) -> Option<Instant> {
        if writes && self.failover.load(Ordering::Relaxed) {
            return Some(Instant::now() + RECHECK);
        }
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.state.lock();
        let now = Instant::now();
        match *state {
            Some((end, _)) if now >= end => {
                *state = None;
                self.active.store(false, Ordering::SeqCst);
                None
            }
            Some((end, all)) if all || writes => Some(end.min(now + RECHECK)),
            _ => None,
        }
    }
}
