//! Online slot migration, the source's side: when the agreed topology moves slots this node
//! owns to another shard (`Topology::moves`), a driver per target shard copies them there,
//! keys and all, then asks the cluster to switch their owner.
//!
//! For each batch of slots: the [`tap::Tap`] starts recording their changed keys; the target
//! is told to start a fresh import of each (`CLUSTER SETSLOT s IMPORTING <me>`: it drops
//! what an earlier attempt left); every key is sent as `RESTORE-ASKING key <abs ms> <DUMP
//! payload> REPLACE ABSTTL` (the RDB value encoding, pipelined); changed keys are sent again
//! (or deleted there) until few are left; then the batch's slots stop being served here
//! ([`crate::cluster::ClusterState::begin_switch`]: commands on them wait briefly, then
//! `-TRYAGAIN`), the commands already running finish (the EXEC gate), the last changed keys
//! are sent, the target acknowledges everything, and one Raft entry (`CommitMove`) switches
//! the slots. This node serves them again only as the log decided: MOVED once switched, here
//! if the move was cancelled meanwhile. Its copies of switched slots are dropped as for any
//! lost slot; a failed batch leaves ownership unchanged and is retried from scratch.

mod driver;
mod link;
mod pieces;
pub mod tap;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use placement::planner::ShardId;

use crate::Shared;

/// This node's migrations: the tap, the drivers running, and what they have done.
#[derive(Default)]
pub struct Migrations {
    pub tap: tap::Tap,
    /// Target shards a driver is running for.
    running: Mutex<HashSet<ShardId>>,
    pub progress: Progress,
    /// `--migration-max-bandwidth`, shared by every driver of this node (none: no limit).
    pub limit: Option<Limit>,
}

/// A byte budget per second shared by the drivers: a sender takes what it sends and sleeps
/// when it is ahead of the rate (a token bucket holding at most a tenth of a second).
pub struct Limit {
    rate: u64,
    /// (tokens, when last refilled).
    bucket: Mutex<(f64, std::time::Instant)>,
}

impl Limit {
    pub fn new(bytes_per_second: u64) -> Limit {
        Limit {
            rate: bytes_per_second,
            bucket: Mutex::new((0.0, std::time::Instant::now())),
        }
    }

    /// Takes `bytes` from the budget; answers how long to wait before sending more.
    pub fn take(&self, bytes: usize) -> std::time::Duration {
        let mut b = self.bucket.lock();
        let now = std::time::Instant::now();
        let cap = self.rate as f64 / 10.0;
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * self.rate as f64).min(cap);
        b.1 = now;
        b.0 -= bytes as f64;
        if b.0 >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-b.0 / self.rate as f64)
        }
    }
}

/// Counters since the node started (CLUSTER MIGRATIONS, INFO, metrics).
#[derive(Default)]
pub struct Progress {
    pub slots_moved: AtomicU64,
    pub batches: AtomicU64,
    pub keys_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub failures: AtomicU64,
    /// How long the last switch kept its slots unserved, and the longest, in microseconds.
    pub last_pause_us: AtomicU64,
    pub max_pause_us: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Progress {
    pub fn record_pause(&self, us: u64) {
        self.last_pause_us.store(us, Ordering::Relaxed);
        self.max_pause_us.fetch_max(us, Ordering::Relaxed);
    }
}

impl Migrations {
    /// `max_bandwidth`: bytes per second for all this node's migrations (0: no limit).
    pub fn new(max_bandwidth: u64) -> Migrations {
        Migrations {
            limit: (max_bandwidth > 0).then(|| Limit::new(max_bandwidth)),
            ..Default::default()
        }
    }

    /// Target shards with a driver running now.
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }
}

/// Starts a driver for every shard this node (a primary) has slots moving to and none runs
/// for yet. Called by the node's cron.
pub fn schedule(shared: &Arc<Shared>) {
    let Some(c) = &shared.cluster else {
        return;
    };
    if c.control().is_none() {
        return;
    }
    let Some(t) = c.topology() else {
        return;
    };
    if t.moves.is_empty() || t.moves_paused {
        return;
    }
    let Some(me) = t.node(&c.myid).filter(|n| n.primary) else {
        return;
    };
    let targets: BTreeSet<ShardId> = t.moves_from(me.shard).map(|(_, to)| to).collect();
    let mut running = shared.migrations.running.lock();
    for to in targets {
        if running.insert(to) {
            tokio::spawn(driver::run(shared.clone(), to));
        }
    }
}

/// A finished driver (whatever the reason) frees its target for the next [`schedule`].
struct Running(Arc<Shared>, ShardId);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.migrations.running.lock().remove(&self.1);
    }
}
