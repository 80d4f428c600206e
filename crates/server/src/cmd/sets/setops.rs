//! SINTER / SUNION / SDIFF, their STORE forms, and SINTERCARD.
use resp::Args;
use store::{Set, Ttl, Value};

use super::reply_members;
use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes the operation over `keys` with every shard involved (and the destination's)
/// locked together, so the result is one consistent snapshot; stores it at `dst` when given.
/// Every key is type-checked, even after a missing one, as Redis does.
fn compute(
    ctx: &mut Ctx<'_>,
    op: Op,
    keys: Args<'_>,
    dst: Option<&[u8]>,
) -> Result<Vec<Vec<u8>>, CmdError> {
    let ks = &ctx.shared.keyspace;
    let mut hashes: Vec<u64> = keys.iter().map(|k| ks.hash(k)).collect();
    if let Some(d) = dst {
        hashes.push(ks.hash(d));
    }
    let mut shards = ks.lock_many(&hashes);
    let mut sets: Vec<Option<Set>> = Vec::with_capacity(keys.len());
    for (k, &h) in keys.iter().zip(&hashes) {
        match shards.shard(h).peek(h, k, ctx.now) {
            None => sets.push(None),
            Some(e) => sets.push(Some(e.value().as_set().ok_or(CmdError::WrongType)?.clone())),
        }
    }
    let member_list = |s: &Option<Set>| -> Vec<Vec<u8>> {
        s.as_ref()
            .map(|s| s.members().iter().map(|m| m.to_vec()).collect())
            .unwrap_or_default()
    };
    let result: Vec<Vec<u8>> = match op {
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                Vec::new()
            } else {
                // Iterate the smallest set, probe the others.
                let smallest = sets
                    .iter()
                    .flatten()
                    .min_by_key(|s| s.len())
                    .expect("non-empty");
                smallest
                    .members()
                    .into_iter()
                    .filter(|m| sets.iter().flatten().all(|s| s.contains(m)))
                    .map(|m| m.to_vec())
                    .collect()
            }
        }
        Op::Union => {
            let mut union = Set::default();
            for s in &sets {
                for m in member_list(s) {
                    union.insert(&m);
                }
            }
            union.members().iter().map(|m| m.to_vec()).collect()
        }
        Op::Diff => member_list(&sets[0])
            .into_iter()
            .filter(|m| sets[1..].iter().flatten().all(|s| !s.contains(m)))
            .collect(),
    };
    if let Some(d) = dst {
        let h = *hashes.last().expect("destination hash");
        let shard = shards.shard(h);
        shard.remove(h, d, ctx.now);
        if !result.is_empty() {
            let stored: Set = result.iter().cloned().collect();
            shard.set(h, d, Value::Set(Box::new(stored)), Ttl::Clear, ctx.now);
        }
    }
    Ok(result)
}

fn reply(ctx: &mut Ctx<'_>, op: Op, args: Args<'_>) -> CmdResult {
    let members = compute(ctx, op, args.tail(1), None)?;
    reply_members(ctx.out, members.iter().map(|m| &m[..]));
    Ok(())
}

fn store(ctx: &mut Ctx<'_>, op: Op, args: Args<'_>) -> CmdResult {
    let members = compute(ctx, op, args.tail(2), Some(args.get(1)))?;
    ctx.out.int(members.len() as i64);
    Ok(())
}

pub fn sinter(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, Op::Inter, args)
}

pub fn sunion(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, Op::Union, args)
}

pub fn sdiff(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, Op::Diff, args)
}

pub fn sinterstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, Op::Inter, args)
}

pub fn sunionstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, Op::Union, args)
}

pub fn sdiffstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, Op::Diff, args)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    // Redis gives the same message for a non-integer as for a non-positive count.
    let numkeys = resp::number::parse_i64(args.get(1))
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?
        as usize;
    if numkeys > args.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if is(args.get(i), "limit") && i + 1 < args.len() {
            // Redis's getPositiveLongFromObjectOrReply: one message for "not a number"
            // and "negative".
            limit = resp::number::parse_i64(args.get(i + 1))
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let members = compute(ctx, Op::Inter, args.range(2, 2 + numkeys), None)?;
    let n = if limit == 0 {
        members.len()
    } else {
        members.len().min(limit)
    };
    ctx.out.int(n as i64);
    Ok(())
}
