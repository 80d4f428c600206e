//! LZF, the compression RDB uses for strings (`rdbcompression yes`): liblzf's format, which
//! every Redis reads. Hand-written: the one Rust port on crates.io is deprecated, and both
//! directions fit in a page.
//!
//! # Format
//! A sequence of chunks. A control byte `c < 32` is a literal run of `c + 1` bytes that
//! follow. Otherwise `len = c >> 5` (7 = read one more byte and add it) and the back
//! reference is `((c & 0x1f) << 8 | next byte) + 1` bytes back; `len + 2` bytes are copied
//! (overlapping copies repeat a pattern).

/// Decompresses `input` into exactly `out_len` bytes; `None` when the data is corrupt.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(64)).max(16));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run)?;
            if out.len() + run > out_len {
                return None;
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let len = len + 2;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            // out[pos + k] = out[pos - back + k]: the bytes from `start` on repeat with
            // period `back`, so whole runs can be copied at once, doubling each time (a
            // run of one byte, `back` = 1, takes log2(len) copies instead of len pushes).
            let start = out.len() - back;
            let mut remaining = len;
            while remaining > 0 {
                let n = remaining.min(out.len() - start);
                out.extend_from_within(start..start + n);
                remaining -= n;
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Most bits of the match-finding hash table (16k slots, liblzf's default).
const MAX_HASH_BITS: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

fn hash(b: &[u8], i: usize, bits: u32) -> usize {
    let v = (u32::from(b[i]) << 16) | (u32::from(b[i + 1]) << 8) | u32::from(b[i + 2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
}

/// Compresses `input`; `None` when the result would not be smaller (RDB then stores the
/// string as it is, as Redis does).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 4 {
        return None;
    }
    // A table sized to the input: a snapshot compresses millions of short strings, and
    // filling 16k slots for each would cost more than compressing them.
    let bits = (usize::BITS - n.leading_zeros()).clamp(6, MAX_HASH_BITS);
    let mut table = vec![usize::MAX; 1 << bits];
    let mut out = Vec::with_capacity(n);
    let mut lit_start = out.len();
    out.push(0); // control byte of the current literal run, patched as the run grows
    let mut lit = 0usize;
    let mut i = 0;
    let flush_literal = |out: &mut Vec<u8>, lit_start: &mut usize, lit: &mut usize| {
        if *lit == 0 {
            // An empty run: reuse its control byte slot.
            return;
        }
        out[*lit_start] = (*lit - 1) as u8;
        *lit_start = out.len();
        out.push(0);
        *lit = 0;
    };
    while i + 2 < n {
        let h = hash(input, i, bits);
        let candidate = table[h];
        table[h] = i;
        if candidate != usize::MAX
            && i - candidate <= MAX_OFF
            && i - candidate > 0
            && input[candidate..candidate + 3] == input[i..i + 3]
        {
            let off = i - candidate - 1;
            let max_len = (n - i).min(MAX_REF);
            let mut len = 3;
            while len < max_len && input[candidate + len] == input[i + len] {
                len += 1;
            }
            flush_literal(&mut out, &mut lit_start, &mut lit);
            // The open (empty) literal slot becomes the back reference's control byte.
            out.pop();
            let l = len - 2;
            if l < 7 {
                out.push(((off >> 8) as u8) | ((l as u8) << 5));
            } else {
                out.push(((off >> 8) as u8) | (7 << 5));
                out.push((l - 7) as u8);
            }
            out.push(off as u8);
            lit_start = out.len();
            out.push(0);
            // Index the last two positions of the match for later matches, as liblzf does
            // in its default (VERY_FAST) mode: indexing every position inside long matches
            // made compressing a repetitive megabyte cost a hash per byte.
            let end = i + len;
            for p in end.saturating_sub(2).max(i + 1)..end {
                if p + 2 < n {
                    table[hash(input, p, bits)] = p;
                }
            }
            i = end;
        } else {
            out.push(input[i]);
            lit += 1;
            i += 1;
            if lit == MAX_LIT {
                flush_literal(&mut out, &mut lit_start, &mut lit);
            }
        }
        if out.len() >= n {
            return None;
        }
    }
    while i < n {
        out.push(input[i]);
        lit += 1;
        i += 1;
        if lit == MAX_LIT {
            flush_literal(&mut out, &mut lit_start, &mut lit);
        }
    }
    if lit > 0 {
        out[lit_start] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    (out.len() < n).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn repetitive_data_shrinks_and_comes_back() {
        let data = b"abcabcabcabcabcabcabcabcabcabc-hello-hello-hello-hello".repeat(20);
        let c = compress(&data).expect("compressible");
        assert!(c.len() < data.len() / 4, "{} of {}", c.len(), data.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
    }

    #[test]
    fn long_runs_and_short_periods_come_back() {
        for data in [
            vec![b'x'; 1 << 20],
            b"ab".repeat(100_000),
            b"abcdefg".repeat(50_000),
            [vec![b'q'; 5], b"xyz".repeat(10_000), vec![0; 70_000]].concat(),
        ] {
            let c = compress(&data).expect("compressible");
            assert!(c.len() < data.len() / 20, "{} of {}", c.len(), data.len());
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn corrupt_input_is_refused() {
        assert!(
            decompress(&[0x20, 0x05], 10).is_none(),
            "reference before the start"
        );
        assert!(
            decompress(&[5, b'a'], 6).is_none(),
            "literal beyond the input"
        );
        assert!(
            decompress(&[0, b'a'], 2).is_none(),
            "shorter than announced"
        );
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data) {
                prop_assert!(c.len() < data.len());
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }
    }
}
