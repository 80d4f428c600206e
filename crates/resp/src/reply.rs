//! Reply encoding for RESP2 and RESP3.
//!
//! Command handlers write straight into the connection's output buffer through
//! [`ReplyWriter`] instead of building a reply tree: no allocation per reply, and a pipeline
//! of replies leaves in one `write` call. The writer knows the protocol version the client
//! chose with `HELLO`, so handlers say "a map of 3" or "a null" and the right bytes come out.

use bytes::{BufMut, BytesMut};

/// An output buffer plus the client's protocol version.
#[derive(Debug)]
pub struct ReplyWriter {
    buf: BytesMut,
    resp3: bool,
}

impl Default for ReplyWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyWriter {
    pub fn new() -> Self {
        ReplyWriter {
            buf: BytesMut::with_capacity(16 * 1024),
            resp3: false,
        }
    }

    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    /// Bytes waiting to be written.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after `len` (used by `CLIENT REPLY OFF/SKIP`).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn line(&mut self, prefix: u8, n: i64) {
        let mut itoa = itoa::Buffer::new();
        self.buf.put_u8(prefix);
        self.buf.put_slice(itoa.format(n).as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`). `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.put_u8(b'+');
        self.buf.put_slice(text.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error reply. `message` starts with the error code (`ERR ...`, `WRONGTYPE ...`); line
    /// breaks are replaced with spaces, as Redis does, so the reply stays one line.
    pub fn error(&mut self, message: &str) {
        self.buf.put_u8(b'-');
        for &c in message.as_bytes() {
            self.buf
                .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.put_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.line(b'$', data.len() as i64);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut itoa = itoa::Buffer::new();
        let s = itoa.format(n);
        self.bulk(s.as_bytes());
    }

    /// The null bulk string (`$-1` in RESP2).
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` in RESP2).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map of `pairs` key/value pairs (a flat array of 2×pairs in RESP2).
    pub fn map(&mut self, pairs: usize) {
        if self.resp3 {
            self.line(b'%', pairs as i64);
        } else {
            self.line(b'*', 2 * pairs as i64);
        }
    }

    /// A set (an array in RESP2).
    pub fn set(&mut self, len: usize) {
        self.line(if self.resp3 { b'~' } else { b'*' }, len as i64);
    }

    /// An out-of-band push (an array in RESP2).
    pub fn push(&mut self, len: usize) {
        self.line(if self.resp3 { b'>' } else { b'*' }, len as i64);
    }

    /// A boolean (the integers 1/0 in RESP2).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A double, formatted as Redis 7.0 does (`%.17g`; a bulk string in RESP2).
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.resp3 {
            self.buf.put_u8(b',');
            self.buf.put_slice(text.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A verbatim string (`=len\r\ntxt:...`; a bulk string in RESP2). `format` is 3 bytes.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            self.line(b'=', (text.len() + 4) as i64);
            self.buf.put_slice(format.as_bytes());
            self.buf.put_u8(b':');
            self.buf.put_slice(text);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Raw, pre-encoded bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }
}

/// Formats like C's `printf("%.17g")`, which Redis 7.0 uses for double replies; infinities
/// are `inf`/`-inf` and NaN is `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const PRECISION: i32 = 17;
    // Scientific form with 17 significant digits gives the digits and the exponent.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("scientific format has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if !(-4..PRECISION).contains(&exp) {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (PRECISION - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_doubles_like_printf_17g() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.25e-5), "1.2500000000000001e-05");
        assert_eq!(format_double(-3.0), "-3");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(
            format_double(123456789012345680.0),
            "1.2345678901234568e+17"
        );
    }

    #[test]
    fn resp2_and_resp3_nulls_and_maps() {
        let mut w = ReplyWriter::new();
        w.null();
        w.map(1);
        w.set_resp3(true);
        w.null();
        w.map(1);
        w.error("ERR a\r\nb");
        assert_eq!(w.buffer(), b"$-1\r\n*2\r\n_\r\n%1\r\n-ERR a  b\r\n");
    }
}
