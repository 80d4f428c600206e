//! HyperLogLog in Redis's own representation, byte for byte (`hyperloglog.c`), so PFCOUNT
//! answers Redis's estimate, GET/DUMP of an HLL key interoperate, and a string written by
//! Redis works here.
//!
//! A 16-byte header (`HYLL`, encoding 0 = dense / 1 = sparse, 3 unused bytes, an 8-byte
//! little-endian cached cardinality whose top bit marks it stale), then 16384 registers of
//! 6 bits each: packed (dense, 12288 bytes) or run-length coded (sparse: ZERO `00xxxxxx`
//! = 1-64 empty registers, XZERO `01xxxxxx yyyyyyyy` = up to 16384, VAL `1vvvvvxx` = 1-4
//! registers holding 1-32). A sparse HLL turns dense when a register needs more than 32 or
//! the string would pass `hll-sparse-max-bytes`.

pub const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const REGISTER_MAX: u8 = 63;
pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + REGISTERS * 6 / 8;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// The representation is corrupt (Redis's `-INVALIDOBJ Corrupted HLL object detected`):
/// its runs do not cover exactly the 16384 registers.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's MurmurHash64A (little-endian reads), seed 0xadc83b19.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the length of its `0...01` run (1..=Q+1).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc83b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Whether `s` is an HLL string (Redis's `isHLLObjectOrReply`, after the type check).
pub fn is_valid(s: &[u8]) -> bool {
    s.len() >= HEADER
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_sparse(s: &[u8]) -> bool {
    s[4] == SPARSE
}

/// A new, empty HLL (sparse: XZERO opcodes covering every register).
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HEADER + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut s, n);
        left -= n;
    }
    s
}

fn push_xzero(s: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    s.push((l >> 8) as u8 | 0x40);
    s.push((l & 0xff) as u8);
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | 0x80
}

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}
fn zero_len(op: u8) -> usize {
    (op & 0x3f) as usize + 1
}
fn xzero_len(op: u8, next: u8) -> usize {
    ((((op & 0x3f) as usize) << 8) | next as usize) + 1
}
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u32;
    regs[byte] &= !((REGISTER_MAX as u32) << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REGISTER_MAX as u32) >> (8 - fb)) as u8;
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// The cached cardinality, if valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().expect("8 bytes")))
}

