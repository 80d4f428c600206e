//! The packed encodings Redis dumps as opaque strings inside RDB: listpack (7.0+), ziplist
//! (3.2-6.2), intset and zipmap (2.x). Decoders take untrusted bytes and return `None` on
//! any inconsistency; the encoders write what Redis 7.0 writes (listpack, intset).
//! Integers come back as their decimal text, as Redis shows them.

use crate::elements::{Elements, Pairs};

fn le(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// Sign-extends the low `bits` bits of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// A listpack's elements.
pub fn listpack_entries(lp: &[u8], out: &mut Elements) -> Option<()> {
    if lp.len() < 7 || le(&lp[..4]) as usize != lp.len() {
        return None;
    }
    let declared = le(&lp[4..6]) as usize;
    let first = out.len();
    let mut p = 6;
    loop {
        let b = *lp.get(p)?;
        if b == 0xff {
            break;
        }
        let (value, size) = match b {
            0x00..=0x7f => (Packed::Int(i64::from(b)), 1),
            0x80..=0xbf => {
                let len = (b & 0x3f) as usize;
                (Packed::Bytes(lp.get(p + 1..p + 1 + len)?), 1 + len)
            }
            0xc0..=0xdf => {
                let v = (u64::from(b & 0x1f) << 8) | u64::from(*lp.get(p + 1)?);
                (Packed::Int(signed(v, 13)), 2)
            }
            0xe0..=0xef => {
                let len = ((usize::from(b & 0x0f)) << 8) | usize::from(*lp.get(p + 1)?);
                (Packed::Bytes(lp.get(p + 2..p + 2 + len)?), 2 + len)
            }
            0xf0 => {
                let len = le(lp.get(p + 1..p + 5)?) as usize;
                (
                    Packed::Bytes(lp.get(p + 5..p + 5usize.checked_add(len)?)?),
                    5 + len,
                )
            }
            0xf1 => (Packed::Int(signed(le(lp.get(p + 1..p + 3)?), 16)), 3),
            0xf2 => (Packed::Int(signed(le(lp.get(p + 1..p + 4)?), 24)), 4),
            0xf3 => (Packed::Int(signed(le(lp.get(p + 1..p + 5)?), 32)), 5),
            0xf4 => (Packed::Int(le(lp.get(p + 1..p + 9)?) as i64), 9),
            _ => return None,
        };
        p += size + backlen_size(size);
        if p > lp.len() {
            return None;
        }
        value.push_to(out);
    }
    if p + 1 != lp.len() || (declared != 0xffff && declared != out.len() - first) {
        return None;
    }
    Some(())
}

/// One decoded element of a packed encoding: bytes as stored, or an integer.
enum Packed<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl Packed<'_> {
    fn push_to(self, out: &mut Elements) {
        match self {
            Packed::Bytes(b) => out.push(b),
            Packed::Int(n) => out.push_int(n),
        }
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    }
}

/// The backlen of an entry of `l` bytes: 7 bits per byte, most significant first, every
/// byte but the last (leftmost when read backwards) flagged with 128.
fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let mut b = ((l >> (7 * i)) & 0x7f) as u8;
        if i != n - 1 {
            b |= 0x80;
        }
        out.push(b);
    }
}

