//! Integer parsing with Redis's exact rules.
//!
//! Redis accepts an integer only in canonical form: an optional `-`, no `+`, no leading zeros
//! (except `0` itself), no spaces, at most 20 characters, within `i64`. `-0` is rejected.
//! Using Rust's `str::parse` would accept `+5` and `007`, which Redis answers with
//! `-ERR value is not an integer or out of range`, so we hand-write it.

/// Parses `s` as Redis's `string2ll` does; `None` where Redis would reject it.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    // Accumulate as a negative number so i64::MIN fits.
    let mut value: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub((c - b'0') as i64)?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Parses a non-negative length or count as the protocol header parser does (same rules as
/// [`parse_i64`]); negative values are returned so the caller can apply Redis's meaning.
pub fn parse_len(s: &[u8]) -> Option<i64> {
    parse_i64(s)
}

/// Formats an integer into a stack buffer (used on hot paths to avoid allocation).
pub fn format_i64(v: i64) -> itoa::Buffer {
    let mut b = itoa::Buffer::new();
    b.format(v);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn rejects_what_redis_rejects() {
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"abc",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trips_every_i64(v: i64) {
            proptest::prop_assert_eq!(parse_i64(v.to_string().as_bytes()), Some(v));
        }
    }
}
