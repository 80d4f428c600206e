//! Redis's logarithmic access-frequency counter (the `allkeys-lfu` "Morris counter").
//!
//! An 8-bit counter that grows with probability `1 / ((counter - 5) * log_factor + 1)` and
//! decays by one every `decay_minutes`. Kept identical to Redis so `OBJECT FREQ` reads the same
//! numbers a Redis user is used to; the eviction policy of the memory issue may use more.

/// The counter of a new key, so it is not evicted before it had a chance to be read.
pub const INIT: u8 = 5;
/// Redis's `lfu-log-factor` default.
pub const LOG_FACTOR: f64 = 10.0;
/// Redis's `lfu-decay-time` default, in minutes.
pub const DECAY_MINUTES: u64 = 1;

/// Minutes clock, 16 bits as in Redis.
pub fn minutes(now_ms: u64) -> u16 {
    ((now_ms / 60_000) & 0xffff) as u16
}

fn elapsed_minutes(now: u16, then: u16) -> u64 {
    if now >= then {
        (now - then) as u64
    } else {
        (65535 - then as u64) + now as u64
    }
}

/// The counter after applying decay for the time since `last_minutes`.
pub fn decayed(counter: u8, last_minutes: u16, now_ms: u64) -> u8 {
    let periods = elapsed_minutes(minutes(now_ms), last_minutes) / DECAY_MINUTES;
    counter.saturating_sub(periods.min(255) as u8)
}

/// One probabilistic increment.
pub fn log_incr(counter: u8, random01: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(INIT) as f64;
    let p = 1.0 / (base * LOG_FACTOR + 1.0);
    if random01 < p {
        counter + 1
    } else {
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_hits_are_certain_then_logarithmic() {
        assert_eq!(log_incr(INIT, 0.999), INIT + 1);
        assert_eq!(log_incr(INIT + 1, 0.5), INIT + 1);
        assert_eq!(log_incr(255, 0.0), 255);
    }

    #[test]
    fn decays_one_per_minute() {
        let t0 = 10 * 60_000;
        assert_eq!(decayed(10, minutes(t0), t0 + 3 * 60_000), 7);
        assert_eq!(decayed(2, minutes(t0), t0 + 30 * 60_000), 0);
    }
}
