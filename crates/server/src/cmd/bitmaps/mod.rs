//! Bitmap commands: strings addressed bit by bit, the most significant bit of the first
//! byte being bit 0 (as Redis).

mod bitcount;
mod bitfield;
mod bitop;
mod bitpos;
mod setbit;

use crate::command::{Ctx, Handler};
use crate::error::CmdError;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("setbit", setbit::setbit),
    ("getbit", setbit::getbit),
    ("bitcount", bitcount::bitcount),
    ("bitpos", bitpos::bitpos),
    ("bitop", bitop::bitop),
    ("bitfield", bitfield::bitfield),
    ("bitfield_ro", bitfield::bitfield_ro),
];

/// Redis's `getBitOffsetFromArgument`: a non-negative bit offset whose byte fits under
/// `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8]) -> Result<u64, CmdError> {
    let max = ctx
        .shared
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    match resp::number::parse_i64(arg) {
        Some(o) if o >= 0 && ((o as u64) >> 3) < max => Ok(o as u64),
        _ => Err(CmdError::err(
            "bit offset is not an integer or out of range",
        )),
    }
}

/// Whether a range is in bytes (the default) or bits (the `BIT` option of Redis 7).
fn unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if crate::cmd::is(arg, "bit") {
        Ok(true)
    } else if crate::cmd::is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `start..=end` in `unit`s of a string of `len` bytes, resolved as Redis does (negative
/// from the end, clamped), as an inclusive bit range; `None` when empty.
fn bit_range(start: i64, end: i64, len: usize, bits: bool) -> Option<(u64, u64)> {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    Some(if bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

/// Set bits of `bytes` in the inclusive bit range.
fn count_ones(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let head_mask = 0xffu8 >> (first % 8);
    let tail_mask = 0xffu8 << (7 - last % 8);
    if fb == lb {
        return (bytes[fb] & head_mask & tail_mask).count_ones() as u64;
    }
    // Eight bytes at a time: a popcount per word instead of per byte.
    let middle = &bytes[fb + 1..lb];
    let words = middle.chunks_exact(8);
    let tail: u64 = words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum();
    let middle = count_words(middle) + tail;
    (bytes[fb] & head_mask).count_ones() as u64
        + middle
        + (bytes[lb] & tail_mask).count_ones() as u64
}

/// Set bits in the whole 8-byte words of `bytes`. The build targets baseline x86-64, where
/// `count_ones` is a dozen shifts and masks per word; CPUs since 2008 have a POPCNT
/// instruction, used when present (BITCOUNT of a 12.5 KB bitmap: 10% of the node's CPU per
/// request without it).
fn count_words(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU was just checked to have the instruction the function may use.
        return unsafe { count_words_popcnt(bytes) };
    }
    count_words_portable(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn count_words_popcnt(bytes: &[u8]) -> u64 {
    count_words_portable(bytes)
}

#[inline(always)]
fn count_words_portable(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(8)
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones() as u64)
        .sum()
}

/// The first bit equal to `bit` in the inclusive bit range.
fn find_bit(bytes: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let mut pos = first;
    while pos <= last {
        let byte = bytes[(pos / 8) as usize];
        // Whole bytes with nothing to find are skipped at once.
        if pos.is_multiple_of(8) && pos + 7 <= last && byte == if bit { 0 } else { 0xff } {
            pos += 8;
            continue;
        }
        if (byte >> (7 - pos % 8)) & 1 == bit as u8 {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {

    #[test]
    fn word_counts_agree_with_and_without_popcnt() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let by_byte: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
        assert_eq!(count_words(&bytes), by_byte);
        assert_eq!(count_words_portable(&bytes), by_byte);
        assert_eq!(count_ones(&bytes, 3, 4096 * 8 - 6), {
            let mut n = by_byte;
            n -= u64::from((bytes[0] >> 5).count_ones());
            n -= u64::from((bytes[4095] & 0x1f).count_ones());
            n
        });
    }
    use super::*;

    #[test]
    fn counting_and_finding_agree_with_a_bit_by_bit_pass() {
        let bytes = [0x00u8, 0xf0, 0xff, 0x01, 0x80, 0x00, 0x7e];
        let bit = |p: u64| (bytes[(p / 8) as usize] >> (7 - p % 8)) & 1 == 1;
        let n = bytes.len() as u64 * 8;
        for first in 0..n {
            for last in first..n {
                let ones = (first..=last).filter(|&p| bit(p)).count() as u64;
                assert_eq!(count_ones(&bytes, first, last), ones, "{first}..={last}");
                for b in [false, true] {
                    let want = (first..=last).find(|&p| bit(p) == b);
                    assert_eq!(find_bit(&bytes, first, last, b), want);
                }
            }
        }
    }
}
