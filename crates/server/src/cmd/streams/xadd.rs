//! XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
//! XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
use resp::Args;
use store::stream::Trim;
use store::StreamId;

use super::{notify, parse_id_generic, write_id};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// XADD/XTRIM options (`streamAddTrimArgs`).
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    /// At most this many entries removed (0: no limit).
    limit: u64,
    /// Index of the MAXLEN/MINID threshold argument (rewritten for replicas when `~`).
    threshold_at: usize,
    /// XADD: the ID (`None` for `*`) and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    /// XADD: where the ID argument is.
    id_at: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse(ctx: &Ctx<'_>, args: Args<'_>, xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut a = TrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        threshold_at: 0,
        id: None,
        no_mkstream: false,
        id_at: 0,
    };
    let both = || {
        CmdError::err("syntax error, MAXLEN and MINID options at the same time are not compatible")
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        let is = |w: &str| crate::cmd::is(opt, w);
        if xadd && opt == b"*" {
            break;
        } else if (is("maxlen") || is("minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(both());
            }
            let maxlen = is("maxlen");
            a.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let v = args.get(i + 1);
            if maxlen {
                let n = crate::cmd::int_arg(v)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(parse_id_generic(v, 0, true, false)?.id));
            }
            i += 1;
            a.threshold_at = i;
        } else if is("limit") && more > 0 {
            let n = crate::cmd::int_arg(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is("nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            let p = parse_id_generic(opt, 0, true, true)?;
            a.id = Some((p.id, p.seq_given));
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    a.id_at = i;
    if a.limit != 0 && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.client.is_master || ctx.client.loading_aof {
        // Replicated and replayed trims were rewritten to exact ones: never limited.
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        let entries = node_max_entries(ctx) as i64;
        let limit = entries.saturating_mul(100);
        a.limit = if limit <= 0 {
            10000
        } else {
            limit.min(1_000_000) as u64
        };
    } else {
        a.limit = 0;
    }
    Ok(a)
}

fn node_max_entries(ctx: &Ctx<'_>) -> u64 {
    let t = &ctx.shared.live.tunables;
    t.stream_node_max_entries
        .load(std::sync::atomic::Ordering::Relaxed) as u64
}

fn node_max_bytes(ctx: &Ctx<'_>) -> usize {
    let t = &ctx.shared.live.tunables;
    t.stream_node_max_bytes
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// An approximate trim goes to replicas as the exact one it turned out to be
/// (`streamRewriteTrimArgument`): `=` and the length, or the first ID left.
fn exact_trim_args(args: Args<'_>, a: &TrimArgs, s: &store::Stream) -> Vec<Vec<u8>> {
    let mut argv: Vec<Vec<u8>> = args.iter().map(|x| x.to_vec()).collect();
    argv[a.threshold_at - 1] = b"=".to_vec();
    argv[a.threshold_at] = match a.trim {
        Some(Trim::MaxLen(_)) => s.len().to_string().into_bytes(),
        _ => {
            // streamGetEdgeID(s, first, skip_tombstones = 0): the first entry, deleted or not.
            let first = s
                .nodes()
                .next()
                .and_then(|(_, n)| n.items().next().map(|i| i.id))
                .unwrap_or(StreamId::MAX);
            first.text().into_bytes()
        }
    };
    argv
}

pub fn xadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let a = parse(ctx, args, true)?;
    let fields_at = a.id_at + 1;
    let nfields = args.len().saturating_sub(fields_at);
    if nfields < 2 || nfields % 2 == 1 {
        return Err(CmdError::WrongArity("xadd".into()));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = args.get(1);
    match super::is_stream(ctx, key) {
        Some(false) => return Err(CmdError::WrongType),
        None if a.no_mkstream => {
            ctx.out.null();
            return Ok(());
        }
        _ => {}
    }
    let (max_bytes, max_entries) = (node_max_bytes(ctx), node_max_entries(ctx));
    let now = ctx.now;
    let pairs: Vec<&[u8]> = (fields_at..args.len()).map(|i| args.get(i)).collect();
    let total: usize = pairs.iter().map(|p| p.len()).sum();
    let outcome = super::write_stream(ctx, key, true, |s| {
        if s.last_id == StreamId::MAX {
            return (
                Err(CmdError::err(
                    "The stream has exhausted the last possible ID, unable to add more items",
                )),
                false,
            );
        }
        let id = match a.id {
            None => s.next_auto_id(now),
            Some((id, true)) => Some(id),
            Some((id, false)) if s.last_id.ms == id.ms => {
                if s.last_id.seq == u64::MAX {
                    None
                } else {
                    Some(StreamId::new(id.ms, s.last_id.seq + 1))
                }
            }
            Some((id, false)) => Some(id),
        };
        let Some(id) = id.filter(|id| *id > s.last_id) else {
            return (
                Err(CmdError::err(
                    "The ID specified in XADD is equal or smaller than the target stream top item",
                )),
                false,
            );
        };
        if total > store::stream::LISTPACK_MAX_SIZE {
            return (
                Err(CmdError::err("Elements are too large to be stored")),
                false,
            );
        }
        s.append(id, &pairs, max_bytes, max_entries);
        let trimmed = a.trim.map(|t| s.trim(t, a.approx, a.limit)).unwrap_or(0);
        let rewritten = (a.trim.is_some() && a.approx).then(|| exact_trim_args(args, &a, s));
        (Ok((id, trimmed, rewritten)), true)
    })?;
    let (id, trimmed, rewritten) = outcome.expect("XADD creates the stream")?;
    write_id(ctx.out, id);
    notify(ctx, "xadd", key);
    if trimmed > 0 {
        notify(ctx, "xtrim", key);
    }
    if crate::replication::log::capturing() {
        let mut argv = rewritten.unwrap_or_else(|| args.iter().map(|x| x.to_vec()).collect());
        if !matches!(a.id, Some((_, true))) {
            argv[a.id_at] = id.text().into_bytes();
        }
        crate::replication::log::rewrite(argv);
    }
    Ok(())
}

pub fn xtrim(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let a = parse(ctx, args, false)?;
    let key = args.get(1);
    let trim = a.trim.expect("XTRIM has a strategy");
    let outcome = super::write_stream(ctx, key, false, |s| {
        let n = s.trim(trim, a.approx, a.limit);
        let rewritten = (n > 0 && a.approx).then(|| exact_trim_args(args, &a, s));
        ((n, rewritten), n > 0)
    })?;
    let (n, rewritten) = outcome.unwrap_or((0, None));
    if n > 0 {
        notify(ctx, "xtrim", key);
        if let Some(argv) = rewritten {
            crate::replication::log::rewrite(argv);
        }
    }
    ctx.client.dirty = Some(n);
    ctx.out.int(n as i64);
    Ok(())
}
