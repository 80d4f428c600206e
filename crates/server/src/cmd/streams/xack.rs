//! XACK key group id [id ...], XPENDING key group [[IDLE min-idle] start end count [consumer]].
use resp::Args;

use super::{no_group, parse_range, parse_strict_id, write_id};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn xack(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (key, name) = (args.get(1), args.get(2));
    let has_group = super::read_stream(ctx, key, |s, _| s.groups.contains_key(name))?;
    if has_group != Some(true) {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (3..args.len())
        .map(|j| parse_strict_id(args.get(j)))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = super::write_stream(ctx, key, false, |s| {
        let Some(g) = s.groups.get_mut(name) else {
            return (0u64, false);
        };
        let n = ids.iter().filter(|id| g.ack(**id)).count() as u64;
        (n, n > 0)
    })?
    .unwrap_or(0);
    ctx.client.dirty = Some(acked);
    ctx.out.int(acked as i64);
    Ok(())
}

pub fn xpending(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let argc = args.len();
    let (key, name) = (args.get(1), args.get(2));
    let just_info = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if crate::cmd::is(args.get(3), "idle") {
            min_idle = crate::cmd::int_arg(args.get(4))?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = crate::cmd::int_arg(args.get(at + 2))?.max(0);
        let (start, end) = parse_range(args.get(at), args.get(at + 1))?;
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((min_idle, count, start, end, consumer));
    }
    let now = ctx.now as i64;
    let found = super::read_stream(ctx, key, |s, out| {
        let g = s.groups.get(name)?;
        if just_info {
            out.array(4);
            out.int(g.pel.len() as i64);
            match (g.pel.first_key_value(), g.pel.last_key_value()) {
                (Some((first, _)), Some((last, _))) => {
                    write_id(out, *first);
                    write_id(out, *last);
                    let owners: Vec<_> = g
                        .consumers
                        .iter()
                        .filter(|(_, c)| !c.pel.is_empty())
                        .collect();
                    out.array(owners.len());
                    for (cname, c) in owners {
                        out.array(2);
                        out.bulk(cname);
                        out.bulk_int(c.pel.len() as i64);
                    }
                }
                _ => {
                    out.null();
                    out.null();
                    out.null_array();
                }
            }
            return Some(());
        }
        let (min_idle, mut count, start, end, consumer) = range.expect("parsed");
        let ids: Box<dyn Iterator<Item = &store::StreamId>> = match consumer {
            Some(c) => match g.consumers.get(c) {
                Some(c) => Box::new(c.pel.range(start..)),
                None => {
                    out.array(0);
                    return Some(());
                }
            },
            None => Box::new(g.pel.range(start..).map(|(id, _)| id)),
        };
        let mut rows = Vec::new();
        for id in ids {
            if count == 0 || *id > end {
                break;
            }
            let Some(nack) = g.pel.get(id) else { continue };
            if min_idle != 0 && now - (nack.delivery_time as i64) < min_idle {
                continue;
            }
            count -= 1;
            rows.push((*id, nack));
        }
        out.array(rows.len());
        for (id, nack) in rows {
            out.array(4);
            write_id(out, id);
            out.bulk(&nack.consumer);
            out.int((now - nack.delivery_time as i64).max(0));
            out.int(nack.delivery_count as i64);
        }
        Some(())
    })?;
    if found.flatten().is_none() {
        return Err(no_group(key, name, ""));
    }
    Ok(())
}
