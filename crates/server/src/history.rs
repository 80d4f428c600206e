//! Metric history: each node keeps its key figures over time in memory, bounded — one
//! sample per `--metrics-interval` (10 s) for the last hour, and one per minute (the average
//! of the samples in it) for the last 24 hours — for the admin API's history and export
//! (`/api/metrics/history`, `/api/metrics/export`) and for the alerts, which are evaluated
//! on every sample.
//!
//! Memory: 360 + 1,440 samples of [`METRICS`]`.len()` f64s and a timestamp: about 170 KB
//! per node, whatever the load.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Shared;

/// What is recorded, in this order in every sample.
pub const METRICS: &[&str] = &[
    "ops_per_sec",
    "hit_rate_percent",
    "used_memory",
    "memory_percent",
    "connected_clients",
    "keys",
    "evicted_per_sec",
    "expired_per_sec",
    "error_rate_percent",
    "latency_p50_ms",
    "latency_p99_ms",
    "cpu_percent",
];

const FINE_KEEP: usize = 360;
const COARSE_KEEP: usize = 1440;
const COARSE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the epoch.
    pub at: u64,
    /// One value per [`METRICS`] entry (NaN: not known at that time).
    pub values: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct History {
    fine: Mutex<VecDeque<Sample>>,
    coarse: Mutex<VecDeque<Sample>>,
}

/// The counters a sample's rates are computed from.
#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    commands: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    evicted: u64,
    expired: u64,
    cpu_seconds: f64,
}

fn counters(shared: &Shared) -> Counters {
    let ks = shared.keyspace.stats();
    Counters {
        at: Instant::now(),
        commands: crate::info::total_commands(shared),
        errors: shared.stats.total_error_replies.load(Ordering::Relaxed),
        hits: ks.hits,
        misses: ks.misses,
        evicted: ks.evicted,
        expired: ks.expired,
        cpu_seconds: process_cpu_seconds(),
    }
}

/// utime + stime of this process, in seconds (shared with the CPU guard of load shedding).
pub use shed::process_cpu_seconds;

fn sample(shared: &Shared, before: &Counters, now: &Counters) -> Vec<f64> {
    let secs = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    let commands = now.commands.saturating_sub(before.commands);
    let lookups = (now.hits + now.misses).saturating_sub(before.hits + before.misses);
    let used = shared.used_memory.load(Ordering::Relaxed) as f64;
    let max = shared.live.maxmemory.load(Ordering::Relaxed) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let latency = shared.recent_latency.percentiles();
    let (keys, _) = shared.keyspace.counts();
    vec![
        rate(now.commands, before.commands),
        if lookups == 0 {
            f64::NAN
        } else {
            100.0 * now.hits.saturating_sub(before.hits) as f64 / lookups as f64
        },
        used,
        if max > 0.0 {
            100.0 * used / max
        } else {
            f64::NAN
        },
        shared.clients.connected() as f64,
        keys as f64,
        rate(now.evicted, before.evicted),
        rate(now.expired, before.expired),
        // Errors of commands refused before running (unknown, arity, NOAUTH) are not in
        // `commands`: a reply count is at least either.
        {
            let errors = now.errors.saturating_sub(before.errors);
            let replies = commands.max(errors);
            if replies == 0 {
                0.0
            } else {
                100.0 * errors as f64 / replies as f64
            }
        },
        latency.map_or(f64::NAN, |l| l.0),
        latency.map_or(f64::NAN, |l| l.1),
        100.0 * (now.cpu_seconds - before.cpu_seconds).max(0.0) / (secs * cores),
    ]
}

impl History {
    fn push(&self, s: Sample) {
        let mut fine = self.fine.lock();
        fine.push_back(s);
        while fine.len() > FINE_KEEP {
            fine.pop_front();
        }
    }

    /// Averages the fine samples of the last minute into one coarse sample.
    fn roll_up(&self, now_unix: u64) {
        let fine = self.fine.lock();
        let recent: Vec<&Sample> = fine
            .iter()
            .filter(|s| s.at + COARSE_EVERY.as_secs() > now_unix)
            .collect();
        if recent.is_empty() {
            return;
        }
        let values = (0..METRICS.len())
            .map(|i| {
                let known: Vec<f64> = recent
                    .iter()
                    .map(|s| s.values[i])
                    .filter(|v| !v.is_nan())
                    .collect();
                if known.is_empty() {
                    f64::NAN
                } else {
                    known.iter().sum::<f64>() / known.len() as f64
                }
            })
            .collect();
        drop(fine);
        let mut coarse = self.coarse.lock();
        coarse.push_back(Sample {
            at: now_unix,
            values,
        });
        while coarse.len() > COARSE_KEEP {
            coarse.pop_front();
        }
    }

    /// The samples of the last `range` (fine ones up to an hour, minute ones beyond).
    pub fn range(&self, range: Duration) -> (u64, Vec<Sample>) {
        let now = crate::unix_ms() / 1000;
        let since = now.saturating_sub(range.as_secs());
        let (resolution, source) = if range <= Duration::from_secs(3600) {
            (0, &self.fine)
        } else {
            (COARSE_EVERY.as_secs(), &self.coarse)
        };
        let samples = source
            .lock()
            .iter()
            .filter(|s| s.at >= since)
            .cloned()
            .collect();
        (resolution, samples)
    }

    pub fn latest(&self) -> Option<Sample> {
        self.fine.lock().back().cloned()
    }
}

/// Takes a sample every `interval` until shutdown; alerts are evaluated on each.
pub async fn run(shared: Arc<Shared>, interval: Duration) {
    let mut before = counters(&shared);
    let mut last_roll = Instant::now();
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let now = counters(&shared);
        let at = crate::unix_ms() / 1000;
        let values = sample(&shared, &before, &now);
        before = now;
        shared.history.push(Sample { at, values });
        if last_roll.elapsed() >= COARSE_EVERY {
            shared.history.roll_up(at);
            last_roll = Instant::now();
        }
        crate::alerts::evaluate(&shared);
    }
}

/// A metric's index in a sample.
pub fn index_of(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| *m == name)
}
