//! Incremental, zero-copy parsing of client requests.
//!
//! Hand-written rather than taken from a crate because it is the hottest code in the node: a
//! pipelined GET costs a few hundred nanoseconds in total, so the parser records argument
//! *ranges* into the connection's read buffer instead of allocating, and it keeps its place
//! across reads so a large multibulk arriving in many packets is scanned once, not once per
//! packet.
//!
//! The accepted language and every error message follow Redis 7's `processMultibulkBuffer` and
//! `processInlineBuffer`, including the parts that are lenient (a negative multibulk count is
//! an empty command; the two bytes after a bulk payload are skipped unchecked).

use std::fmt;

/// Longest header line or inline command we wait for before giving up (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Bulk length allowed before a client has authenticated (Redis: 16 KiB).
const UNAUTHENTICATED_MAX_BULK: i64 = 16 * 1024;
/// Multibulk count allowed before a client has authenticated (Redis: 10).
const UNAUTHENTICATED_MAX_COUNT: i64 = 10;

/// Limits the parser enforces; they come from the server's live configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest single argument.
    pub max_bulk_len: i64,
    /// Whether the client may send large requests yet (`requirepass` not satisfied = false).
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// Why a request was rejected. The connection must be closed after replying
/// `-ERR Protocol error: <Display>`, exactly as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
    TooBigInline,
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::UnauthenticatedMultibulkLength => {
                f.write_str("unauthenticated multibulk length")
            }
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::ExpectedDollar(c) => write!(f, "expected '$', got '{}'", *c as char),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::UnauthenticatedBulkLength => f.write_str("unauthenticated bulk length"),
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Outcome of one [`RequestParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command is ready in [`RequestParser::args`]; it occupies `consumed` bytes.
    Command { consumed: usize },
    /// `consumed` bytes held no command (an empty line, `*0`, `*-1`); skip them.
    Empty { consumed: usize },
    /// More bytes are needed. `total_hint` is the buffer length that will complete the
    /// current argument when known, so the caller can reserve it in one go.
    Incomplete { total_hint: Option<usize> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Buffer,
    Inline,
}

/// Parses one request at a time from the front of a buffer.
///
/// Invariant: between calls that return `Incomplete`, the caller passes the same bytes again
/// (possibly with more appended) starting at the same command; after `Command` or `Empty` it
/// advances past `consumed` bytes before the next call.
#[derive(Debug)]
pub struct RequestParser {
    ranges: Vec<(usize, usize)>,
    expected: usize,
    pos: usize,
    inline: Vec<u8>,
    source: Source,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

fn find(haystack: &[u8], from: usize, needle: u8) -> Option<usize> {
    haystack[from..]
        .iter()
        .position(|&c| c == needle)
        .map(|i| i + from)
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser {
            ranges: Vec::with_capacity(8),
            expected: 0,
            pos: 0,
            inline: Vec::new(),
            source: Source::Buffer,
        }
    }

    /// True while a multibulk command has been started but not finished.
    pub fn in_progress(&self) -> bool {
        self.expected != 0
    }

    /// The arguments of the command the last `parse` returned as `Command`. `buf` must be the
    /// same buffer that was parsed.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        match self.source {
            Source::Buffer => Args::new(buf, &self.ranges),
            Source::Inline => Args::new(&self.inline, &self.ranges),
        }
    }

    /// Parses the next request at the start of `buf`.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
        if self.expected == 0 {
            if buf.is_empty() {
                return Ok(Parsed::Incomplete { total_hint: None });
            }
            if buf[0] != b'*' {
                return self.parse_inline(buf);
            }
            let Some(cr) = find(buf, 1, b'\r') else {
                if buf.len() > INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigMultibulkCount);
                }
                return Ok(Parsed::Incomplete { total_hint: None });
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete { total_hint: None });
            }
            let count = crate::number::parse_len(&buf[1..cr])
                .filter(|&n| n <= i32::MAX as i64)
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count <= 0 {
                return Ok(Parsed::Empty { consumed: cr + 2 });
            }
            if !limits.authenticated && count > UNAUTHENTICATED_MAX_COUNT {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            self.expected = count as usize;
            self.pos = cr + 2;
            self.ranges.clear();
            // Never trust the count for the allocation: it may be a lie.
            self.ranges.reserve(self.expected.min(1024));
            self.source = Source::Buffer;
        }
        while self.ranges.len() < self.expected {
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(Parsed::Incomplete { total_hint: None });
            }
            let Some(cr) = find(buf, pos, b'\r') else {
                if buf.len() - pos > INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigBulkCount);
                }
                return Ok(Parsed::Incomplete { total_hint: None });
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete { total_hint: None });
            }
            if buf[pos] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[pos]));
            }
            let len = crate::number::parse_len(&buf[pos + 1..cr])
                .filter(|&n| n >= 0 && n <= limits.max_bulk_len)
                .ok_or(ProtocolError::InvalidBulkLength)?;
            if !limits.authenticated && len > UNAUTHENTICATED_MAX_BULK {
                return Err(ProtocolError::UnauthenticatedBulkLength);
            }
            let start = cr + 2;
            let end = start + len as usize;
            if end + 2 > buf.len() {
                return Ok(Parsed::Incomplete {
                    total_hint: Some(end + 2),
                });
            }
            self.ranges.push((start, end));
            self.pos = end + 2;
        }
        let consumed = self.pos;
        self.expected = 0;
        self.pos = 0;
        Ok(Parsed::Command { consumed })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(newline) = find(buf, 0, b'\n') else {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete { total_hint: None });
        };
        let mut line = &buf[..newline];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.inline.clear();
        self.ranges.clear();
        split_args(line, &mut self.inline, &mut self.ranges)?;
        self.source = Source::Inline;
        if self.ranges.is_empty() {
            return Ok(Parsed::Empty {
                consumed: newline + 1,
            });
        }
        Ok(Parsed::Command {
            consumed: newline + 1,
        })
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits an inline command line the way Redis's `sdssplitargs` does: whitespace separates
/// arguments, `"..."` understands `\n \r \t \b \a \xHH` escapes, `'...'` understands `\'`, and a
/// closing quote must be followed by whitespace or the end of the line.
pub fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), ProtocolError> {
    // C strings end at NUL; so does the line for sdssplitargs.
    let line = match line.iter().position(|&c| c == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        out.push(h * 16 + l);
                        p += 3;
                    } else {
                        out.push(b'x');
                        p += 1;
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => out.push(other),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        ranges.push((start, out.len()));
    }
}

