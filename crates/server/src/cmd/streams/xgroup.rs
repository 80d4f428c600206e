//! XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP.
use resp::Args;
use store::stream::{Group, ENTRIES_READ_INVALID};
use store::Stream;

use super::{notify, parse_id, parse_strict_id};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The options after `XGROUP <sub> key group id`: MKSTREAM (CREATE), ENTRIESREAD (CREATE,
/// SETID); anything else is Redis's subcommand syntax error.
fn options(args: Args<'_>, create: bool, setid: bool) -> Result<(bool, i64), CmdError> {
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    let mut i = 5;
    while i < args.len() {
        let a = args.get(i);
        if create && crate::cmd::is(a, "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && crate::cmd::is(a, "entriesread") && i + 1 < args.len() {
            entries_read = crate::cmd::int_arg(args.get(i + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(CmdError::err(
                    "value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::subcommand_syntax("XGROUP", args.get(1)));
        }
    }
    Ok((mkstream, entries_read))
}

fn needs_key() -> CmdError {
    CmdError::err(
        "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    )
}

/// `NOGROUP No such consumer group '<group>' for key name '<key>'` (XGROUP, XINFO).
pub(crate) fn no_such_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Raw(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// The checks every subcommand but CREATE ... MKSTREAM makes first: the key exists and
/// holds a stream, and (but for CREATE and DESTROY) has the group.
fn check(ctx: &Ctx<'_>, args: Args<'_>, need_group: bool) -> Result<(), CmdError> {
    let (key, group) = (args.get(2), args.get(3));
    match super::is_stream(ctx, key) {
        None => Err(needs_key()),
        Some(false) => Err(CmdError::WrongType),
        Some(true) if need_group => {
            let ks = &ctx.shared.keyspace;
            let h = ks.hash(key);
            let has = ks
                .lock(h)
                .peek(h, key, ctx.now)
                .and_then(|e| e.value().as_stream().map(|s| s.groups.contains_key(group)))
                .unwrap_or(false);
            if has {
                Ok(())
            } else {
                Err(no_such_group(key, group))
            }
        }
        Some(true) => Ok(()),
    }
}

/// Runs `f` on the (existing) stream at the subcommand's key.
fn with_stream<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Stream) -> (R, bool),
) -> Result<R, CmdError> {
    super::write_stream(ctx, key, false, f)?.ok_or_else(needs_key)
}

pub fn create(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (mkstream, entries_read) = options(args, true, false)?;
    let (key, name) = (args.get(2), args.get(3));
    match super::is_stream(ctx, key) {
        Some(false) => return Err(CmdError::WrongType),
        None if !mkstream => return Err(needs_key()),
        _ => {}
    }
    if args.len() > 8 {
        return Err(CmdError::subcommand_syntax("XGROUP", args.get(1)));
    }
    let id_arg = args.get(4);
    let parsed = if id_arg == b"$" {
        None
    } else {
        Some(parse_strict_id(id_arg)?)
    };
    let created = super::write_stream(ctx, key, true, |s| {
        let id = parsed.unwrap_or(s.last_id);
        if s.groups.contains_key(name) {
            return (false, false);
        }
        s.groups.insert(name.into(), Group::new(id, entries_read));
        (true, true)
    })?
    .unwrap_or(false);
    if !created {
        return Err(CmdError::Raw(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    notify(ctx, "xgroup-create", key);
    ctx.out.ok();
    Ok(())
}

pub fn setid(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (_, entries_read) = options(args, false, true)?;
    check(ctx, args, true)?;
    if args.len() != 5 && args.len() != 7 {
        return Err(CmdError::subcommand_syntax("XGROUP", args.get(1)));
    }
    let (key, name) = (args.get(2), args.get(3));
    let id_arg = args.get(4);
    let parsed = if id_arg == b"$" {
        None
    } else {
        Some(parse_id(id_arg, 0)?)
    };
    with_stream(ctx, key, |s| {
        let id = parsed.unwrap_or(s.last_id);
        if let Some(g) = s.groups.get_mut(name) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ((), true)
    })?;
    notify(ctx, "xgroup-setid", key);
    ctx.out.ok();
    Ok(())
}

pub fn destroy(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    check(ctx, args, false)?;
    let (key, name) = (args.get(2), args.get(3));
    let removed = with_stream(ctx, key, |s| {
        let removed = s.groups.remove(name).is_some();
        (removed, removed)
    })?;
    if removed {
        notify(ctx, "xgroup-destroy", key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// Creates `consumer` in `group` if missing (`streamCreateConsumer`): true if created.
pub(crate) fn create_consumer(g: &mut Group, consumer: &[u8], now: u64) -> bool {
    if g.consumers.contains_key(consumer) {
        return false;
    }
    g.consumers
        .insert(consumer.into(), store::stream::Consumer::new(now));
    true
}

/// Looks `consumer` up, refreshing its seen time, or creates it; true if created.
pub(crate) fn touch_consumer(g: &mut Group, consumer: &[u8], now: u64) -> bool {
    match g.consumers.get_mut(consumer) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => create_consumer(g, consumer, now),
    }
}

pub fn createconsumer(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    check(ctx, args, true)?;
    let (key, name, consumer) = (args.get(2), args.get(3), args.get(4));
    let now = ctx.now;
    let created = with_stream(ctx, key, |s| {
        let created = s
            .groups
            .get_mut(name)
            .is_some_and(|g| create_consumer(g, consumer, now));
        (created, created)
    })?;
    if created {
        notify(ctx, "xgroup-createconsumer", key);
    }
    ctx.out.int(created as i64);
    Ok(())
}

pub fn delconsumer(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    check(ctx, args, true)?;
    let (key, name, consumer) = (args.get(2), args.get(3), args.get(4));
    let pending = with_stream(ctx, key, |s| {
        let pending = s
            .groups
            .get_mut(name)
            .and_then(|g| g.delete_consumer(consumer));
        (pending, pending.is_some())
    })?;
    if pending.is_some() {
        notify(ctx, "xgroup-delconsumer", key);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}
