//! What makes EXEC atomic on a multi-threaded node.
//!
//! Every batch of commands a connection runs holds a *shared* guard of its worker's lane (one
//! lock operation per batch, not per command); EXEC takes *every*
//! lane exclusively, so while a transaction runs no other command runs anywhere, exactly as
//! Redis's single thread guarantees. One lane per worker (each on its own cache line) keeps
//! the common path an uncontended read lock on a line only that worker touches: a single
//! global `RwLock` would bounce its counter between cores on every command.

use std::cell::Cell;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[repr(align(128))]
struct Lane(RwLock<()>);

pub struct ExecGate {
    lanes: Box<[Lane]>,
}

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// The calling thread's lane (its worker's index).
pub fn current_lane() -> usize {
    LANE.with(|l| l.get())
}

/// Assigns the calling thread (a worker) its lane.
pub fn set_lane(i: usize) {
    LANE.with(|l| l.set(i));
}

impl ExecGate {
    pub fn new(lanes: usize) -> Self {
        ExecGate {
            lanes: (0..lanes.max(1)).map(|_| Lane(RwLock::new(()))).collect(),
        }
    }

    /// Held while a batch of ordinary commands runs.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        let i = LANE.with(|l| l.get()) % self.lanes.len();
        self.lanes[i].0.read()
    }

    /// [`Self::shared`], giving up after `wait` (a script holding every lane may have
    /// turned busy meanwhile: see [`crate::script_host`]).
    pub fn try_shared_for(&self, wait: std::time::Duration) -> Option<RwLockReadGuard<'_, ()>> {
        let i = LANE.with(|l| l.get()) % self.lanes.len();
        self.lanes[i].0.try_read_for(wait)
    }

    /// Held while a transaction runs: waits for the commands running on every worker, and
    /// keeps new ones out. Lanes are taken in order, so two EXECs cannot deadlock.
    pub fn exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.lanes.iter().map(|l| l.0.write()).collect()
    }
}

/// The guard a connection holds while it runs a batch of commands: its lane shared (the
/// common case), or every lane (after a transaction or script in the batch: consecutive
/// scripts of a pipeline then take the lanes once, not once each), or none (a script is
/// busy: see [`crate::script_host`]).
pub enum BatchGate<'a> {
    Idle,
    Shared(RwLockReadGuard<'a, ()>),
    Exclusive(Vec<RwLockWriteGuard<'a, ()>>),
}

impl<'a> BatchGate<'a> {
    pub fn is_idle(&self) -> bool {
        matches!(self, BatchGate::Idle)
    }

    /// Holds every lane (waiting for the batches running on other workers).
    pub fn make_exclusive(&mut self, gate: &'a ExecGate) {
        if !matches!(self, BatchGate::Exclusive(_)) {
            // Our own shared guard would deadlock the exclusive one: give it up first, and
            // the stream's write turn, which a batch waiting on our guard may want.
            crate::replication::log::give_up_batch_turn();
            *self = BatchGate::Idle;
            *self = BatchGate::Exclusive(gate.exclusive());
        }
    }
}
