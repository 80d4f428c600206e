//! SPOP key [count] / SRANDMEMBER key [count]
use rand::Rng;
use resp::Args;

use super::read_set;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Removes and returns random members: one (bulk or nil) without a count, up to `count` as
/// a set with one.
pub fn spop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 {
        Some(crate::cmd::positive_count(args.get(2))?)
    } else {
        None
    };
    let mut rng = rand::thread_rng();
    let popped =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |set: &mut store::Set| {
            let n = count.unwrap_or(1).min(set.len());
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let i = rng.gen_range(0..set.len());
                let m = set.get_index(i).expect("in range").to_vec();
                set.remove(&m);
                out.push(m);
            }
            let changed = !out.is_empty();
            (out, changed)
        })?;
    if let Some(items) = &popped {
        // Replicas remove the members this node picked (as Redis propagates SREM).
        let mut effect: Vec<&[u8]> = vec![b"SREM", args.get(1)];
        effect.extend(items.iter().map(Vec::as_slice));
        crate::replication::log::rewrite_parts(&effect);
    }
    match (popped, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.set(0),
        (Some(items), None) => ctx.out.bulk(&items[0]),
        (Some(items), Some(_)) => {
            ctx.out.set(items.len());
            items.iter().for_each(|m| ctx.out.bulk(m));
        }
    }
    Ok(())
}

/// Random members without removing them: distinct for a positive count, possibly repeated
/// for a negative one.
pub fn srandmember(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = crate::cmd::random_count(args)?;
    let mut rng = rand::thread_rng();
    let found = read_set(ctx, args, |set, out| {
        let n = set.len();
        match count {
            None => out.bulk(set.get_index(rng.gen_range(0..n)).expect("in range")),
            Some(c) if c >= 0 => {
                let picks = rand::seq::index::sample(&mut rng, n, (c as usize).min(n));
                out.array(picks.len());
                picks
                    .iter()
                    .for_each(|i| out.bulk(set.get_index(i).expect("in range")));
            }
            Some(c) => {
                out.array(c.unsigned_abs() as usize);
                for _ in 0..c.unsigned_abs() {
                    out.bulk(set.get_index(rng.gen_range(0..n)).expect("in range"));
                }
            }
        }
    })?;
    if found.is_none() {
        crate::cmd::reply_random_missing(ctx.out, count);
    }
    Ok(())
}
