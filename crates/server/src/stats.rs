//! Counters for INFO and /metrics.
//!
//! Hand-rolled instead of the `metrics` crate's recorder because INFO commandstats and
//! /metrics must report the *same* numbers, and because per-command recording is batched per
//! connection: a connection accumulates its counts locally and adds them to the shared atomics
//! once per read batch, so pipelined commands on two cores do not bounce one cache line per
//! command.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// Latency histogram buckets: upper bounds 1, 2, 4, ... 2^(N-2) microseconds, then +Inf.
pub const BUCKETS: usize = 26;

pub fn bucket_of(d: Duration) -> usize {
    let us = d.as_micros() as u64;
    if us <= 1 {
        0
    } else {
        ((64 - (us - 1).leading_zeros()) as usize).min(BUCKETS - 1)
    }
}

/// Upper bound of bucket `i` in seconds (`None` for +Inf).
pub fn bucket_bound_seconds(i: usize) -> Option<f64> {
    (i < BUCKETS - 1).then(|| (1u64 << i) as f64 / 1e6)
}

#[derive(Debug, Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub nanos: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    pub buckets: [AtomicU64; BUCKETS],
}

impl CommandStats {
    pub fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// One connection's not-yet-published counts for one command.
#[derive(Debug, Clone)]
struct Pending {
    index: usize,
    calls: u64,
    nanos: u64,
    failed: u64,
    rejected: u64,
    buckets: [u32; BUCKETS],
}

/// A connection's local accumulation; [`LocalStats::publish`] adds it to the shared counters.
#[derive(Debug, Default)]
pub struct LocalStats {
    pending: Vec<Pending>,
    /// Write commands that succeeded in this batch (for `rdb_changes_since_last_save`).
    pub writes: u64,
}

impl LocalStats {
    fn slot(&mut self, index: usize) -> &mut Pending {
        // Few distinct commands per batch: a linear scan beats hashing.
        match self.pending.iter().position(|p| p.index == index) {
            Some(i) => &mut self.pending[i],
            None => {
                self.pending.push(Pending {
                    index,
                    calls: 0,
                    nanos: 0,
                    failed: 0,
                    rejected: 0,
                    buckets: [0; BUCKETS],
                });
                self.pending.last_mut().expect("just pushed")
            }
        }
    }

    pub fn record(&mut self, index: usize, elapsed: Duration, failed: bool) {
        let p = self.slot(index);
        p.calls += 1;
        p.nanos += elapsed.as_nanos() as u64;
        p.failed += failed as u64;
        p.buckets[bucket_of(elapsed)] += 1;
    }

    pub fn reject(&mut self, index: usize) {
        self.slot(index).rejected += 1;
    }

