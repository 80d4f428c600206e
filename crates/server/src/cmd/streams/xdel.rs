//! XDEL key id [id ...], XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id].
use resp::Args;
use store::StreamId;

use super::{notify, parse_strict_id};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn xdel(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    match super::is_stream(ctx, key) {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(false) => return Err(CmdError::WrongType),
        Some(true) => {}
    }
    let ids = (2..args.len())
        .map(|j| parse_strict_id(args.get(j)))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = super::write_stream(ctx, key, false, |s| {
        let mut deleted = 0u64;
        let mut first_entry = false;
        for id in ids {
            if s.delete(id) {
                first_entry |= id == s.first_id;
                if id > s.max_deleted {
                    s.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if s.is_empty() {
                s.first_id = StreamId::MIN;
            } else if first_entry {
                s.first_id = s.edge_id(true).unwrap_or_default();
            }
        }
        (deleted, deleted > 0)
    })?
    .unwrap_or(0);
    if deleted > 0 {
        notify(ctx, "xdel", key);
    }
    ctx.client.dirty = Some(deleted);
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn xsetid(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let id = parse_strict_id(args.get(2))?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if crate::cmd::is(opt, "entriesadded") && more > 0 {
            entries_added = crate::cmd::int_arg(args.get(i + 1))?;
            if entries_added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
        } else if crate::cmd::is(opt, "maxdeletedid") && more > 0 {
            max_deleted = parse_strict_id(args.get(i + 1))?;
            if id < max_deleted {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let key = args.get(1);
    let done = super::write_stream(ctx, key, false, |s| {
        if !s.is_empty() {
            let max = s.edge_id(false).unwrap_or_default();
            if id < max {
                return (
                    Err(CmdError::err(
                        "The ID specified in XSETID is smaller than the target stream top item",
                    )),
                    false,
                );
            }
            if entries_added != -1 && s.len() > entries_added as u64 {
                return (
                    Err(CmdError::err(
                        "The entries_added specified in XSETID is smaller than the target stream length",
                    )),
                    false,
                );
            }
        }
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_deleted.is_zero() {
            s.max_deleted = max_deleted;
        }
        (Ok(()), true)
    })?;
    match done {
        None => return Err(CmdError::NoSuchKey),
        Some(r) => r?,
    }
    notify(ctx, "xsetid", key);
    ctx.out.ok();
    Ok(())
}
