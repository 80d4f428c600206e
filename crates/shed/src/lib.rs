//! Load shedding for every front door (RESP, gRPC, HTTP). Above its limits a node answers
//! new requests at once with a refusal the client can retry (`-BUSY`, RESOURCE_EXHAUSTED,
//! HTTP 503 with Retry-After) instead of queueing them until every request is late:
//!
//! - a bound on requests in flight ([`Shedder::admit`]; 0 = none);
//! - a CPU guard: when the process used more than `threshold` of all cores over the last
//!   `window`, new requests are refused until it is back under (measured from
//!   `/proc/self/stat` by a sampling thread, so the check on the request path is one
//!   atomic load).
//!
//! Health, admin and cluster-internal traffic is never passed through a shedder (callers
//! decide what is sheddable). Refusals are counted per door ([`shed_counts`]) for metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The front doors, for the refusal counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Resp = 0,
    Grpc = 1,
    Http = 2,
}

impl Door {
    pub const ALL: [Door; 3] = [Door::Resp, Door::Grpc, Door::Http];

    pub fn name(self) -> &'static str {
        match self {
            Door::Resp => "resp",
            Door::Grpc => "grpc",
            Door::Http => "http",
        }
    }
}

static SHED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Requests refused so far, per door (this process).
pub fn shed_counts() -> [(Door, u64); 3] {
    Door::ALL.map(|d| (d, SHED[d as usize].load(Ordering::Relaxed)))
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InFlight,
    Cpu,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::InFlight => "too many requests in flight",
            Refusal::Cpu => "CPU over the shedding threshold",
        }
    }
}

/// One door's limits. Cheap to check: two atomics.
pub struct Shedder {
    door: Door,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    cpu: Option<&'static CpuGuard>,
}

/// A request admitted: it leaves the in-flight count when dropped.
pub struct Admitted<'a>(&'a Shedder);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shedder {
    /// `max_in_flight` 0 = no bound; `cpu_threshold` (share of all cores, 0.0-1.0) 0 = no
    /// CPU guard.
    pub fn new(
        door: Door,
        max_in_flight: usize,
        cpu_threshold: f64,
        window: Duration,
    ) -> Arc<Shedder> {
        Arc::new(Shedder {
            door,
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            cpu: (cpu_threshold > 0.0).then(|| CpuGuard::start(cpu_threshold, window)),
        })
    }

    /// Whether this door sheds at all.
    pub fn active(&self) -> bool {
        self.max_in_flight > 0 || self.cpu.is_some()
    }

    /// Admits one request, or refuses it (counted).
    pub fn admit(&self) -> Result<Admitted<'_>, Refusal> {
        if self.cpu.is_some_and(|c| c.overloaded()) {
            SHED[self.door as usize].fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Cpu);
        }
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let admitted = Admitted(self);
        if self.max_in_flight > 0 && now >= self.max_in_flight {
            drop(admitted);
            SHED[self.door as usize].fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::InFlight);
        }
        Ok(admitted)
    }

    /// [`Self::admit`] for callers that count a batch themselves: on `Ok`, one request is
    /// in flight until [`Self::leave`].
    pub fn enter(&self) -> Result<(), Refusal> {
        self.admit().map(std::mem::forget)
    }

    /// Ends `n` requests [`Self::enter`] admitted.
    pub fn leave(&self, n: usize) {
        if n > 0 {
            self.in_flight.fetch_sub(n, Ordering::Relaxed);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The process's CPU use over a sliding window, sampled by one thread. One per process
/// (the first threshold and window asked for win; doors share it).
pub struct CpuGuard {
    overloaded: AtomicBool,
    /// The last measured use, in thousandths of all cores.
    use_milli: AtomicU64,
}

static GUARD: OnceLock<CpuGuard> = OnceLock::new();

impl CpuGuard {
    fn start(threshold: f64, window: Duration) -> &'static CpuGuard {
        let mut started = false;
        let guard = GUARD.get_or_init(|| {
            started = true;
            CpuGuard {
                overloaded: AtomicBool::new(false),
                use_milli: AtomicU64::new(0),
            }
        });
        if started {
            let window = window.max(Duration::from_millis(100));
            std::thread::Builder::new()
                .name("cpu-guard".into())
                .spawn(move || sample(guard, threshold, window))
                .expect("start the CPU guard thread");
        }
        guard
    }

    pub fn overloaded(&self) -> bool {
        self.overloaded.load(Ordering::Relaxed)
    }

    /// The last measured CPU use as a share of all cores.
    pub fn usage(&self) -> f64 {
        self.use_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Measures every window/10 over the last `window`.
fn sample(guard: &'static CpuGuard, threshold: f64, window: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let step = window / 10;
    let mut history: std::collections::VecDeque<(Instant, f64)> = std::collections::VecDeque::new();
    loop {
        let now = Instant::now();
        let cpu = process_cpu_seconds();
        history.push_back((now, cpu));
        while history.len() > 1 && now.duration_since(history[0].0) > window {
            history.pop_front();
        }
        let (t0, c0) = history[0];
        let elapsed = now.duration_since(t0).as_secs_f64();
        if elapsed > 0.0 {
            let usage = (cpu - c0).max(0.0) / (elapsed * cores);
            guard
                .use_milli
                .store((usage * 1000.0) as u64, Ordering::Relaxed);
            guard.overloaded.store(usage > threshold, Ordering::Relaxed);
        }
        std::thread::sleep(step);
    }
}

/// utime + stime of this process, in seconds (0 where /proc is not there).
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // After the command name: state is field 0, utime 11, stime 12.
    let parse = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (parse(11) + parse(12)) / tick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_bound_refuses_and_recovers() {
        let s = Shedder::new(Door::Http, 2, 0.0, Duration::from_secs(1));
        let a = s.admit().unwrap();
        let b = s.admit().unwrap();
        assert_eq!(s.admit().err(), Some(Refusal::InFlight));
        assert_eq!(s.in_flight(), 2);
        drop(a);
        let _c = s.admit().unwrap();
        drop(b);
        assert!(shed_counts()[Door::Http as usize].1 >= 1);
        let open = Shedder::new(Door::Resp, 0, 0.0, Duration::from_secs(1));
        assert!(!open.active());
        let _many: Vec<_> = (0..1000).map(|_| open.admit().unwrap()).collect();
    }

    #[test]
    fn cpu_time_is_measured() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() > before);
    }
}
