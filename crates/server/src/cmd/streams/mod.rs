//! Stream commands, as Redis 7.0's `t_stream.c`: XADD, XTRIM, XDEL, XSETID, XRANGE,
//! XREVRANGE, XLEN, XREAD, XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO.
//! The stream itself (nodes, trimming, groups) is `store::stream`.

mod xack;
mod xadd;
mod xclaim;
mod xdel;
mod xgroup;
mod xinfo;
mod xrange;
pub mod xread;

use resp::ReplyWriter;
use store::stream::ItemRef;
use store::{Stream, StreamId};

use crate::command::{Ctx, Handler};
use crate::error::CmdError;

pub use xread::{serve_blocked, StreamWait};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("xadd", xadd::xadd),
    ("xtrim", xadd::xtrim),
    ("xdel", xdel::xdel),
    ("xsetid", xdel::xsetid),
    ("xrange", xrange::xrange),
    ("xrevrange", xrange::xrevrange),
    ("xlen", xrange::xlen),
    ("xread", xread::xread),
    ("xreadgroup", xread::xreadgroup),
    ("xgroup|create", xgroup::create),
    ("xgroup|setid", xgroup::setid),
    ("xgroup|destroy", xgroup::destroy),
    ("xgroup|createconsumer", xgroup::createconsumer),
    ("xgroup|delconsumer", xgroup::delconsumer),
    ("xgroup|help", xgroup::help),
    ("xack", xack::xack),
    ("xpending", xack::xpending),
    ("xclaim", xclaim::xclaim),
    ("xautoclaim", xclaim::xautoclaim),
    ("xinfo|stream", xinfo::stream),
    ("xinfo|groups", xinfo::groups),
    ("xinfo|consumers", xinfo::consumers),
    ("xinfo|help", xinfo::help),
];

fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

/// C's `strtoull` over the whole text, as Redis's `string2ull` falls back to it: leading
/// spaces, an optional sign (a minus wraps around), at least one digit, nothing after;
/// `None` on overflow. Canonical negative numbers are refused first, as `string2ull` does.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = resp::number::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// How an ID argument was written (`streamGenericParseIDOrReply`).
pub(crate) struct ParsedId {
    pub id: StreamId,
    /// False for `<ms>-*` (XADD only): the sequence is to be generated.
    pub seq_given: bool,
}

/// Parses an ID: `-` and `+` (unless `strict`), `<ms>`, `<ms>-<seq>`, and with `allow_auto_seq`
/// `<ms>-*`. A missing sequence is `missing_seq`.
pub(crate) fn parse_id_generic(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<ParsedId, CmdError> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    // The C code works on a NUL-terminated copy: text after a NUL is not seen.
    let arg = match arg.iter().position(|&b| b == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    if strict && (arg == b"-" || arg == b"+") {
        return Err(invalid_id());
    }
    if arg == b"-" {
        return Ok(ParsedId {
            id: StreamId::MIN,
            seq_given: true,
        });
    }
    if arg == b"+" {
        return Ok(ParsedId {
            id: StreamId::MAX,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(d) => (&arg[..d], Some(&arg[d + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid_id)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if allow_auto_seq => (0, false),
        Some(s) => (string2ull(s).ok_or_else(invalid_id)?, true),
        None => (missing_seq, true),
    };
    Ok(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// `streamParseIDOrReply`: `-` and `+` allowed.
pub(crate) fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_generic(arg, missing_seq, false, false).map(|p| p.id)
}

/// `streamParseStrictIDOrReply` without the `<ms>-*` form.
pub(crate) fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_generic(arg, 0, true, false).map(|p| p.id)
}

/// A range bound (`streamParseIntervalIDOrReply`): `(` makes it exclusive.
pub(crate) fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_generic(&arg[1..], missing_seq, true, false)?.id;
        Ok((id, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

/// An inclusive range from XRANGE-style bounds, with Redis's errors for an exclusive bound
/// that cannot move.
pub(crate) fn parse_range(start: &[u8], end: &[u8]) -> Result<(StreamId, StreamId), CmdError> {
    let (mut s, s_ex) = parse_interval(start, 0)?;
    if s_ex {
        s = s
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"))?;
    }
    let (mut e, e_ex) = parse_interval(end, u64::MAX)?;
    if e_ex {
        e = e
            .decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"))?;
    }
    Ok((s, e))
}

/// Writes an ID as Redis does: a bulk string `<ms>-<seq>`.
pub(crate) fn write_id(out: &mut ReplyWriter, id: StreamId) {
    let mut buf = itoa::Buffer::new();
    let mut text = Vec::with_capacity(42);
    text.extend_from_slice(buf.format(id.ms).as_bytes());
    text.push(b'-');
    text.extend_from_slice(buf.format(id.seq).as_bytes());
    out.bulk(&text);
}

/// Writes one entry: `[id, [field, value, ...]]`.
pub(crate) fn write_item(out: &mut ReplyWriter, item: ItemRef<'_>) {
    out.array(2);
    write_id(out, item.id);
    out.array(item.len());
    for p in item.pairs() {
        out.bulk(p);
    }
}

/// An owned copy of an entry (for replies written after the shard lock is released).
pub(crate) type OwnedItem = (StreamId, Vec<Box<[u8]>>);

/// `NOGROUP No such key '<key>' or consumer group '<group>'<suffix>`.
pub(crate) fn no_group(key: &[u8], group: &[u8], suffix: &str) -> CmdError {
    CmdError::Raw(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{suffix}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Runs `f` on the stream at `key` for writing; `Ok(None)` when absent, WRONGTYPE for
/// another type. `f` returns (result, changed).
pub(crate) fn write_stream<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Stream) -> (R, bool),
) -> Result<Option<R>, CmdError> {
    crate::cmd::write_collection_if(ctx, key, create, f)
}

/// Runs `f` on the stream at `key` for reading; `Ok(None)` when absent.
pub(crate) fn read_stream<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&Stream, &mut ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    crate::cmd::read_collection(ctx, key, |v| v.as_stream(), f)
}

/// Whether the key holds a stream (`Some(false)`: another type; `None`: absent).
pub(crate) fn is_stream(ctx: &Ctx<'_>, key: &[u8]) -> Option<bool> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    ks.lock(h)
        .peek(h, key, ctx.now)
        .map(|e| e.value().as_stream().is_some())
}

/// A keyspace event of the stream class for `key`.
pub(crate) fn notify(ctx: &Ctx<'_>, event: &str, key: &[u8]) {
    crate::notify::event(ctx.shared, crate::notify::STREAM, event, key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_does() {
        let p = |s: &str| parse_id(s.as_bytes(), 0).ok();
        assert_eq!(p("5"), Some(StreamId::new(5, 0)));
        assert_eq!(p("5-3"), Some(StreamId::new(5, 3)));
        assert_eq!(p("0005-1"), Some(StreamId::new(5, 1)));
        assert_eq!(p("-"), Some(StreamId::MIN));
        assert_eq!(p("+"), Some(StreamId::MAX));
        assert_eq!(p("-1"), None);
        assert_eq!(p("5-"), None);
        assert_eq!(p("a"), None);
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(p("18446744073709551616"), None);
        assert!(parse_strict_id(b"+").is_err());
        let auto = parse_id_generic(b"5-*", 0, true, true).unwrap();
        assert!(!auto.seq_given);
    }
}
