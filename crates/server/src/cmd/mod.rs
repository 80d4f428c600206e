//! Command implementations, one file per command (or per family sharing one code path, such
//! as INCR/DECR/INCRBY/DECRBY). Semantics, reply types and error texts are Redis 7's.

pub mod bitmaps;
pub(crate) mod blocking_pop;
pub mod cluster;
pub mod connection;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod server;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use resp::ReplyWriter;
use store::{StrRef, ValueRef};

use crate::command::Handler;
use crate::error::CmdError;

/// Every handler by full command name; joined with the metadata in `CommandTable::new`.
pub fn handlers() -> Vec<(&'static str, Handler)> {
    let mut all = Vec::new();
    all.extend_from_slice(strings::HANDLERS);
    all.extend_from_slice(bitmaps::HANDLERS);
    all.extend_from_slice(hashes::HANDLERS);
    all.extend_from_slice(hyperloglog::HANDLERS);
    all.extend_from_slice(lists::HANDLERS);
    all.extend_from_slice(sets::HANDLERS);
    all.extend_from_slice(zsets::HANDLERS);
    all.extend_from_slice(streams::HANDLERS);
    all.extend_from_slice(geo::HANDLERS);
    all.extend_from_slice(keys::HANDLERS);
    all.extend_from_slice(connection::HANDLERS);
    all.extend_from_slice(server::HANDLERS);
    all.extend_from_slice(server::ACL_HANDLERS);
    all.extend_from_slice(transactions::HANDLERS);
    all.extend_from_slice(pubsub::HANDLERS);
    all.extend_from_slice(cluster::HANDLERS);
    all
}

/// Runs `f` on the collection at `key` for reading: `None` when the key is absent,
/// WRONGTYPE when it holds another type (`view` picks the type out of the value). The shard
/// stays locked while `f` runs, so `f` can write its reply straight from the collection.
pub fn read_collection<C, R>(
    ctx: &mut crate::command::Ctx<'_>,
    key: &[u8],
    view: impl for<'v> FnOnce(ValueRef<'v>) -> Option<&'v C>,
    f: impl FnOnce(&C, &mut ReplyWriter) -> R,
) -> Result<Option<R>, CmdError> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    match shard.get(h, key, ctx.now) {
        None => Ok(None),
        Some(e) => match view(e.value()) {
            Some(c) => Ok(Some(f(c, ctx.out))),
            None => Err(CmdError::WrongType),
        },
    }
}

/// Runs `f` on the collection of type `C` at `key` for writing (created when `create`);
/// WRONGTYPE for other types; `None` when absent and not created.
pub fn write_collection<C: store::Collection, R>(
    ctx: &mut crate::command::Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut C) -> R,
) -> Result<Option<R>, CmdError> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    ks.lock(h)
        .modify(h, key, ctx.now, create, f)
        .map_err(|()| CmdError::WrongType)
}

/// [`write_collection`] for changes that may be no-ops: `f` returns (result, changed), and
/// only a real change counts as a modification for WATCH.
pub fn write_collection_if<C: store::Collection, R>(
    ctx: &mut crate::command::Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut C) -> (R, bool),
) -> Result<Option<R>, CmdError> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    ks.lock(h)
        .modify_if(h, key, ctx.now, create, f)
        .map_err(|()| CmdError::WrongType)
}

/// What HSCAN, SSCAN and ZSCAN were asked for.
pub struct ScanOptions<'a> {
    pub cursor: u64,
    /// `None` = every element.
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl ScanOptions<'_> {
    pub fn matches(&self, element: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| store::glob::matches(p, element, false))
    }
}

/// A SCAN cursor as Redis's parseScanCursorOrReply reads it (`strtoul`): an optional sign
/// then digits, nothing else; a minus wraps around (`-1` is 2^64 - 1), an empty string is
/// 0; leading spaces or too many digits are an invalid cursor.
pub fn scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if !digits.iter().all(u8::is_ascii_digit) || (digits.is_empty() && !arg.is_empty()) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// A count that must not be negative, read as Redis's getPositiveLongFromObjectOrReply:
/// `message` for a negative value and for one that is no integer alike.
pub fn non_negative(arg: &[u8], message: &str) -> Result<i64, CmdError> {
    resp::number::parse_i64(arg)
        .filter(|n| *n >= 0)
        .ok_or_else(|| CmdError::err(message))
}

