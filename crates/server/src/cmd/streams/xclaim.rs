//! XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
//! [FORCE] [JUSTID] [LASTID id]; XAUTOCLAIM key group consumer min-idle-time start
//! [COUNT n] [JUSTID].
use resp::Args;
use store::stream::{Group, Nack};
use store::StreamId;

use super::xgroup::touch_consumer;
use super::{no_group, notify, parse_id_generic, parse_interval, write_id, OwnedItem};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The XCLAIM replicas apply for a claimed (or dropped) pending entry, idempotent as Redis's
/// `streamPropagateXCLAIM` makes it.
pub(crate) fn xclaim_argv(
    key: &[u8],
    group: &[u8],
    g: &Group,
    id_arg: &[u8],
    nack: &Nack,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        nack.consumer.to_vec(),
        b"0".to_vec(),
        id_arg.to_vec(),
        b"TIME".to_vec(),
        nack.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        nack.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        g.last_id.text().into_bytes(),
    ]
}

fn propagate_xclaim(key: &[u8], group: &[u8], g: &Group, id_arg: &[u8], nack: &Nack) {
    if crate::replication::log::capturing() {
        crate::replication::log::also(xclaim_argv(key, group, g, id_arg, nack));
    }
}

/// `XGROUP SETID key group last-id ENTRIESREAD n` for replicas.
pub(crate) fn group_id_argv(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        g.last_id.text().into_bytes(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

fn option_int(arg: &[u8], what: &str) -> Result<i64, CmdError> {
    resp::number::parse_i64(arg)
        .ok_or_else(|| CmdError::err(format!("Invalid {what} option argument for XCLAIM")))
}

enum Claimed {
    Id(StreamId),
    Entry(OwnedItem),
}

fn write_claimed(out: &mut resp::ReplyWriter, claimed: &[Claimed]) {
    out.array(claimed.len());
    for c in claimed {
        match c {
            Claimed::Id(id) => write_id(out, *id),
            Claimed::Entry(item) => {
                out.array(2);
                write_id(out, item.0);
                out.array(item.1.len());
                for p in &item.1 {
                    out.bulk(p);
                }
            }
        }
    }
}

fn group_exists(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) -> Result<(), CmdError> {
    match super::read_stream(ctx, key, |s, _| s.groups.contains_key(group))? {
        Some(true) => Ok(()),
        _ => Err(no_group(key, group, "")),
    }
}

pub fn xclaim(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    group_exists(ctx, key, group)?;
    let min_idle = resp::number::parse_i64(args.get(4))
        .ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id_generic(args.get(j), 0, true, false) {
            Ok(p) => ids.push((p.id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now as i64;
    let (mut force, mut justid) = (false, false);
    let mut delivery_time: i64 = -1;
    let mut retry_count: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        let is = |w: &str| crate::cmd::is(opt, w);
        if is("force") {
            force = true;
        } else if is("justid") {
            justid = true;
        } else if is("idle") && more > 0 {
            j += 1;
            delivery_time = now - option_int(args.get(j), "IDLE")?;
        } else if is("time") && more > 0 {
            j += 1;
            delivery_time = option_int(args.get(j), "TIME")?;
        } else if is("retrycount") && more > 0 {
            j += 1;
            retry_count = option_int(args.get(j), "RETRYCOUNT")?;
        } else if is("lastid") && more > 0 {
            j += 1;
            last_id = super::parse_strict_id(args.get(j))?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if delivery_time == -1 || delivery_time < 0 || delivery_time > now {
        delivery_time = now;
    }
    let mut consumer_created = false;
    let claimed = super::write_stream(ctx, key, false, |s| {
        let mut changed = false;
        let mut claimed = Vec::new();
        let mut propagate_last_id = false;
        let mut items: Vec<Option<OwnedItem>> = Vec::new();
        for (id, _) in &ids {
            items.push(s.get(*id).map(|it| (it.id, it.pairs_owned())));
        }
        let Some(g) = s.groups.get_mut(group) else {
            return (claimed, false);
        };
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
            changed = true;
        }
        let mut have_consumer = false;
        for ((id, at), item) in ids.iter().zip(items) {
            let Some(item) = item else {
                // The entry is gone: its pending record goes too.
                if let Some(nack) = g.pel.get(id).cloned() {
                    propagate_xclaim(key, group, g, args.get(*at), &nack);
                    propagate_last_id = false;
                    g.ack(*id);
                    changed = true;
                }
                continue;
            };
            let forced = force && !g.pel.contains_key(id);
            if forced {
                g.pel.insert(
                    *id,
                    Nack {
                        consumer: Box::from(&b""[..]),
                        delivery_time: now as u64,
                        delivery_count: 1,
                    },
                );
            }
            let Some(nack) = g.pel.get(id).cloned() else {
                continue;
            };
            if !forced && min_idle != 0 && now - (nack.delivery_time as i64) < min_idle {
                continue;
            }
            if !have_consumer {
                consumer_created |= touch_consumer(g, consumer, now as u64);
                have_consumer = true;
            }
            let mut nack = nack;
            nack.delivery_time = delivery_time as u64;
            if retry_count >= 0 {
                nack.delivery_count = retry_count as u64;
            } else if !justid {
                nack.delivery_count += 1;
            }
            nack.consumer = consumer.into();
            g.assign(*id, consumer, nack.clone(), now as u64);
            claimed.push(if justid {
                Claimed::Id(*id)
            } else {
                Claimed::Entry(item)
            });
            propagate_xclaim(key, group, g, args.get(*at), &nack);
            propagate_last_id = false;
            changed = true;
        }
        if propagate_last_id && crate::replication::log::capturing() {
            crate::replication::log::also(group_id_argv(key, group, g));
        }
        (claimed, changed)
    })?
    .unwrap_or_default();
    crate::replication::log::rewrite(Vec::new());
    if consumer_created {
        notify(ctx, "xgroup-createconsumer", key);
    }
    write_claimed(ctx.out, &claimed);
    Ok(())
}

pub fn xautoclaim(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let min_idle = resp::number::parse_i64(args.get(4))
        .ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, exclusive) = parse_interval(args.get(5), 0)?;
    if exclusive {
        start = start
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if crate::cmd::is(opt, "count") && more > 0 {
            let max = i64::MAX / 16;
            count = resp::number::parse_i64(args.get(j + 1))
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::err("COUNT must be > 0"))?;
            j += 1;
        } else if crate::cmd::is(opt, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    group_exists(ctx, key, group)?;
    let now = ctx.now;
    let mut consumer_created = false;
    let outcome = super::write_stream(ctx, key, false, |s| {
        // At most `attempts` entries are looked at, and one more names the next cursor.
        let looked_at = usize::try_from(count.saturating_mul(10)).unwrap_or(usize::MAX);
        let pending: Vec<StreamId> = match s.groups.get(group) {
            Some(g) => g
                .pel
                .range(start..)
                .take(looked_at.saturating_add(1))
                .map(|(id, _)| *id)
                .collect(),
            None => return ((Vec::new(), StreamId::MIN, Vec::new()), false),
        };
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut changed = false;
        let mut next = StreamId::MIN;
        let mut have_consumer = false;
        let mut i = 0;
        while attempts > 0 && left > 0 && i < pending.len() {
            attempts -= 1;
            let id = pending[i];
            i += 1;
            let item = s.get(id).map(|it| (it.id, it.pairs_owned()));
            let g = s.groups.get_mut(group).expect("checked");
            let Some(item) = item else {
                if let Some(nack) = g.pel.get(&id).cloned() {
                    propagate_xclaim(key, group, g, id.text().as_bytes(), &nack);
                    g.ack(id);
                    changed = true;
                }
                deleted.push(id);
                left -= 1;
                continue;
            };
            let nack = g.pel.get(&id).expect("listed").clone();
            if min_idle != 0 && (now as i64) - (nack.delivery_time as i64) < min_idle {
                continue;
            }
            if !have_consumer {
                consumer_created |= touch_consumer(g, consumer, now);
                have_consumer = true;
            }
            let mut nack = nack;
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
            nack.consumer = consumer.into();
            g.assign(id, consumer, nack.clone(), now);
            claimed.push(if justid {
                Claimed::Id(id)
            } else {
                Claimed::Entry(item)
            });
            left -= 1;
            propagate_xclaim(key, group, g, id.text().as_bytes(), &nack);
            changed = true;
        }
        if let Some(id) = pending.get(i) {
            next = *id;
        }
        ((claimed, next, deleted), changed)
    })?;
    let (claimed, next, deleted) = outcome.unwrap_or_default();
    crate::replication::log::rewrite(Vec::new());
    if consumer_created {
        notify(ctx, "xgroup-createconsumer", key);
    }
    ctx.out.array(3);
    write_id(ctx.out, next);
    write_claimed(ctx.out, &claimed);
    ctx.out.array(deleted.len());
    for id in deleted {
        write_id(ctx.out, id);
    }
    Ok(())
}
