//! Moving slots: Redis's CLUSTER SETSLOT / ADDSLOTS[RANGE] / DELSLOTS[RANGE] and ASKING,
//! mapped onto moves agreed by the cluster (or refused, naming what to use instead), and
//! Shard-Cache's own CLUSTER MOVESLOTS / REBALANCE / DRAIN / CANCELMOVES / MIGRATIONS.
//!
//! Here a slot moves as one agreed change that carries its keys along (`crate::migration`),
//! not key by key with MIGRATE under an operator's IMPORTING/MIGRATING marks, so the parts of
//! Redis's manual protocol that would hand a slot over without its keys are refused.

use std::sync::atomic::Ordering;

use resp::Args;

use super::{control, not_in_transaction, slot_arg, state, topology};
use crate::cluster::SlotChange;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// What to say instead of handing a slot over by hand.
const USE_MOVESLOTS: &str = "slots move with their keys in a Shard-Cache cluster: use CLUSTER MOVESLOTS <node-id> <start-slot> <end-slot> (shardcache cluster move-slots), CLUSTER REBALANCE or CLUSTER DRAIN <node-id>";

/// ASKING: the next command may use a slot being imported here.
pub fn asking(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    ctx.client.asking = true;
    ctx.out.ok();
    Ok(())
}

fn known_node(ctx: &Ctx<'_>, id: &[u8]) -> Result<String, CmdError> {
    let id = String::from_utf8_lossy(id).into_owned();
    match topology(ctx)? {
        Some(t) if t.node(&id).is_some() => Ok(id),
        _ => Err(CmdError::err(format!("Unknown node {id}"))),
    }
}

/// Runs an agreed slot change; the client gets +OK or the cluster's refusal.
fn agree(ctx: &mut Ctx<'_>, change: SlotChange) -> CmdResult {
    let control = control(ctx)?;
    not_in_transaction(ctx)?;
    ctx.client.pending = Some(crate::Pending::Reply(control.slots(change)));
    Ok(())
}

