//! The pseudo-random generator behind `math.random` in scripts: Redis's `redisLrand48`
//! (POSIX `lrand48`), starting from the same state and never reseeded between scripts, so a
//! script draws the numbers it would draw on redis-server. (Scripts replicate by their
//! effects, so nothing relies on this for replication; it keeps replies identical.)

/// `lrand48`'s 48-bit state.
#[derive(Debug, Clone, Copy)]
pub struct Rand48 {
    x: u64,
}

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// Redis's `REDIS_LRAND48_MAX` (`INT32_MAX`).
pub const MAX: i64 = i32::MAX as i64;

impl Default for Rand48 {
    /// The state before any seeding (`{X0, X1, X2}` in Redis's `rand.c`).
    fn default() -> Self {
        Rand48 {
            x: 0x1234_ABCD_330E,
        }
    }
}

impl Rand48 {
    /// `redisSrand48(seed)`.
    pub fn seed(&mut self, seed: i32) {
        self.x = ((seed as u32 as u64) << 16) | 0x330E;
    }

    /// `redisLrand48()`: the next 31-bit value.
    pub fn draw(&mut self) -> i64 {
        self.x = (A.wrapping_mul(self.x).wrapping_add(C)) & MASK;
        (self.x >> 17) as i64
    }

    /// `math.random()`'s base: a number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.draw() % MAX) as f64 / MAX as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_draws_match_redis_server() {
        // `EVAL "return tostring(math.random())" 0`, three times on a fresh redis-server 7.0.
        let mut r = Rand48::default();
        let shown: Vec<String> = (0..3).map(|_| format!("{:.14}", r.unit())).collect();
        assert_eq!(
            shown,
            ["0.39646477363839", "0.84048536971234", "0.35333609737146"]
        );
    }
}