/// An element as Redis encodes it in a listpack: the smallest integer encoding when the
/// text is a canonical integer, else a string.
fn push_listpack_entry(out: &mut Vec<u8>, e: &[u8]) {
    let start = out.len();
    match canonical_int(e) {
        Some(v) if (0..=127).contains(&v) => out.push(v as u8),
        Some(v) if (-4096..=4095).contains(&v) => {
            let u = (v as u64) & 0x1fff;
            out.push(0xc0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        Some(v) if i16::try_from(v).is_ok() => {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        Some(v) if i32::try_from(v).is_ok() => {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        Some(v) => {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None if e.len() < 64 => {
            out.push(0x80 | e.len() as u8);
            out.extend_from_slice(e);
        }
        None if e.len() < 4096 => {
            out.push(0xe0 | (e.len() >> 8) as u8);
            out.push(e.len() as u8);
            out.extend_from_slice(e);
        }
        None => {
            out.push(0xf0);
            out.extend_from_slice(&(e.len() as u32).to_le_bytes());
            out.extend_from_slice(e);
        }
    }
    let l = out.len() - start;
    push_backlen(out, l);
}

/// A listpack holding `elements` in order.
pub fn listpack<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for e in elements {
        push_listpack_entry(&mut out, e);
        count += 1;
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    let n = if count < 0xffff { count as u16 } else { 0xffff };
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

/// The integer a string stands for, if it is written exactly as Redis writes that integer
/// (no sign on zero, no leading zeros, no `+`): only those are stored as integers.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// A ziplist's elements (Redis 3.2-6.2 small lists, hashes and sorted sets).
pub fn ziplist_entries(zl: &[u8], out: &mut Elements) -> Option<()> {
    if zl.len() < 11 || le(&zl[..4]) as usize != zl.len() {
        return None;
    }
    let declared = le(&zl[8..10]) as usize;
    let first = out.len();
    let mut p = 10;
    loop {
        let first = *zl.get(p)?;
        if first == 0xff {
            break;
        }
        // Previous entry length: 1 byte, or 0xfe and 4 bytes.
        p += if first == 0xfe { 5 } else { 1 };
        let enc = *zl.get(p)?;
        let (value, size) = match enc >> 6 {
            0 => {
                let len = (enc & 0x3f) as usize;
                (Packed::Bytes(zl.get(p + 1..p + 1 + len)?), 1 + len)
            }
            1 => {
                let len = (usize::from(enc & 0x3f) << 8) | usize::from(*zl.get(p + 1)?);
                (Packed::Bytes(zl.get(p + 2..p + 2 + len)?), 2 + len)
            }
            2 => {
                let b = zl.get(p + 1..p + 5)?;
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                (
                    Packed::Bytes(zl.get(p + 5..(p + 5).checked_add(len)?)?),
                    5 + len,
                )
            }
            _ => match enc {
                0xc0 => (Packed::Int(signed(le(zl.get(p + 1..p + 3)?), 16)), 3),
                0xd0 => (Packed::Int(signed(le(zl.get(p + 1..p + 5)?), 32)), 5),
                0xe0 => (Packed::Int(le(zl.get(p + 1..p + 9)?) as i64), 9),
                0xf0 => (Packed::Int(signed(le(zl.get(p + 1..p + 4)?), 24)), 4),
                0xfe => (Packed::Int(i64::from(*zl.get(p + 1)? as i8)), 2),
                0xf1..=0xfd => (Packed::Int(i64::from(enc & 0x0f) - 1), 1),
                _ => return None,
            },
        };
        p += size;
        value.push_to(out);
    }
    if p + 1 != zl.len() || (declared != 0xffff && declared != out.len() - first) {
        return None;
    }
    Some(())
}

/// An intset's members.
pub fn intset_members(is: &[u8], out: &mut Elements) -> Option<()> {
    if is.len() < 8 {
        return None;
    }
    let width = le(&is[..4]) as usize;
    let count = le(&is[4..8]) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    for c in is[8..].chunks(width) {
        out.push_int(signed(le(c), (width * 8) as u32));
    }
    Some(())
}

/// An intset of `values`, sorted, with the narrowest width that holds them all.
pub fn intset(values: &[i64]) -> Vec<u8> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    let width: usize = if v.iter().all(|x| i16::try_from(*x).is_ok()) {
        2
    } else if v.iter().all(|x| i32::try_from(*x).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * v.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    out
}

/// A zipmap's field/value pairs (Redis 2.x small hashes).
pub fn zipmap_pairs(zm: &[u8]) -> Option<Pairs> {
    let mut p = 1;
    let mut out = Pairs::default();
    let len_at = |p: usize| -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        match b {
            0..=253 => Some((b as usize, 1)),
            254 => Some((le(zm.get(p + 1..p + 5)?) as usize, 5)),
            _ => None,
        }
    };
    loop {
        if *zm.get(p)? == 0xff {
            break;
        }
        let (klen, s) = len_at(p)?;
        p += s;
        let key = zm.get(p..p.checked_add(klen)?)?;
        p += klen;
        let (vlen, s) = len_at(p)?;
        p += s;
        let free = *zm.get(p)? as usize;
        p += 1;
        let value = zm.get(p..p.checked_add(vlen)?)?;
        p += vlen + free;
        out.push(key, value);
    }
    (p + 1 == zm.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The decoders as vectors, for comparing with expected elements.
    fn listpack_entries(b: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut e = Elements::default();
        super::listpack_entries(b, &mut e)?;
        Some(e.to_vecs())
    }

    fn ziplist_entries(b: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut e = Elements::default();
        super::ziplist_entries(b, &mut e)?;
        Some(e.to_vecs())
    }

    fn intset_members(b: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut e = Elements::default();
        super::intset_members(b, &mut e)?;
        Some(e.to_vecs())
    }

    fn zipmap_pairs(b: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        super::zipmap_pairs(b).map(|p| p.to_vecs())
    }
    use proptest::prelude::*;

    #[test]
    fn listpack_integer_encodings() {
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"32767",
            b"-32768",
            b"8388607",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"007",
            b"+1",
            b"",
            b"hello",
        ];
        let lp = listpack(items.iter().copied());
        let back = listpack_entries(&lp).unwrap();
        let want: Vec<Vec<u8>> = items.iter().map(|s| s.to_vec()).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn intset_round_trip_and_widths() {
        for vals in [vec![1, -2, 3], vec![70000, 1], vec![1 << 40, -5]] {
            let is = intset(&vals);
            let mut sorted = vals.clone();
            sorted.sort();
            let want: Vec<Vec<u8>> = sorted.iter().map(|v| v.to_string().into_bytes()).collect();
            assert_eq!(intset_members(&is).unwrap(), want);
        }
        assert_eq!(intset(&[1, 2])[0], 2);
        assert_eq!(intset(&[70000])[0], 4);
        assert_eq!(intset(&[1 << 40])[0], 8);
    }

    #[test]
    fn corrupt_packed_blobs_are_refused() {
        let lp = listpack([&b"abc"[..], b"12"]);
        for cut in 0..lp.len() {
            assert!(listpack_entries(&lp[..cut]).is_none());
        }
        let mut bad = lp.clone();
        bad[6] = 0xfa; // an unknown encoding byte
        assert!(listpack_entries(&bad).is_none());
        assert!(intset_members(&[2, 0, 0, 0, 3, 0, 0, 0, 1, 0]).is_none());
    }

    /// A ziplist built by hand as Redis 6 lays it out: strings and each integer encoding.
    #[test]
    fn ziplist_decodes_every_encoding() {
        let mut entries: Vec<u8> = Vec::new();
        let push = |entries: &mut Vec<u8>, prev: &mut usize, body: &[u8]| {
            if *prev < 254 {
                entries.push(*prev as u8);
            } else {
                entries.push(0xfe);
                entries.extend_from_slice(&(*prev as u32).to_le_bytes());
            }
            entries.extend_from_slice(body);
            *prev = body.len() + if *prev < 254 { 1 } else { 5 };
        };
        let mut prev = 0;
        push(&mut entries, &mut prev, &[0x03, b'a', b'b', b'c']);
        push(&mut entries, &mut prev, &[0xf1 + 7]); // immediate 7
        push(&mut entries, &mut prev, &[0xfe, 0x80]); // int8 -128
        push(&mut entries, &mut prev, &[0xc0, 0x00, 0x80]); // int16 -32768
        push(&mut entries, &mut prev, &[0xf0, 0xff, 0xff, 0x7f]); // int24 8388607
        push(&mut entries, &mut prev, &[0xd0, 0, 0, 0, 0x80]); // int32 min
        let mut i64m = vec![0xe0];
        i64m.extend_from_slice(&i64::MIN.to_le_bytes());
        push(&mut entries, &mut prev, &i64m);
        let long = vec![b'x'; 300];
        let mut body = vec![0x40 | (300 >> 8) as u8, (300 & 0xff) as u8];
        body.extend_from_slice(&long);
        push(&mut entries, &mut prev, &body);
        let mut zl = Vec::new();
        let total = 10 + entries.len() + 1;
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&8u16.to_le_bytes());
        zl.extend_from_slice(&entries);
        zl.push(0xff);
        let got = ziplist_entries(&zl).unwrap();
        let want: Vec<Vec<u8>> = vec![
            b"abc".to_vec(),
            b"7".to_vec(),
            b"-128".to_vec(),
            b"-32768".to_vec(),
            b"8388607".to_vec(),
            b"-2147483648".to_vec(),
            i64::MIN.to_string().into_bytes(),
            long,
        ];
        assert_eq!(got, want);
        assert!(ziplist_entries(&zl[..zl.len() - 1]).is_none());
    }

    #[test]
    fn zipmap_decodes() {
        // zmlen 2; "f" -> "vv" (1 free byte); "g" -> ""
        let zm = [2, 1, b'f', 2, 1, b'v', b'v', 0, 1, b'g', 0, 0, 0xff];
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            vec![(b"f".to_vec(), b"vv".to_vec()), (b"g".to_vec(), vec![])]
        );
        assert!(zipmap_pairs(&zm[..zm.len() - 1]).is_none());
    }

    proptest! {
        #[test]
        fn listpack_round_trip(items in proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|v| v.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..200),
                proptest::collection::vec(any::<u8>(), 4000..4200),
            ], 0..40)) {
            let lp = listpack(items.iter().map(|v| v.as_slice()));
            prop_assert_eq!(listpack_entries(&lp).unwrap(), items);
        }
    }
}
