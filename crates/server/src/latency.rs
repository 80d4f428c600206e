//! The latency monitor (Redis's `latency.c`): with `latency-monitor-threshold` set, every
//! command, expiry cycle, ... that takes at least that many milliseconds leaves a sample
//! under its event name ("command", "fast-command", "expire-cycle"), one per second at
//! most (the highest wins), the last 160 kept per event — what LATENCY LATEST, HISTORY,
//! GRAPH, DOCTOR and RESET read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const HISTORY_LEN: usize = 160;

/// One event's samples: (unix seconds, milliseconds), oldest first.
#[derive(Debug, Default, Clone)]
pub struct Series {
    pub samples: VecDeque<(u64, u64)>,
    /// The highest latency ever recorded for the event (survives the window).
    pub max: u64,
}

#[derive(Default)]
pub struct Monitor {
    /// `latency-monitor-threshold` in milliseconds (0: off), read on every command.
    pub threshold: AtomicU64,
    events: Mutex<BTreeMap<String, Series>>,
}

impl Monitor {
    #[inline]
    pub fn threshold(&self) -> u64 {
        self.threshold.load(Ordering::Relaxed)
    }

    /// `latencyAddSampleIfNeeded`.
    pub fn add_if_needed(&self, event: &str, ms: u64) {
        let t = self.threshold();
        if t != 0 && ms >= t {
            self.add(event, ms, crate::unix_ms() / 1000);
        }
    }

    /// `latencyAddSample`: a second's samples merge into its highest.
    pub fn add(&self, event: &str, ms: u64, now_secs: u64) {
        let mut events = self.events.lock();
        let s = events.entry(event.to_string()).or_default();
        s.max = s.max.max(ms);
        if let Some(last) = s.samples.back_mut() {
            if last.0 == now_secs {
                last.1 = last.1.max(ms);
                return;
            }
        }
        s.samples.push_back((now_secs, ms));
        if s.samples.len() > HISTORY_LEN {
            s.samples.pop_front();
        }
    }

    pub fn events(&self) -> BTreeMap<String, Series> {
        self.events.lock().clone()
    }

    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let name = std::str::from_utf8(event).ok()?;
        self.events.lock().get(name).cloned()
    }

    /// Forgets the named events (all of them with none named); how many existed.
    pub fn reset<'a>(&self, names: impl Iterator<Item = &'a [u8]>) -> usize {
        let mut events = self.events.lock();
        let names: Vec<&[u8]> = names.collect();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        names
            .into_iter()
            .filter(|n| {
                std::str::from_utf8(n)
                    .ok()
                    .is_some_and(|n| events.remove(n).is_some())
            })
            .count()
    }
}

/// LATENCY GRAPH's text (`latencyCommandGenSparkeline`): a header with the high, low and
/// all-time-high, a rule, then one column per sample, its height proportional to the
/// latency between the window's low and high, and each column's age below it.
pub fn graph(event: &str, s: &Series, now_secs: u64) -> String {
    const ROWS: usize = 4;
    let (min, max) = s
        .samples
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &(_, v)| (lo.min(v), hi.max(v)));
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        s.max,
        "-".repeat(80)
    );
    let cols: Vec<(u64, u64)> = s.samples.iter().rev().take(80).rev().copied().collect();
    let height = |v: u64| -> usize {
        if max == min {
            ROWS
        } else {
            1 + ((v - min) as f64 / (max - min) as f64 * (ROWS - 1) as f64).round() as usize
        }
    };
    for row in (1..=ROWS).rev() {
        let line: String = cols
            .iter()
            .map(|&(_, v)| {
                let h = height(v);
                if h > row {
                    '|'
                } else if h == row {
                    '_'
                } else {
                    ' '
                }
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Ages, written vertically as Redis does ("4s", "2m", ...).
    let labels: Vec<String> = cols
        .iter()
        .map(|&(t, _)| {
            let age = now_secs.saturating_sub(t);
            if age < 60 {
                format!("{age}s")
            } else if age < 3600 {
                format!("{}m", age / 60)
            } else if age < 86400 {
                format!("{}h", age / 3600)
            } else {
                format!("{}d", age / 86400)
            }
        })
        .collect();
    let tallest = labels.iter().map(String::len).max().unwrap_or(0);
    for i in 0..tallest {
        let line: String = labels
            .iter()
            .map(|l| l.as_bytes().get(i).map_or(' ', |&b| b as char))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// LATENCY DOCTOR's report.
pub fn doctor(events: &BTreeMap<String, Series>, threshold: u64) -> String {
    if threshold == 0 && events.is_empty() {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let mut slow_commands = false;
    let mut expire = false;
    for (i, (name, s)) in events.iter().enumerate() {
        let n = s.samples.len() as u64;
        let avg = s.samples.iter().map(|&(_, v)| v).sum::<u64>() / n.max(1);
        let mad = s.samples.iter().map(|&(_, v)| v.abs_diff(avg)).sum::<u64>() / n.max(1);
        let period = match (s.samples.front(), s.samples.back()) {
            (Some(a), Some(b)) if n > 1 => (b.0 - a.0) as f64 / (n - 1) as f64,
            _ => 0.0,
        };
        out.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            s.max
        ));
        slow_commands |= name == "command" || name == "fast-command";
        expire |= name == "expire-cycle";
    }
    out.push_str("\nI have a few advices for you:\n\n");
    if slow_commands {
        out.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        out.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if expire {
        out.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_merge_per_second_and_keep_160() {
        let m = Monitor::default();
        m.add("command", 5, 100);
        m.add("command", 9, 100);
        m.add("command", 3, 101);
        let s = m.series(b"command").unwrap();
        assert_eq!(s.samples, [(100, 9), (101, 3)]);
        assert_eq!(s.max, 9);
        for t in 0..200 {
            m.add("x", t, 1000 + t);
        }
        assert_eq!(m.series(b"x").unwrap().samples.len(), HISTORY_LEN);
        assert_eq!(m.reset([&b"x"[..], b"nope"].into_iter()), 1);
        assert_eq!(m.reset(std::iter::empty()), 1);
        assert!(m.events().is_empty());
    }
}
