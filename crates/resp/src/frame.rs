//! Owned RESP2/RESP3 values, for reading replies (clients, the proxy, tests).
//!
//! Not used on the server's request path (see [`crate::request`]), so it favours clarity over
//! speed: values are copied out of the buffer.

use std::fmt;

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    /// A RESP3 double, kept as its text so comparisons are exact.
    Double(String),
    Boolean(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RESP: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

fn bad(msg: &str) -> FrameError {
    FrameError(msg.to_string())
}

impl Frame {
    /// Parses one value from the start of `buf`: `Ok(None)` when more bytes are needed,
    /// otherwise the value and the number of bytes it used.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        parse_at(buf, 0, 0)
    }

    /// Text of a bulk, simple or verbatim string (lossy), for tests and logs.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Frame::Bulk(b) | Frame::Verbatim(_, b) => Some(String::from_utf8_lossy(b).into()),
            Frame::Simple(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Encodes the value (RESP3 types as RESP3).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn head(out: &mut Vec<u8>, p: u8, n: usize) {
            out.push(p);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Frame::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Error(s) => {
                out.push(b'-');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Integer(i) => {
                out.push(b':');
                out.extend_from_slice(i.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Bulk(b) => {
                head(out, b'$', b.len());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let p = match self {
                    Frame::Array(_) => b'*',
                    Frame::Set(_) => b'~',
                    _ => b'>',
                };
                head(out, p, items.len());
                for i in items {
                    i.encode(out);
                }
            }
            Frame::Map(pairs) => {
                head(out, b'%', pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Frame::Double(s) => {
                out.push(b',');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(s) => {
                out.push(b'(');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Verbatim(fmt, text) => {
                head(out, b'=', text.len() + 4);
                out.extend_from_slice(fmt.as_bytes());
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Encodes the value for a RESP2 client, as Redis downgrades RESP3 types: null as a null
    /// bulk string, maps as flat arrays, sets and pushes as arrays, doubles, big numbers and
    /// verbatim strings as bulk strings, booleans as 1/0.
    pub fn encode_resp2(&self, out: &mut Vec<u8>) {
        let bulk = |out: &mut Vec<u8>, b: &[u8]| Frame::Bulk(b.to_vec()).encode(out);
        match self {
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                out.push(b'*');
                out.extend_from_slice(items.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for i in items {
                    i.encode_resp2(out);
                }
            }
            Frame::Map(pairs) => {
                out.push(b'*');
                out.extend_from_slice((pairs.len() * 2).to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for (k, v) in pairs {
                    k.encode_resp2(out);
                    v.encode_resp2(out);
                }
            }
            Frame::Double(s) | Frame::BigNumber(s) => bulk(out, s.as_bytes()),
            Frame::Verbatim(_, text) => bulk(out, text),
            Frame::Boolean(b) => Frame::Integer(i64::from(*b)).encode(out),
            Frame::Simple(_) | Frame::Error(_) | Frame::Integer(_) | Frame::Bulk(_) => {
                self.encode(out)
            }
        }
    }

    /// Encodes for a client speaking `protocol` (2 or 3).
    pub fn encode_for(&self, protocol: u8, out: &mut Vec<u8>) {
        if protocol >= 3 {
            self.encode(out)
        } else {
            self.encode_resp2(out)
        }
    }
}

/// The length of the one complete value at the start of `buf` (`Ok(None)` when more bytes
/// are needed), without building it: the proxy forwards replies as raw bytes. Nesting is
/// tracked with a counter of values still expected, so hostile lengths cost no memory.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0;
    let mut expected: u64 = 1;
    while expected > 0 {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some((l, next)) = line(buf, pos + 1) else {
            return Ok(None);
        };
        expected -= 1;
        pos = next;
        match kind {
            b'+' | b'-' | b':' | b',' | b'(' | b'_' | b'#' => {}
            b'$' | b'!' | b'=' => {
                let n = int(l)?;
                if n >= 0 {
                    let end = next + n as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(bad("blob not followed by CRLF"));
                    }
                    pos = end;
                } else if n != -1 || kind != b'$' {
                    return Err(bad("negative length"));
                }
            }
            b'*' | b'~' | b'>' => {
                let n = int(l)?;
                if n > 0 {
                    expected = expected.saturating_add(n as u64);
                } else if n < -1 || (n == -1 && kind != b'*') {
                    return Err(bad("negative length"));
                }
            }
            b'%' | b'|' => {
                let n = int(l)?;
                if n < 0 {
                    return Err(bad("negative length"));
                }
                // An attribute is followed by the value it describes.
                expected = expected
                    .saturating_add((n as u64).saturating_mul(2))
                    .saturating_add(u64::from(kind == b'|'));
            }
            other => return Err(FrameError(format!("unknown type byte {other:#x}"))),
        }
    }
    Ok(Some(pos))
}

fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let i = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..i], at + i + 2))
}

fn text(b: &[u8]) -> Result<String, FrameError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("non-UTF-8 line"))
}

fn int(b: &[u8]) -> Result<i64, FrameError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad integer"))
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    if depth > MAX_DEPTH {
        return Err(bad("nesting too deep"));
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some((l, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    let items = |n: i64, per: usize| -> Result<Option<(Vec<Frame>, usize)>, FrameError> {
        let mut pos = next;
        let n = usize::try_from(n).map_err(|_| bad("negative length"))? * per;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            match parse_at(buf, pos, depth + 1)? {
                Some((f, p)) => {
                    v.push(f);
                    pos = p;
                }
                None => return Ok(None),
            }
        }
        Ok(Some((v, pos)))
    };
    let blob = |n: i64| -> Result<Option<(&[u8], usize)>, FrameError> {
        let n = usize::try_from(n).map_err(|_| bad("negative length"))?;
        if buf.len() < next + n + 2 {
            return Ok(None);
        }
        if &buf[next + n..next + n + 2] != b"\r\n" {
            return Err(bad("blob not followed by CRLF"));
        }
        Ok(Some((&buf[next..next + n], next + n + 2)))
    };
    Ok(Some(match kind {
        b'+' => (Frame::Simple(text(l)?), next),
        b'-' => (Frame::Error(text(l)?), next),
        b':' => (Frame::Integer(int(l)?), next),
        b',' => (Frame::Double(text(l)?), next),
        b'(' => (Frame::BigNumber(text(l)?), next),
        b'_' => (Frame::Null, next),
        b'#' => match l {
            b"t" => (Frame::Boolean(true), next),
            b"f" => (Frame::Boolean(false), next),
            _ => return Err(bad("bad boolean")),
        },
        b'$' | b'!' | b'=' => {
            let n = int(l)?;
            if n == -1 && kind == b'$' {
                return Ok(Some((Frame::Null, next)));
            }
            let Some((data, end)) = blob(n)? else {
                return Ok(None);
            };
            match kind {
                b'$' => (Frame::Bulk(data.to_vec()), end),
                b'!' => (Frame::Error(text(data)?), end),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err(bad("bad verbatim string"));
                    }
                    (Frame::Verbatim(text(&data[..3])?, data[4..].to_vec()), end)
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int(l)?;
            if n == -1 && kind == b'*' {
                return Ok(Some((Frame::Null, next)));
            }
            let Some((v, end)) = items(n, 1)? else {
                return Ok(None);
            };
            match kind {
                b'*' => (Frame::Array(v), end),
                b'~' => (Frame::Set(v), end),
                _ => (Frame::Push(v), end),
            }
        }
        b'%' | b'|' => {
            let n = int(l)?;
            let Some((v, end)) = items(n, 2)? else {
                return Ok(None);
            };
            let mut it = v.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(val)) = (it.next(), it.next()) {
                pairs.push((k, val));
            }
            if kind == b'|' {
                // An attribute precedes the real value; skip it.
                return parse_at(buf, end, depth + 1);
            }
            (Frame::Map(pairs), end)
        }
        other => return Err(FrameError(format!("unknown type byte {other:#x}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resp2_downgrades_resp3_types() {
        let f = Frame::Array(vec![
            Frame::Null,
            Frame::Map(vec![(
                Frame::Bulk(b"a".to_vec()),
                Frame::Double("1.5".into()),
            )]),
            Frame::Set(vec![Frame::Boolean(true)]),
        ]);
        let mut out = Vec::new();
        f.encode_resp2(&mut out);
        assert_eq!(
            out,
            b"*3\r\n$-1\r\n*2\r\n$1\r\na\r\n$3\r\n1.5\r\n*1\r\n:1\r\n".to_vec()
        );
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            "[a-zA-Z0-9 ]{0,12}".prop_map(Frame::Simple),
            "ERR [a-z ]{0,12}".prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..30).prop_map(Frame::Bulk),
            Just(Frame::Null),
            any::<bool>().prop_map(Frame::Boolean),
            "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(Frame::Double),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Frame::Set),
                proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn parse_of_encode_is_identity(f in arb_frame()) {
            let mut wire = Vec::new();
            f.encode(&mut wire);
            let (back, used) = Frame::parse(&wire).unwrap().unwrap();
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(back, f.clone());
            for cut in 0..wire.len() {
                prop_assert!(Frame::parse(&wire[..cut]).unwrap().is_none());
            }
        }

        #[test]
        fn frame_len_agrees_with_parse(f in arb_frame(), cut in 0usize..64) {
            let mut wire = Vec::new();
            f.encode(&mut wire);
            prop_assert_eq!(frame_len(&wire).unwrap(), Some(wire.len()));
            let short = &wire[..wire.len().saturating_sub(cut + 1)];
            prop_assert_eq!(frame_len(short).unwrap(), None);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = frame_len(&data);
            let _ = Frame::parse(&data);
        }
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let wire = "*1\r\n".repeat(1000);
        assert!(Frame::parse(wire.as_bytes()).is_err());
    }
}
