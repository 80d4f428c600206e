//! XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP.
use resp::{Args, ReplyWriter};
use store::stream::{Group, ENTRIES_READ_INVALID};
use store::{Stream, StreamId};

use super::{write_id, write_item};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The stream at `key`, or Redis's `no such key` error.
fn with<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&Stream, &mut ReplyWriter) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    super::read_stream(ctx, key, f)?.ok_or(CmdError::NoSuchKey)?
}

fn entries_read(out: &mut ReplyWriter, g: &Group) {
    if g.entries_read != ENTRIES_READ_INVALID {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

fn lag(out: &mut ReplyWriter, s: &Stream, g: &Group) {
    match s.group_lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

pub fn stream(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(2);
    match super::is_stream(ctx, key) {
        None => return Err(CmdError::NoSuchKey),
        Some(false) => return Err(CmdError::WrongType),
        Some(true) => {}
    }
    let opts = args.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if opts > 0 {
        if (opts != 1 && opts != 3) || !crate::cmd::is(args.get(3), "full") {
            return Err(CmdError::subcommand_syntax("XINFO", args.get(1)));
        }
        full = true;
        if opts == 3 {
            if !crate::cmd::is(args.get(4), "count") {
                return Err(CmdError::subcommand_syntax("XINFO", args.get(1)));
            }
            count = crate::cmd::int_arg(args.get(5))?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let redis_7_2 = ctx.shared.live.redis_7_2;
    with(ctx, key, |s, out| {
        out.map(if full { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(s.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(s.radix_tree_nodes() as i64);
        out.bulk(b"last-generated-id");
        write_id(out, s.last_id);
        out.bulk(b"max-deleted-entry-id");
        write_id(out, s.max_deleted);
        out.bulk(b"entries-added");
        out.int(s.entries_added as i64);
        out.bulk(b"recorded-first-entry-id");
        write_id(out, s.first_id);
        if !full {
            out.bulk(b"groups");
            out.int(s.groups.len() as i64);
            for (label, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
                out.bulk(label);
                let mut found = false;
                s.visit(StreamId::MIN, StreamId::MAX, rev, |it| {
                    write_item(out, it);
                    found = true;
                    false
                });
                if !found {
                    out.null();
                }
            }
            return Ok(());
        }
        out.bulk(b"entries");
        let mut items = Vec::new();
        s.visit(StreamId::MIN, StreamId::MAX, false, |it| {
            items.push(it);
            items.len() < limit
        });
        out.array(items.len());
        for it in items {
            write_item(out, it);
        }
        out.bulk(b"groups");
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            write_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            let shown = g.pel.len().min(limit);
            out.array(shown);
            for (id, nack) in g.pel.iter().take(shown) {
                out.array(4);
                write_id(out, *id);
                out.bulk(&nack.consumer);
                out.int(nack.delivery_time as i64);
                out.int(nack.delivery_count as i64);
            }
            out.bulk(b"consumers");
            out.array(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map(if redis_7_2 { 5 } else { 4 });
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time as i64);
                if redis_7_2 {
                    out.bulk(b"active-time");
                    out.int(c.active_time);
                }
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                let shown = c.pel.len().min(limit);
                out.array(shown);
                for id in c.pel.iter().take(shown) {
                    let nack = g.pel.get(id);
                    out.array(3);
                    write_id(out, *id);
                    out.int(nack.map_or(0, |n| n.delivery_time as i64));
                    out.int(nack.map_or(0, |n| n.delivery_count as i64));
                }
            }
        }
        Ok(())
    })
}

pub fn groups(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    with(ctx, args.get(2), |s, out| {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            write_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
        }
        Ok(())
    })
}

pub fn consumers(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let now = ctx.now as i64;
    let redis_7_2 = ctx.shared.live.redis_7_2;
    with(ctx, key, |s, out| {
        let Some(g) = s.groups.get(group) else {
            return Err(super::xgroup::no_such_group(key, group));
        };
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map(if redis_7_2 { 4 } else { 3 });
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time as i64).max(0));
            // Redis 7.2: since the last successful interaction, -1 if none.
            if redis_7_2 {
                out.bulk(b"inactive");
                out.int(if c.active_time == store::stream::NEVER_ACTIVE {
                    -1
                } else {
                    (now - c.active_time).max(0)
                });
            }
        }
        Ok(())
    })
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}
