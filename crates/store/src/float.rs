//! INCRBYFLOAT arithmetic, bit-for-bit as Redis on x86-64.
//!
//! Redis parses both operands with `strtold`, adds them as an x87 80-bit `long double` and
//! prints the sum with `%.17Lf`, trimming trailing zeros. With `f64` the answers differ in
//! everyday cases (`10.5 + 0.1` would print `10.59999999999999964`), so we emulate the
//! 80-bit arithmetic with `rustc_apfloat` (LLVM's APFloat, correctly rounded) and print the
//! exact binary value to 17 decimals with big integers, rounding half to even like glibc.

use num_bigint::BigUint;
use rustc_apfloat::ieee::X87DoubleExtended as F80;
use rustc_apfloat::{Float, Round, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatError {
    /// `ERR value is not a valid float`
    NotAFloat,
    /// `ERR increment would produce NaN or Infinity`
    NanOrInfinity,
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are rejected.
const MAX_CHARS: usize = 5 * 1024;

/// Parses like Redis's `string2ld`: `strtold` syntax (decimal, `inf`, `infinity`), no leading
/// space, nothing after the number, no NaN, no overflow to infinity or underflow to zero.
pub fn parse_long_double(s: &[u8]) -> Result<F80, FloatError> {
    if s.is_empty() || s.len() >= MAX_CHARS {
        return Err(FloatError::NotAFloat);
    }
    let text = std::str::from_utf8(s).map_err(|_| FloatError::NotAFloat)?;
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(if negative {
            -F80::INFINITY
        } else {
            F80::INFINITY
        });
    }
    // strtold also reads C99 hexadecimal floats (`0x10`, `0x1.8p3`); APFloat wants their
    // binary exponent spelled out.
    let hex = lower.strip_prefix("0x");
    let (text, mantissa) = match hex {
        Some(digits) => {
            if !is_hex_float(digits.as_bytes()) {
                return Err(FloatError::NotAFloat);
            }
            let mantissa = digits.split('p').next().unwrap_or_default().to_string();
            let text = if digits.contains('p') {
                lower.clone()
            } else {
                format!("{lower}p0")
            };
            (text, mantissa)
        }
        None => {
            if !is_decimal(body.as_bytes()) {
                return Err(FloatError::NotAFloat);
            }
            let mantissa = lower.split('e').next().unwrap_or_default().to_string();
            (body.to_string(), mantissa)
        }
    };
    let parsed =
        F80::from_str_r(&text, Round::NearestTiesToEven).map_err(|_| FloatError::NotAFloat)?;
    if parsed.status.contains(Status::OVERFLOW) || parsed.value.is_infinite() {
        return Err(FloatError::NotAFloat);
    }
    let has_nonzero_digit = mantissa
        .bytes()
        .any(|c| c.is_ascii_alphanumeric() && c != b'0');
    if parsed.value.is_zero() && has_nonzero_digit {
        return Err(FloatError::NotAFloat); // underflow: strtold sets ERANGE
    }
    Ok(if negative {
        -parsed.value
    } else {
        parsed.value
    })
}

/// After `0x`: `hexdigits [. hexdigits] [p [+-] digits]` with at least one hex digit (already
/// lowercased), as strtold reads hexadecimal numbers.
fn is_hex_float(s: &[u8]) -> bool {
    let mut i = 0;
    let hex_digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_hexdigit() {
            *i += 1;
        }
        *i - start
    };
    let mut digits = hex_digits(&mut i);
    if i < s.len() && s[i] == b'.' {
        i += 1;
        digits += hex_digits(&mut i);
    }
    if digits == 0 {
        return false;
    }
    if i < s.len() && s[i] == b'p' {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == s.len()
}

/// `digits [. digits] [e [+-] digits]` or `. digits ...`, as strtold reads decimal numbers.
fn is_decimal(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if i < s.len() && s[i] == b'.' {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

/// Parses an increment as HINCRBYFLOAT does before touching the hash: not a float is
/// `NotAFloat`, an infinite one `NanOrInfinity`.
pub fn check_increment(s: &[u8]) -> Result<(), FloatError> {
    if parse_long_double(s)?.is_infinite() {
        return Err(FloatError::NanOrInfinity);
    }
    Ok(())
}

/// `current + increment` as Redis's INCRBYFLOAT computes and prints it.
pub fn incr_by_float(current: &[u8], increment: &[u8]) -> Result<String, FloatError> {
    let a = parse_long_double(current)?;
    let b = parse_long_double(increment)?;
    let sum = (a + b).value;
    if sum.is_nan() || sum.is_infinite() {
        return Err(FloatError::NanOrInfinity);
    }
    Ok(format_human(sum))
}

/// `%.17Lf` with trailing zeros (and a trailing dot) removed; `-0` becomes `0`.
pub fn format_human(v: F80) -> String {
    let bits = v.to_bits();
    let negative = (bits >> 79) & 1 == 1;
    let exp_field = ((bits >> 64) & 0x7fff) as i64;
    let mantissa = (bits & u64::MAX as u128) as u64;
    // Value = mantissa * 2^exp, the integer bit being explicit in the x87 format.
    let exp = if exp_field == 0 { 1 } else { exp_field } - 16383 - 63;
    let scaled = BigUint::from(mantissa) * BigUint::from(10u32).pow(17);
    let n = if exp >= 0 {
        scaled << exp as usize
    } else {
        let shift = (-exp) as usize;
        let q = &scaled >> shift;
        let rem = &scaled - (&q << shift);
        let half = BigUint::from(1u32) << (shift - 1);
        let odd = q.bit(0);
        if rem > half || (rem == half && odd) {
            q + 1u32
        } else {
            q
        }
    };
    let digits = n.to_string();
    let digits = format!("{digits:0>18}");
    let (int_part, frac) = digits.split_at(digits.len() - 17);
    let frac = frac.trim_end_matches('0');
    let is_zero = int_part.bytes().all(|c| c == b'0') && frac.is_empty();
    let mut out = String::with_capacity(digits.len() + 2);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(int_part);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Parses a double as C's `strtod` reads a whole string: optional leading whitespace, sign,
/// decimal digits with optional fraction and exponent, or `inf`/`infinity`/`nan`. `None`
/// when anything is left over. Returns the value and whether `strtod` would set `ERANGE`
/// (overflow to infinity or underflow to zero). An empty string parses as 0, as `strtod`
/// consumes nothing and leaves the end pointer on the terminator.
fn strtod_whole(s: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(s).ok()?;
    let body = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if body.is_empty() {
        return (text.is_empty()).then_some((0.0, false));
    }
    let unsigned = body.trim_start_matches(['+', '-']);
    if body.len() - unsigned.len() > 1 {
        return None;
    }
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return body.parse::<f64>().ok().map(|v| (v, false));
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        let (v, range_error) = parse_hex_float(hex)?;
        return Some((if body.starts_with('-') { -v } else { v }, range_error));
    }
    if !is_decimal(unsigned.as_bytes()) {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    let mantissa_nonzero = unsigned
        .bytes()
        .take_while(|c| *c != b'e' && *c != b'E')
        .any(|c| (b'1'..=b'9').contains(&c));
    let range_error = v.is_infinite() || (v == 0.0 && mantissa_nonzero);
    Some((v, range_error))
}

/// A C99 hexadecimal float without its `0x` (`strtod` accepts them: `1p3`, `1.8`, `ff`):
/// hex digits, an optional fraction, an optional binary exponent `p[+-]n`. Digits past the
/// 16th are truncated (exact for every value an `f64` holds).
fn parse_hex_float(s: &str) -> Option<(f64, bool)> {
    let (mantissa, exponent) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let (mut m, mut exp, mut digits) = (0u64, exponent as i64, 0);
    for (i, c) in int.chars().chain(frac.chars()).enumerate() {
        let d = c.to_digit(16)? as u64;
        if digits < 16 {
            m = m * 16 + d;
            if m > 0 {
                digits += 1;
            }
            if i >= int.len() {
                exp -= 4;
            }
        } else if i < int.len() {
            exp += 4;
        }
    }
    let exp = exp.clamp(-2000, 2000) as i32;
    let v = m as f64 * 2f64.powi(exp);
    Some((v, v.is_infinite() || (v == 0.0 && m != 0)))
}

/// Redis's `getDoubleFromObject` (ZADD scores, ZINCRBY, WEIGHTS): the whole string, no
/// leading or trailing space, no NaN, no overflow or underflow to zero.
pub fn parse_double(s: &[u8]) -> Option<f64> {
    if s.first().is_some_and(|c| c.is_ascii_whitespace()) {
        return None;
    }
    match strtod_whole(s)? {
        (v, false) if !v.is_nan() && !s.is_empty() => Some(v),
        _ => None,
    }
}

/// A SORT weight as Redis reads it with `strtod`: leading space and an empty string (0) are
/// accepted; trailing characters, overflow, underflow and NaN are not.
pub fn parse_sort_score(s: &[u8]) -> Option<f64> {
    match strtod_whole(s)? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// A score range bound as Redis's `zslParseRange` reads it with `strtod`: leading space and
/// an empty string (0) are accepted, overflow gives an infinity, NaN is refused.
pub fn parse_range_double(s: &[u8]) -> Option<f64> {
    strtod_whole(s).map(|(v, _)| v).filter(|v| !v.is_nan())
}

/// A value parsed as Redis's `getLongDoubleFromObject` (`strtold`), as the nearest `f64`
/// (which may be infinite for values only a long double can hold, such as `1e400`).
pub fn parse_long_double_as_f64(s: &[u8]) -> Option<f64> {
    use rustc_apfloat::FloatConvert;
    let v = parse_long_double(s).ok()?;
    let mut loses_info = false;
    let d: rustc_apfloat::ieee::Double = v.convert(&mut loses_info).value;
    Some(f64::from_bits(d.to_bits() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> Result<String, FloatError> {
        incr_by_float(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn matches_redis_documented_examples() {
        assert_eq!(incr("10.50", "0.1").unwrap(), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2").unwrap(), "5200");
        assert_eq!(incr("3.0", "1.1").unwrap(), "4.1");
        assert_eq!(incr("0", "-5").unwrap(), "-5");
        assert_eq!(incr("1", "-1").unwrap(), "0");
        assert_eq!(incr("-0.0", "0").unwrap(), "0");
        assert_eq!(incr("0", "1e-20").unwrap(), "0");
    }

    #[test]
    fn long_double_noise_is_printed_like_glibc() {
        // 2^63 + 0.5 is not representable with a 64-bit mantissa: rounds to even.
        assert_eq!(
            incr("9223372036854775808", "0.5").unwrap(),
            "9223372036854775808"
        );
        assert_eq!(incr("0.1", "0").unwrap(), "0.1");
        assert_eq!(
            incr("1000000.1", "0.1").unwrap(),
            "1000000.20000000000004547"
        );
    }

    #[test]
    fn rejects_what_strtold_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "nan", "1..2", "e5", "1e5000", "1e-5000",
        ] {
            assert_eq!(incr(bad, "1"), Err(FloatError::NotAFloat), "{bad:?}");
        }
        assert_eq!(incr("inf", "1"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr(".5", "+.5").unwrap(), "1");
    }

    #[test]
    fn reads_hexadecimal_floats_as_strtold() {
        assert_eq!(incr("0x10", "0").unwrap(), "16");
        assert_eq!(incr("1", "-0x1.8p1").unwrap(), "-2");
        assert_eq!(incr("0X.8", "0").unwrap(), "0.5");
        assert_eq!(incr("0xAp-1", "0").unwrap(), "5");
        for bad in ["0x", "0xg", "0x1p", "0x1p+", "0x.", "0x1 "] {
            assert_eq!(incr(bad, "1"), Err(FloatError::NotAFloat), "{bad:?}");
        }
        assert_eq!(incr("0x1p-20000", "1"), Err(FloatError::NotAFloat));
        assert_eq!(incr("0x1p20000", "1"), Err(FloatError::NotAFloat));
    }

    #[test]
    fn doubles_parse_like_redis() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"+Infinity"), Some(f64::INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"1e400",
            b"1e-400",
            b"nan",
            b"abc",
            b"+-1",
            b"1e",
        ] {
            assert_eq!(
                parse_double(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_range_double(b""), Some(0.0));
        assert_eq!(parse_range_double(b" 2"), Some(2.0));
        assert_eq!(parse_range_double(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_double(b"nan"), None);
        assert_eq!(parse_range_double(b"2 "), None);
        // strtod's hexadecimal floats.
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        assert_eq!(parse_double(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_double(b"0X.8"), Some(0.5));
        assert_eq!(parse_double(b"0x1p-2"), Some(0.25));
        assert_eq!(parse_double(b"0x"), None);
        assert_eq!(parse_double(b"0xg"), None);
    }
}

/// A double printed as Redis's `addReplyHumanLongDouble` prints it: widened to a `long
/// double` (exactly), then `%.17Lf` with trailing zeros removed (GEOPOS, WITHCOORD).
pub fn format_human_f64(v: f64) -> String {
    use rustc_apfloat::FloatConvert;
    let mut loses_info = false;
    let d = rustc_apfloat::ieee::Double::from_bits(u128::from(v.to_bits()));
    let wide: F80 = d.convert(&mut loses_info).value;
    format_human(wide)
}

#[cfg(test)]
mod human_tests {
    #[test]
    fn geopos_digits_as_redis_prints_them() {
        // GEOPOS Sicily Palermo in the Redis documentation.
        assert_eq!(
            super::format_human_f64(13.361389338970184),
            "13.36138933897018433"
        );
        assert_eq!(
            super::format_human_f64(38.1155563954963),
            "38.11555639549629859"
        );
        assert_eq!(super::format_human_f64(-2.5), "-2.5");
        assert_eq!(super::format_human_f64(0.0), "0");
    }
}