/// The arguments of one command: `get(0)` is the command name.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(base: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { base, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The `i`th argument. Panics when out of range: arity is checked before dispatch.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.base[s..e]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.ranges.iter().map(move |&(s, e)| &base[s..e])
    }

    /// Arguments from `from` on.
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args {
            base: self.base,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }

    /// Arguments `from..to`.
    pub fn range(&self, from: usize, to: usize) -> Args<'a> {
        let to = to.min(self.ranges.len());
        Args {
            base: self.base,
            ranges: &self.ranges[from.min(to)..to],
        }
    }

    pub fn to_owned(&self) -> OwnedArgs {
        OwnedArgs::from_iter(self.iter())
    }
}

/// Arguments that outlive the read buffer (queued in MULTI, kept in the slow log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedArgs {
    data: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl OwnedArgs {
    pub fn as_args(&self) -> Args<'_> {
        Args::new(&self.data, &self.ranges)
    }

    /// Empties it, keeping its buffers (for reuse).
    pub fn clear(&mut self) {
        self.data.clear();
        self.ranges.clear();
    }

    pub fn push(&mut self, arg: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(arg);
        self.ranges.push((start, self.data.len()));
    }
}

impl<'b> FromIterator<&'b [u8]> for OwnedArgs {
    fn from_iter<I: IntoIterator<Item = &'b [u8]>>(iter: I) -> Self {
        let mut owned = OwnedArgs::default();
        for a in iter {
            owned.push(a);
        }
        owned
    }
}

/// Encodes a command as a RESP multibulk array (what clients send).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            match p.parse(&input[at..], &Limits::default())? {
                Parsed::Command { consumed } => {
                    out.push(p.args(&input[at..]).iter().map(|a| a.to_vec()).collect());
                    at += consumed;
                }
                Parsed::Empty { consumed } => at += consumed,
                Parsed::Incomplete { .. } => return Ok(out),
            }
        }
    }

    fn strs(cmds: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
        cmds.iter()
            .map(|c| c.iter().map(|a| a.as_bytes().to_vec()).collect())
            .collect()
    }

    #[test]
    fn parses_pipelined_multibulk() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, strs(&[&["GET", "k"], &["PING"]]));
    }

    #[test]
    fn half_a_frame_is_incomplete_and_resumes() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut p = RequestParser::new();
        for cut in 0..full.len() {
            let r = p.parse(&full[..cut], &Limits::default()).unwrap();
            assert!(matches!(r, Parsed::Incomplete { .. }), "cut {cut}: {r:?}");
        }
        assert_eq!(
            p.parse(full, &Limits::default()).unwrap(),
            Parsed::Command {
                consumed: full.len()
            }
        );
        let args: Vec<_> = p.args(full).iter().collect();
        assert_eq!(args, vec![&b"SET"[..], b"key", b"value"]);
    }

    #[test]
    fn inline_commands_follow_sdssplitargs() {
        let got = parse_all(b"set  a \"b c\\x41\\n\" 'it\\'s'\r\nPING\n\r\n").unwrap();
        assert_eq!(got, strs(&[&["set", "a", "b cA\n", "it's"], &["PING"]]));
        assert_eq!(
            parse_all(b"set a \"b\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_all(b"set a \"b\"c\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            parse_all(b"*abc\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*3000000000\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n+foo\r\n"),
            Err(ProtocolError::ExpectedDollar(b'+'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(parse_all(b"*-1\r\n*0\r\n").unwrap(), strs(&[]));
        let long = vec![b'a'; INLINE_MAX_SIZE + 1];
        assert_eq!(parse_all(&long), Err(ProtocolError::TooBigInline));
        let mut mb = b"*1".to_vec();
        mb.extend_from_slice(&long);
        assert_eq!(parse_all(&mb), Err(ProtocolError::TooBigMultibulkCount));
        let unauth = Limits {
            authenticated: false,
            ..Limits::default()
        };
        assert_eq!(
            RequestParser::new().parse(b"*11\r\n", &unauth),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(
            RequestParser::new().parse(b"*1\r\n$20000\r\n", &unauth),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(cmds in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), 1..5),
            split in any::<proptest::sample::Index>())
        {
            let mut wire = Vec::new();
            for c in &cmds {
                encode_command(c, &mut wire);
            }
            // Feed the bytes in two pieces to exercise the resumable state.
            let cut = split.index(wire.len() + 1);
            let mut p = RequestParser::new();
            let mut got = Vec::new();
            let mut at = 0;
            let mut avail = cut;
            loop {
                match p.parse(&wire[at..avail], &Limits::default()).unwrap() {
                    Parsed::Command { consumed } => {
                        got.push(p.args(&wire[at..avail]).iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                        at += consumed;
                    }
                    Parsed::Empty { consumed } => at += consumed,
                    Parsed::Incomplete { .. } => {
                        if avail == wire.len() { break; }
                        avail = wire.len();
                    }
                }
            }
            prop_assert_eq!(got, cmds);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_all(&data);
        }
    }
}
