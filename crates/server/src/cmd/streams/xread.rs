//! XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...
//! XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...
//!
//! Served at once when a stream has entries past the given ID (or, for a group, past the
//! group's last delivered ID; or from the consumer's own pending entries for an ID other
//! than `>`); else, with BLOCK, the client waits (`crate::blocking`) until a write to one
//! of the keys lets [`serve_blocked`] answer it, as Redis's `serveClientsBlockedOnStreamKey`.
use std::time::{Duration, Instant};

use resp::{Args, ReplyWriter};
use store::stream::{Nack, ENTRIES_READ_INVALID};
use store::{Keyspace, Stream, StreamId};

use super::xclaim::{group_id_argv, xclaim_argv};
use super::xgroup::touch_consumer;
use super::{parse_strict_id, write_id};
use crate::blocking::{BlockOp, Delivery};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The count a blocked read uses when none was given (`XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// What a blocked XREAD / XREADGROUP waits for.
#[derive(Debug, Clone)]
pub struct StreamWait {
    /// Per key, the ID entries must be past (XREAD; a group reads past its own last ID).
    pub ids: Vec<(Vec<u8>, StreamId)>,
    pub count: usize,
    pub group: Option<GroupRead>,
}

#[derive(Debug, Clone)]
pub struct GroupRead {
    pub group: Vec<u8>,
    pub consumer: Vec<u8>,
    pub noack: bool,
}

/// One stream's part of a reply: entries (a pending entry whose data is gone has none).
pub type Served = Vec<(StreamId, Option<Vec<Box<[u8]>>>)>;

/// What reading one stream did besides its reply: commands for replicas, and whether a
/// consumer was created (a keyspace event).
#[derive(Debug, Default)]
pub struct ReadEffects {
    pub propagate: Vec<Vec<Vec<u8>>>,
    pub created_consumer: bool,
}

/// Writes `[[key, entries], ...]` (RESP2) or `{key: entries, ...}` (RESP3).
pub fn write_reply(out: &mut ReplyWriter, parts: &[(Vec<u8>, Served)]) {
    if out.is_resp3() {
        out.map(parts.len());
    } else {
        out.array(parts.len());
    }
    for (key, items) in parts {
        if !out.is_resp3() {
            out.array(2);
        }
        out.bulk(key);
        out.array(items.len());
        for (id, pairs) in items {
            out.array(2);
            write_id(out, *id);
            match pairs {
                Some(pairs) => {
                    out.array(pairs.len());
                    for p in pairs {
                        out.bulk(p);
                    }
                }
                None => out.null_array(),
            }
        }
    }
}

/// Reads new entries of `s` for a group (`streamReplyWithRange` with a group): entries
/// after `start - 1`, moving the group's last ID and read counter, and — unless NOACK —
/// recording each in the pending lists (taking it from another consumer if it was there).
fn read_group_new(
    s: &mut Stream,
    key: &[u8],
    start: StreamId,
    count: usize,
    g: &GroupRead,
    now: u64,
    effects: &mut ReadEffects,
) -> Served {
    let mut items = Vec::new();
    s.visit(start, StreamId::MAX, false, |it| {
        items.push((it.id, it.pairs_owned()));
        count == 0 || items.len() < count
    });
    let ids: Vec<StreamId> = items.iter().map(|(id, _)| *id).collect();
    let mut advance = Vec::with_capacity(ids.len());
    for id in &ids {
        let tombstones_ahead = s.range_has_tombstones(*id, StreamId::MAX);
        let estimate = s.estimate_distance(*id);
        advance.push((tombstones_ahead, estimate));
    }
    let entries_added = s.entries_added;
    let grp = s
        .groups
        .get_mut(&g.group[..])
        .expect("checked by the caller");
    let mut propagate_last_id = false;
    for (id, (tombstones_ahead, estimate)) in ids.iter().zip(advance) {
        if *id > grp.last_id {
            if grp.entries_read != ENTRIES_READ_INVALID && !tombstones_ahead {
                grp.entries_read += 1;
            } else if entries_added > 0 {
                grp.entries_read = estimate;
            }
            grp.last_id = *id;
            if g.noack {
                propagate_last_id = true;
            }
        }
        if !g.noack {
            let nack = Nack {
                consumer: g.consumer.clone().into(),
                delivery_time: now,
                delivery_count: 1,
            };
            grp.assign(*id, &g.consumer, nack.clone(), now);
            effects
                .propagate
                .push(xclaim_argv(key, &g.group, grp, id.text().as_bytes(), &nack));
        }
    }
    if propagate_last_id {
        effects.propagate.push(group_id_argv(key, &g.group, grp));
    }
    items.into_iter().map(|(id, p)| (id, Some(p))).collect()
}

/// A consumer's own pending entries past `start - 1` (`streamReplyWithRangeFromConsumerPEL`):
/// each delivered again (time and count updated); one whose entry is gone comes with no data.
fn read_history(s: &mut Stream, start: StreamId, count: usize, g: &GroupRead, now: u64) -> Served {
    let ids: Vec<StreamId> = match s
        .groups
        .get(&g.group[..])
        .and_then(|grp| grp.consumers.get(&g.consumer[..]))
    {
        Some(c) => c
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        None => Vec::new(),
    };
    let items: Served = ids
        .iter()
        .map(|id| (*id, s.get(*id).map(|it| it.pairs_owned())))
        .collect();
    let grp = s
        .groups
        .get_mut(&g.group[..])
        .expect("checked by the caller");
    for (id, data) in &items {
        if data.is_some() {
            if let Some(n) = grp.pel.get_mut(id) {
                n.delivery_time = now;
                n.delivery_count += 1;
            }
        }
    }
    items
}

/// Serves one waiting read from `key` after a write to it (or when it registers): `None`
/// when there is nothing for it yet; an error delivery when its key or group is gone.
pub fn serve_blocked(
    ks: &Keyspace,
    key: &[u8],
    wait: &StreamWait,
    now: u64,
) -> Result<Option<Delivery>, CmdError> {
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let gone = || Delivery::Redirected("UNBLOCKED the stream key no longer exists".to_string());
    let result = shard.modify_if::<Stream, _>(h, key, now, false, |s| {
        let gt = match &wait.group {
            Some(g) => match s.groups.get(&g.group[..]) {
                Some(grp) => grp.last_id,
                None => return (
                    Some(Delivery::Redirected(
                        "NOGROUP the consumer group this client was blocked on no longer exists"
                            .to_string(),
                    )),
                    false,
                ),
            },
            None => match wait.ids.iter().find(|(k, _)| k == key) {
                Some((_, id)) => *id,
                None => return (None, false),
            },
        };
        // Only a live entry past the ID serves the reader: a reply is never empty (a write
        // that left no new entry, such as XDEL, does not wake it).
        if s.edge_id(false).is_none_or(|last| last <= gt) {
            return (None, false);
        }
        let start = gt.incr().unwrap_or(StreamId::MAX);
        let mut effects = ReadEffects::default();
        let items = match &wait.group {
            Some(g) => {
                let grp = s.groups.get_mut(&g.group[..]).expect("found above");
                effects.created_consumer = touch_consumer(grp, &g.consumer, now);
                if effects.created_consumer && g.noack {
                    effects.propagate.push(create_consumer_argv(key, g));
                }
                read_group_new(s, key, start, wait.count, g, now, &mut effects)
            }
            None => {
                let mut items = Vec::new();
                s.visit(start, StreamId::MAX, false, |it| {
                    items.push((it.id, Some(it.pairs_owned())));
                    wait.count == 0 || items.len() < wait.count
                });
                items
            }
        };
        let changed = wait.group.is_some();
        (
            Some(Delivery::Stream {
                key: key.to_vec(),
                items,
                effects,
            }),
            changed,
        )
    });
    Ok(match result {
        Ok(Some(d)) => d,
        // Absent, or no longer a stream: a group reader is told, a plain reader waits on.
        Ok(None) | Err(()) if wait.group.is_some() => Some(gone()),
        _ => None,
    })
}

fn create_consumer_argv(key: &[u8], g: &GroupRead) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"CREATECONSUMER".to_vec(),
        key.to_vec(),
        g.group.clone(),
        g.consumer.clone(),
    ]
}

pub fn xread(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    read(ctx, args, false)
}

pub fn xreadgroup(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    read(ctx, args, true)
}

fn read(ctx: &mut Ctx<'_>, args: Args<'_>, xreadgroup: bool) -> CmdResult {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_at = 0;
    let mut nkeys = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = args.get(i);
        let is = |w: &str| crate::cmd::is(o, w);
        if is("block") && more > 0 {
            if ctx.client.in_script {
                return Err(CmdError::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(args.get(0))
                )));
            }
            i += 1;
            let t = resp::number::parse_i64(args.get(i))
                .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            timeout = Some(t);
        } else if is("count") && more > 0 {
            i += 1;
            count = crate::cmd::int_arg(args.get(i))?.max(0);
        } else if is("streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if !n.is_multiple_of(2) {
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            nkeys = n / 2;
            break;
        } else if is("group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if is("noack") {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    let group_read = group.map(|(g, c)| GroupRead {
        group: g.to_vec(),
        consumer: c.to_vec(),
        noack,
    });
    // Resolve every key's ID (and group) before reading anything.
    let mut ids: Vec<(Vec<u8>, StreamId)> = Vec::with_capacity(nkeys);
    for k in 0..nkeys {
        let key = args.get(streams_at + k);
        let id_arg = args.get(streams_at + nkeys + k);
        let found = super::read_stream(ctx, key, |s, _| {
            (s.last_id, group.map(|(g, _)| s.groups.contains_key(g)))
        })?;
        if let Some((g, _)) = group {
            if !matches!(found, Some((_, Some(true)))) {
                return Err(CmdError::Raw(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        let id = if id_arg == b"$" {
            if xreadgroup {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            found.map(|(last, _)| last).unwrap_or(StreamId::MIN)
        } else if id_arg == b">" {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            StreamId::MAX
        } else {
            parse_strict_id(id_arg)?
        };
        ids.push((key.to_vec(), id));
    }
    let now = ctx.now;
    let count = count as usize;
    let mut parts: Vec<(Vec<u8>, Served)> = Vec::new();
    let mut created = Vec::new();
    let mut propagate: Vec<Vec<Vec<u8>>> = Vec::new();
    for (key, gt) in &ids {
        let served = super::write_stream(ctx, key, false, |s| {
            let mut effects = ReadEffects::default();
            let Some(g) = &group_read else {
                let last = s.edge_id(false);
                if s.is_empty() || last.is_none_or(|m| m <= *gt) {
                    return (None, false);
                }
                let start = gt.incr().unwrap_or(StreamId::MAX);
                let mut items = Vec::new();
                s.visit(start, StreamId::MAX, false, |it| {
                    items.push((it.id, Some(it.pairs_owned())));
                    count == 0 || items.len() < count
                });
                return (Some((items, effects)), false);
            };
            let history = *gt != StreamId::MAX;
            let group_last = s.groups.get(&g.group[..]).map(|x| x.last_id);
            let from = if history {
                *gt
            } else {
                let last_valid = s.edge_id(false);
                match (group_last, last_valid) {
                    (Some(gl), Some(m)) if !s.is_empty() && m > gl => gl,
                    _ => return (None, false),
                }
            };
            let start = from.incr().unwrap_or(StreamId::MAX);
            let grp = s.groups.get_mut(&g.group[..]).expect("checked");
            effects.created_consumer = touch_consumer(grp, &g.consumer, now);
            if effects.created_consumer && g.noack {
                effects.propagate.push(create_consumer_argv(key, g));
            }
            let items = if history {
                read_history(s, start, count, g, now)
            } else {
                read_group_new(s, key, start, count, g, now, &mut effects)
            };
            (Some((items, effects)), true)
        })?
        .flatten();
        if let Some((items, effects)) = served {
            if effects.created_consumer {
                created.push(key.clone());
            }
            propagate.extend(effects.propagate);
            parts.push((key.clone(), items));
        }
    }
    // The reads go to replicas as their effects (XCLAIM, XGROUP), never as themselves.
    crate::replication::log::rewrite(Vec::new());
    for argv in propagate {
        crate::replication::log::also(argv);
    }
    for key in &created {
        super::notify(ctx, "xgroup-createconsumer", key);
    }
    if !parts.is_empty() {
        write_reply(ctx.out, &parts);
        return Ok(());
    }
    let Some(ms) = timeout else {
        ctx.out.null_array();
        return Ok(());
    };
    if ctx.client.in_exec || ctx.client.multi.is_some() {
        ctx.out.null_array();
        return Ok(());
    }
    let deadline = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
    let wait = StreamWait {
        ids: ids.clone(),
        count: if count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            count
        },
        group: group_read,
    };
    let keys: Vec<Vec<u8>> = ids.iter().map(|(k, _)| k.clone()).collect();
    let ks = &ctx.shared.keyspace;
    let op = BlockOp::Stream(Box::new(wait.clone()));
    let registered = ctx.shared.blocking.block(keys.clone(), op, deadline, || {
        keys.iter()
            .find_map(|k| serve_blocked(ks, k, &wait, now).ok().flatten())
    });
    match registered {
        Ok(delivery) => {
            if let Delivery::Stream { effects, key, .. } = &delivery {
                for argv in &effects.propagate {
                    crate::replication::log::also(argv.clone());
                }
                if effects.created_consumer {
                    super::notify(ctx, "xgroup-createconsumer", key);
                }
            }
            delivery.write(ctx.out);
        }
        Err(blocked) => ctx.client.blocked = Some(blocked),
    }
    Ok(())
}