pub fn set_cache(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Turns a sparse HLL dense in place (header, including the cache, kept).
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&s[..HEADER]);
    dense[4] = DENSE;
    let mut idx = 0;
    let mut p = HEADER;
    while p < s.len() {
        let op = s[p];
        if is_zero(op) {
            idx += zero_len(op);
            p += 1;
        } else if is_xzero(op) {
            idx += xzero_len(op, s.get(p + 1).copied().unwrap_or(0));
            p += 2;
        } else {
            let (len, value) = (val_len(op), val_value(op));
            if idx + len > REGISTERS {
                return Err(Corrupt);
            }
            for i in idx..idx + len {
                dense_set(&mut dense[HEADER..], i, value);
            }
            idx += len;
            p += 1;
        }
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Sets register `index` to `count` if that is larger (Redis's `hllSparseSet` /
/// `hllDenseSet`, same resulting bytes); whether it changed.
pub fn set(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        let regs = &mut s[HEADER..];
        if count > dense_get(regs, index) {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let (mut p, mut first, mut span) = (HEADER, 0usize, 0usize);
    let mut prev: Option<usize> = None;
    while p < end {
        let op = s[p];
        let oplen;
        if is_zero(op) {
            span = zero_len(op);
            oplen = 1;
        } else if op & 0x80 != 0 {
            span = val_len(op);
            oplen = 1;
        } else {
            span = xzero_len(op, s.get(p + 1).copied().unwrap_or(0));
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = s[p];
    let (zero, xzero, val) = (is_zero(op), is_xzero(op), op & 0x80 != 0);
    let runlen = if zero {
        zero_len(op)
    } else if xzero {
        xzero_len(op, s.get(p + 1).copied().unwrap_or(0))
    } else {
        val_len(op)
    };
    // Cases A-C: no change, or an in-place update of a one-register opcode.
    let mut updated_in_place = false;
    if val {
        if val_value(op) >= count {
            return Ok(false);
        }
        if runlen == 1 {
            s[p] = val_op(count, 1);
            updated_in_place = true;
        }
    }
    if zero && runlen == 1 {
        s[p] = val_op(count, 1);
        updated_in_place = true;
    }
    if !updated_in_place {
        // Case D: split the opcode into up to three.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        let zeros = |seq: &mut Vec<u8>, len: usize| {
            if len > ZERO_MAX_LEN {
                push_xzero(seq, len);
            } else {
                seq.push((len - 1) as u8);
            }
        };
        if zero || xzero {
            if index != first {
                zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                zeros(&mut seq, last - index);
            }
        } else {
            let current = val_value(op);
            if index != first {
                seq.push(val_op(current, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(current, last - index));
            }
        }
        let old_len = if xzero { 2 } else { 1 };
        if seq.len() > old_len && s.len() + seq.len() - old_len > sparse_max {
            return promote(s, index, count);
        }
        s.splice(p..p + old_len, seq);
    }
    // Step 4: merge adjacent VAL opcodes of the same value, scanning up to 5 from prev.
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let op = s[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            let (v1, v2) = (val_value(op), val_value(s[p + 1]));
            if v1 == v2 {
                let len = val_len(op) + val_len(s[p + 1]);
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val_op(v1, len);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    let regs = &mut s[HEADER..];
    if count > dense_get(regs, index) {
        dense_set(regs, index, count);
    }
    Ok(true)
}

/// Adds an element; whether a register changed.
pub fn add(s: &mut Vec<u8>, element: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    set(s, index, count, sparse_max)
}

/// Raises `max[i]` to each register of `s` (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HEADER..], i));
        }
        return Ok(());
    }
    let (mut i, mut p) = (0usize, HEADER);
    while p < s.len() {
        let op = s[p];
        if is_zero(op) {
            i += zero_len(op);
            p += 1;
        } else if is_xzero(op) {
            i += xzero_len(op, s.get(p + 1).copied().unwrap_or(0));
            p += 2;
        } else {
            let (len, value) = (val_len(op), val_value(op));
            if i + len > REGISTERS {
                return Err(Corrupt);
            }
            for m in &mut max[i..i + len] {
                *m = (*m).max(value);
            }
            i += len;
            p += 1;
        }
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Every register, decoded.
pub fn registers(s: &[u8]) -> Result<Box<[u8; REGISTERS]>, Corrupt> {
    let mut max = Box::new([0u8; REGISTERS]);
    merge_into(&mut max, s)?;
    Ok(max)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// The estimate from a register histogram (Ertl's estimator, as Redis since 5.0).
fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of one HLL.
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    Ok(count_registers(&*registers(s)?))
}

/// The estimated cardinality of decoded registers (a union, for PFCOUNT of several keys).
pub fn count_registers(regs: &[u8; REGISTERS]) -> u64 {
    let mut histogram = [0u32; 64];
    for r in regs.iter() {
        histogram[*r as usize & 63] += 1;
    }
    estimate(&histogram)
}

/// PFDEBUG DECODE's text for a sparse HLL (`z:n`, `Z:n`, `v:value,len`).
pub fn decode_sparse(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HEADER;
    while p < s.len() {
        let op = s[p];
        if is_zero(op) {
            out.push(format!("z:{}", zero_len(op)));
            p += 1;
        } else if is_xzero(op) {
            out.push(format!(
                "Z:{}",
                xzero_len(op, s.get(p + 1).copied().unwrap_or(0))
            ));
            p += 2;
        } else {
            out.push(format!("v:{},{}", val_value(op), val_len(op)));
            p += 1;
        }
    }
    out.join(" ")
}

/// PFSELFTEST: every register keeps the value it was set to, without disturbing others.
pub fn self_test(seed: u64) -> Result<(), String> {
    let mut regs = vec![0u8; REGISTERS * 6 / 8];
    let mut expect = vec![0u8; REGISTERS];
    let mut x = seed | 1;
    for _ in 0..100 {
        for (i, e) in expect.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *e = (x & REGISTER_MAX as u64) as u8;
            dense_set(&mut regs, i, *e);
        }
        for (i, e) in expect.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != *e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        for i in 0..3000u32 {
            let e = format!("element:{i}");
            assert_eq!(
                add(&mut sparse, e.as_bytes(), 100_000).unwrap(),
                add(&mut dense, e.as_bytes(), 100_000).unwrap()
            );
        }
        assert!(is_sparse(&sparse));
        assert_eq!(registers(&sparse).unwrap(), registers(&dense).unwrap());
        assert_eq!(count(&sparse).unwrap(), count(&dense).unwrap());
        let c = count(&dense).unwrap();
        assert!((2900..3100).contains(&c), "{c}");
        self_test(7).unwrap();
    }
}