    pub fn publish(&mut self, table: &[CommandStats]) {
        for p in self.pending.drain(..) {
            let s = &table[p.index];
            if p.calls > 0 {
                s.calls.fetch_add(p.calls, Ordering::Relaxed);
                s.nanos.fetch_add(p.nanos, Ordering::Relaxed);
                for (i, &n) in p.buckets.iter().enumerate() {
                    if n > 0 {
                        s.buckets[i].fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            if p.failed > 0 {
                s.failed.fetch_add(p.failed, Ordering::Relaxed);
            }
            if p.rejected > 0 {
                s.rejected.fetch_add(p.rejected, Ordering::Relaxed);
            }
        }
    }
}

/// Objects handed to a background thread and not freed yet, and those freed (INFO's
/// `lazyfree_pending_objects`, `lazyfreed_objects`).
#[derive(Debug, Default)]
pub struct LazyFree {
    pub pending: AtomicU64,
    pub freed: AtomicU64,
}

/// Server-wide counters with Redis's INFO names.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Bytes read from the primary's link (INFO `total_net_repl_input_bytes`).
    pub net_repl_input_bytes: AtomicU64,
    /// Bytes sent to replicas (INFO `total_net_repl_output_bytes`).
    pub net_repl_output_bytes: AtomicU64,
    pub client_query_buffer_limit_disconnections: AtomicU64,
    pub client_output_buffer_limit_disconnections: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unknown_commands: AtomicU64,
    /// Failed authentications (INFO `acl_access_denied_auth`).
    pub acl_access_denied_auth: AtomicU64,
    /// Commands refused by ACL for the command, a key or a channel (INFO
    /// `acl_access_denied_cmd/key/channel`, as Redis 7.2).
    pub acl_access_denied_cmd: AtomicU64,
    pub acl_access_denied_key: AtomicU64,
    pub acl_access_denied_channel: AtomicU64,
    /// Socket reads and writes that moved data (INFO `total_reads_processed` /
    /// `total_writes_processed`).
    pub reads_processed: AtomicU64,
    pub writes_processed: AtomicU64,
    /// Time spent in the active expiry cycle (INFO `expire_cycle_cpu_milliseconds`).
    pub expire_cycle_micros: AtomicU64,
    /// Values UNLINK / FLUSHALL ASYNC handed to a background thread (shared with it).
    pub lazyfree: std::sync::Arc<LazyFree>,
    /// Error replies by code (`ERR`, `WRONGTYPE`, ...), for INFO errorstats.
    pub errors: Mutex<HashMap<String, u64>>,
}

impl ServerStats {
    pub fn count_error(&self, code: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        *self.errors.lock().entry(code.to_string()).or_default() += 1;
    }

    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.net_repl_input_bytes,
            &self.net_repl_output_bytes,
            &self.client_query_buffer_limit_disconnections,
            &self.client_output_buffer_limit_disconnections,
            &self.total_error_replies,
            &self.unknown_commands,
            &self.acl_access_denied_auth,
            &self.acl_access_denied_cmd,
            &self.acl_access_denied_key,
            &self.acl_access_denied_channel,
            &self.reads_processed,
            &self.writes_processed,
            &self.expire_cycle_micros,
            &self.lazyfree.freed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
    }
}

/// CPU time used by the calling thread (user, system): INFO's `*_main_thread` figures are
/// those of the thread answering INFO, a command-serving worker.
pub fn thread_cpu_times() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// CPU time used by this process (user, system), from getrusage.
pub fn cpu_times() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_microseconds() {
        assert_eq!(bucket_of(Duration::from_nanos(300)), 0);
        assert_eq!(bucket_of(Duration::from_micros(1)), 0);
        assert_eq!(bucket_of(Duration::from_micros(2)), 1);
        assert_eq!(bucket_of(Duration::from_micros(3)), 2);
        assert_eq!(bucket_of(Duration::from_micros(4)), 2);
        assert_eq!(bucket_of(Duration::from_secs(1000)), BUCKETS - 1);
    }

    #[test]
    fn local_stats_publish_once() {
        let table: Vec<CommandStats> = (0..3).map(|_| CommandStats::default()).collect();
        let mut local = LocalStats::default();
        local.record(1, Duration::from_micros(3), false);
        local.record(1, Duration::from_micros(3), true);
        local.reject(2);
        local.publish(&table);
        local.publish(&table);
        assert_eq!(table[1].calls.load(Ordering::Relaxed), 2);
        assert_eq!(table[1].failed.load(Ordering::Relaxed), 1);
        assert_eq!(table[2].rejected.load(Ordering::Relaxed), 1);
        assert_eq!(table[1].buckets[2].load(Ordering::Relaxed), 2);
    }
}

/// Command latency over the last seconds (the dashboard's p50/p99): the histograms of every
/// command summed once a second by housekeeping; percentiles come from the difference
/// between the newest sum and the one [`RecentLatency::WINDOW`] before it.
#[derive(Debug, Default)]
pub struct RecentLatency {
    sums: Mutex<std::collections::VecDeque<[u64; BUCKETS]>>,
}

impl RecentLatency {
    /// Sums kept: one per second.
    pub const WINDOW: usize = 10;

    pub fn sample(&self, stats: &[CommandStats]) {
        let mut sum = [0u64; BUCKETS];
        for s in stats {
            for (i, b) in s.buckets.iter().enumerate() {
                sum[i] += b.load(Ordering::Relaxed);
            }
        }
        let mut sums = self.sums.lock();
        sums.push_back(sum);
        while sums.len() > Self::WINDOW + 1 {
            sums.pop_front();
        }
    }

    /// (p50, p99) in milliseconds over the window, as the upper bounds of the histogram
    /// buckets they fall in (powers of two of microseconds); `None` without commands.
    pub fn percentiles(&self) -> Option<(f64, f64)> {
        let sums = self.sums.lock();
        let (first, last) = (sums.front()?, sums.back()?);
        let diff: Vec<u64> = last.iter().zip(first).map(|(a, b)| a - b).collect();
        let total: u64 = diff.iter().sum();
        if total == 0 {
            return None;
        }
        let at = |q: f64| -> f64 {
            let want = (total as f64 * q).ceil() as u64;
            let mut seen = 0;
            for (i, n) in diff.iter().enumerate() {
                seen += n;
                if seen >= want {
                    return bucket_bound_seconds(i).unwrap_or(f64::INFINITY) * 1000.0;
                }
            }
            f64::INFINITY
        };
        Some((at(0.50), at(0.99)))
    }
}