/// The prologue of HSCAN, SSCAN and ZSCAN: validates the cursor, answers an empty scan for
/// a missing key and WRONGTYPE for a key of another type than `type_name` (Redis does both
/// before it reads the options), then parses MATCH and COUNT (10 by default). `Ok(None)`:
/// the reply is written; `Ok(Some(options))`: scan the key.
pub fn collection_scan_options<'a>(
    ctx: &mut crate::command::Ctx<'_>,
    args: resp::Args<'a>,
    type_name: &str,
) -> Result<Option<ScanOptions<'a>>, CmdError> {
    let cursor = scan_cursor(args.get(2))?;
    let key = args.get(1);
    let found = {
        let ks = &ctx.shared.keyspace;
        let h = ks.hash(key);
        ks.lock(h)
            .peek(h, key, ctx.now)
            .map(|e| e.value().type_name())
    };
    if found.is_some_and(|t| t != type_name) {
        return Err(CmdError::WrongType);
    }
    if found.is_none() {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(None);
    }
    let mut options = ScanOptions {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is(args.get(i), "count") && has_value {
            let count = int_arg(args.get(i + 1))?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
            options.count = usize::try_from(count).unwrap_or(usize::MAX);
        } else if is(args.get(i), "match") && has_value {
            options.pattern = Some(args.get(i + 1)).filter(|p| *p != b"*");
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(Some(options))
}

/// Writes a collection scan's reply: the next cursor, then the elements `emit` writes
/// (`items` of them; each may be one or two bulk strings).
pub fn reply_scan(
    out: &mut ReplyWriter,
    next: u64,
    items: usize,
    emit: impl FnOnce(&mut ReplyWriter),
) {
    out.array(2);
    out.bulk_int(next as i64);
    out.array(items);
    emit(out);
}

/// The optional count of SRANDMEMBER, HRANDFIELD and ZRANDMEMBER (argument 2): an integer,
/// refused by Redis when so negative that the reply could not be sized.
pub fn random_count(args: resp::Args<'_>) -> Result<Option<i64>, CmdError> {
    if args.len() < 3 {
        return Ok(None);
    }
    let c = int_arg(args.get(2))?;
    if c < -(i64::MAX / 2) {
        return Err(CmdError::err("value is out of range"));
    }
    Ok(Some(c))
}

/// The reply of a random pick from a missing key: nil without a count, an empty array with.
pub fn reply_random_missing(out: &mut ReplyWriter, count: Option<i64>) {
    match count {
        None => out.null(),
        Some(_) => out.array(0),
    }
}

/// A pop count (LPOP, RPOP, SPOP): a non-negative integer, with Redis's message otherwise.
pub fn positive_count(a: &[u8]) -> Result<usize, CmdError> {
    resp::number::parse_i64(a)
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
        .ok_or_else(|| CmdError::err("value is out of range, must be positive"))
}

/// An integer argument, by Redis's rules.
pub fn int_arg(a: &[u8]) -> Result<i64, CmdError> {
    resp::number::parse_i64(a).ok_or(CmdError::NotInteger)
}

/// Case-insensitive keyword comparison.
pub fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// The string in a value, or WRONGTYPE.
pub fn as_str(v: ValueRef<'_>) -> Result<StrRef<'_>, CmdError> {
    v.as_str().ok_or(CmdError::WrongType)
}

/// A `HELP` reply: `<CMD> <subcommand> ...` header, the given lines, then HELP itself.
pub fn help(out: &mut ReplyWriter, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// Time units of expire arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
}

/// Converts a SET/GETEX/SETEX expire argument to an absolute deadline in ms, as Redis's
/// `getExpireMillisecondsOrReply`: must be positive, and must not overflow.
pub fn expire_deadline(
    arg: &[u8],
    unit: Unit,
    relative: bool,
    now: u64,
    command: &'static str,
) -> Result<u64, CmdError> {
    let n = int_arg(arg)?;
    if n <= 0 || (unit == Unit::Seconds && n > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire(command));
    }
    let ms = if unit == Unit::Seconds { n * 1000 } else { n };
    let at = if relative {
        ms.checked_add(now as i64)
            .ok_or(CmdError::InvalidExpire(command))?
    } else {
        ms
    };
    if at <= 0 {
        return Err(CmdError::InvalidExpire(command));
    }
    Ok(at as u64)
}

/// The expire option keywords of SET and GETEX: (unit, relative to now).
pub fn expire_option(a: &[u8]) -> Option<(Unit, bool)> {
    if is(a, "ex") {
        Some((Unit::Seconds, true))
    } else if is(a, "px") {
        Some((Unit::Millis, true))
    } else if is(a, "exat") {
        Some((Unit::Seconds, false))
    } else if is(a, "pxat") {
        Some((Unit::Millis, false))
    } else {
        None
    }
}

/// An expire option as given: (argument, unit, relative).
pub type ExpireArg<'a> = (&'a [u8], Unit, bool);

/// Redis accepts the same expire option twice (the last wins) but not two different ones.
pub fn expire_compatible(current: Option<ExpireArg<'_>>, unit: Unit, relative: bool) -> bool {
    current.is_none_or(|(_, u, r)| u == unit && r == relative)
}