/// CLUSTER SETSLOT slot IMPORTING node-id | MIGRATING node-id | NODE node-id | STABLE.
/// IMPORTING from the slot's owner while the agreed topology moves the slot here starts a
/// fresh import (what the source's migration sends first: keys an earlier attempt left are
/// dropped); NODE moves the slot (with its keys) to that node; STABLE cancels its move.
pub fn setslot(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let slot = slot_arg(args.get(2))?;
    let action = args.get(3);
    let is = |name: &str| crate::cmd::is(action, name);
    let with_node = args.len() == 5;
    if !(with_node && (is("importing") || is("migrating") || is("node")))
        && !(args.len() == 4 && is("stable"))
    {
        return Err(CmdError::err(
            "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        ));
    }
    let me = topology(ctx)?.and_then(|t| t.node(&c.myid).cloned());
    if me.is_some_and(|n| !n.primary) {
        return Err(CmdError::err("Please use SETSLOT only with masters."));
    }
    if is("stable") {
        let outcome = control(ctx)?.slots(SlotChange::Cancel {
            slots: Some(vec![slot]),
        });
        not_in_transaction(ctx)?;
        // Redis answers OK for a slot that was not open.
        ctx.client.pending = Some(crate::Pending::Reply(Box::pin(async move {
            match outcome.await {
                Err(e) if !e.contains("moving there any more") => Err(e),
                _ => Ok(()),
            }
        })));
        return Ok(());
    }
    let id = known_node(ctx, args.get(4))?;
    if is("node") {
        return agree(
            ctx,
            SlotChange::Move {
                slots: vec![slot],
                to: id,
            },
        );
    }
    let owner = topology(ctx)?.and_then(|t| t.owner(slot).map(|n| n.id.clone()));
    let mine = owner.as_deref() == Some(c.myid.as_str());
    if is("importing") && mine {
        return Err(CmdError::err(format!(
            "I'm already the owner of hash slot {slot}"
        )));
    }
    if is("migrating") && !mine {
        return Err(CmdError::err(format!(
            "I'm not the owner of hash slot {slot}"
        )));
    }
    if is("importing") && c.importing_from(slot).is_some_and(|n| n.id == id) {
        let shared = ctx.shared;
        let dropped = shared
            .keyspace
            .remove_slot(slot, ctx.now, || c.importing_from(slot).is_some());
        if dropped > 0 {
            tracing::info!(
                slot,
                dropped,
                "fresh import: dropped an earlier attempt's keys"
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    Err(CmdError::err(USE_MOVESLOTS))
}

/// Slots from `args[from..]`: single slots, or (`ranges`) start/end pairs.
fn slot_list(args: Args<'_>, from: usize, ranges: bool) -> Result<Vec<u16>, CmdError> {
    let mut slots = Vec::new();
    if ranges {
        let mut i = from;
        while i + 1 < args.len() {
            let (a, b) = (slot_arg(args.get(i))?, slot_arg(args.get(i + 1))?);
            if a > b {
                return Err(CmdError::err(format!(
                    "start slot number {a} is greater than end slot number {b}"
                )));
            }
            slots.extend(a..=b);
            i += 2;
        }
    } else {
        for i in from..args.len() {
            slots.push(slot_arg(args.get(i))?);
        }
    }
    let mut seen = vec![false; placement::slot::SLOTS as usize];
    for &s in &slots {
        if std::mem::replace(&mut seen[s as usize], true) {
            return Err(CmdError::err(format!("Slot {s} specified multiple times")));
        }
    }
    Ok(slots)
}

fn odd_pairs(args: Args<'_>, name: &str) -> CmdResult {
    if args.len() % 2 == 1 {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    Ok(())
}

/// CLUSTER ADDSLOTS slot... / ADDSLOTSRANGE start end...: in Redis, takes unassigned
/// slots. Every slot of a Shard-Cache cluster is assigned (Redis's "already busy"); an
/// unassigned one would be given to this node.
fn addslots_of(ctx: &mut Ctx<'_>, slots: Vec<u16>) -> CmdResult {
    let c = state(ctx)?;
    let t = topology(ctx)?;
    if let Some(&busy) = slots
        .iter()
        .find(|&&s| t.as_ref().is_some_and(|t| t.slots[s as usize].is_some()))
    {
        return Err(CmdError::err(format!("Slot {busy} is already busy")));
    }
    let to = c.myid.clone();
    agree(ctx, SlotChange::Move { slots, to })
}

pub fn addslots(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let slots = slot_list(args, 2, false)?;
    addslots_of(ctx, slots)
}

pub fn addslotsrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    odd_pairs(args, "cluster|addslotsrange")?;
    let slots = slot_list(args, 2, true)?;
    addslots_of(ctx, slots)
}

/// CLUSTER DELSLOTS / DELSLOTSRANGE: a Shard-Cache cluster never leaves a slot unowned.
pub fn delslots(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    slot_list(args, 2, false)?;
    Err(CmdError::err(USE_MOVESLOTS))
}

pub fn delslotsrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    odd_pairs(args, "cluster|delslotsrange")?;
    slot_list(args, 2, true)?;
    Err(CmdError::err(USE_MOVESLOTS))
}

/// CLUSTER MOVESLOTS node-id start end [start end ...]: moves the ranges, keys and all, to
/// the primary `node-id`.
pub fn moveslots(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    if args.len().is_multiple_of(2) {
        return Err(CmdError::err(
            "wrong number of arguments for 'cluster|moveslots' command",
        ));
    }
    let to = known_node(ctx, args.get(2))?;
    let slots = slot_list(args, 3, true)?;
    agree(ctx, SlotChange::Move { slots, to })
}

/// CLUSTER REBALANCE: moves what differs from the planner's balanced table.
pub fn rebalance(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    agree(ctx, SlotChange::Rebalance)
}

/// CLUSTER DRAIN node-id: moves every slot of the node away, then removes it.
pub fn drain(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    let id = known_node(ctx, args.get(2))?;
    agree(ctx, SlotChange::Drain { id })
}

/// CLUSTER CANCELMOVES: every pending move is cancelled (slots stay with their owners).
pub fn cancelmoves(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    agree(ctx, SlotChange::Cancel { slots: None })
}

/// CLUSTER PAUSEMOVES / RESUMEMOVES: every source stops copying and switching slots (the
/// moves stay planned; a batch under way is abandoned and copied again on resume), or goes
/// on.
pub fn pausemoves(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    agree(ctx, SlotChange::Pause { paused: true })
}

pub fn resumemoves(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    agree(ctx, SlotChange::Pause { paused: false })
}

/// CLUSTER MIGRATIONS: the pending moves as this node knows them and what its own
/// migrations have done, as `field:value` lines (the format of CLUSTER INFO).
pub fn migrations(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let t = topology(ctx)?;
    let myshard = t.as_ref().and_then(|t| t.node(&c.myid)).map(|n| n.shard);
    let (mut pending, mut out, mut inbound) = (0, 0, 0);
    let paused = t.as_ref().is_some_and(|t| t.moves_paused);
    let mut targets: std::collections::BTreeMap<String, usize> = Default::default();
    if let Some(t) = &t {
        pending = t.moves.len();
        inbound = t.moves.values().filter(|to| Some(**to) == myshard).count();
        for (_, to) in myshard.into_iter().flat_map(|me| t.moves_from(me)) {
            out += 1;
            let id = t.primary_of(to).map_or("-".to_string(), |n| n.id.clone());
            *targets.entry(id).or_default() += 1;
        }
    }
    let m = &ctx.shared.migrations;
    let p = &m.progress;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut text = format!(
        "migrations_pending_slots:{pending}\r\nmigrations_paused:{}\r\nmigrating_slots:{out}\r\nimporting_slots:{inbound}\r\nmigration_drivers:{}\r\nmigration_slots_moved:{}\r\nmigration_batches:{}\r\nmigration_keys_sent:{}\r\nmigration_bytes_sent:{}\r\nmigration_failures:{}\r\nmigration_last_pause_us:{}\r\nmigration_max_pause_us:{}\r\n",
        u8::from(paused),
        m.running(),
        get(&p.slots_moved),
        get(&p.batches),
        get(&p.keys_sent),
        get(&p.bytes_sent),
        get(&p.failures),
        get(&p.last_pause_us),
        get(&p.max_pause_us),
    );
    if let Some(e) = p.last_error.lock().as_ref() {
        text += &format!("migration_last_error:{}\r\n", e.replace(['\r', '\n'], " "));
    }
    for (id, n) in targets {
        text += &format!("migrating_to:{id}:{n}\r\n");
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}
