//! ZUNION / ZINTER / ZDIFF, their STORE forms, and ZINTERCARD (Redis's
//! `zunionInterDiffGenericCommand`). Sources may be sorted sets or plain sets (score 1).
use std::collections::HashMap;

use resp::Args;
use store::{Ttl, Value, ZSet};

use super::reply_scored;
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(how: Aggregate, target: &mut f64, value: f64) {
    match how {
        Aggregate::Sum => {
            *target += value;
            // +inf + -inf: Redis keeps 0 rather than NaN.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = target.min(value),
        Aggregate::Max => *target = target.max(value),
    }
}

/// Which command shape is being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// ZUNION / ZINTER / ZDIFF: WITHSCORES allowed.
    Reply,
    /// The STORE forms.
    Store,
    /// ZINTERCARD: LIMIT allowed.
    Card,
}

struct Computed {
    result: ZSet,
    withscores: bool,
    limit: usize,
}

/// Reads the sources (type-checked before the options are parsed, as Redis does), parses
/// the options and computes the result, all under the locks of every shard involved.
fn compute(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    numkeys_at: usize,
    op: Op,
    shape: Shape,
    dst: Option<&[u8]>,
) -> Result<Computed, CmdError> {
    let n = int_arg(args.get(numkeys_at))?;
    if n < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(args.get(0)).to_lowercase()
        )));
    }
    if n as usize > args.len() - numkeys_at - 1 {
        return Err(CmdError::Syntax);
    }
    let n = n as usize;
    let keys = args.range(numkeys_at + 1, numkeys_at + 1 + n);
    let ks = &ctx.shared.keyspace;
    let mut hashes: Vec<u64> = keys.iter().map(|k| ks.hash(k)).collect();
    if let Some(d) = dst {
        hashes.push(ks.hash(d));
    }
    let mut shards = ks.lock_many(&hashes);
    let mut sources: Vec<Vec<(Vec<u8>, f64)>> = Vec::with_capacity(n);
    for (k, &h) in keys.iter().zip(&hashes) {
        let items = match shards.shard(h).peek(h, k, ctx.now) {
            None => Vec::new(),
            Some(e) => match e.value() {
                store::ValueRef::ZSet(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
                store::ValueRef::Set(s) => s.members().iter().map(|m| (m.to_vec(), 1.0)).collect(),
                _ => return Err(CmdError::WrongType),
            },
        };
        sources.push(items);
    }

    let mut weights = vec![1.0f64; n];
    let (mut how, mut withscores, mut limit) = (Aggregate::Sum, false, 0usize);
    let mut j = numkeys_at + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = args.get(j);
        let full = op != Op::Diff && shape != Shape::Card;
        if full && remaining > n && is(a, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = store::float::parse_double(args.get(j + 1 + i))
                    .ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if full && remaining >= 2 && is(a, "aggregate") {
            let v = args.get(j + 1);
            how = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if shape == Shape::Reply && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if shape == Shape::Card && remaining >= 2 && is(a, "limit") {
            // Redis's getPositiveLongFromObjectOrReply: one message for "not a number"
            // and "negative".
            limit = resp::number::parse_i64(args.get(j + 1))
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }

    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    // Redis walks the sources smallest first (the order matters to float sums).
    let mut order: Vec<usize> = (0..n).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| sources[i].len());
    }
    let result = match op {
        Op::Union => {
            let mut acc: HashMap<&[u8], f64> = HashMap::new();
            let mut seen: Vec<&[u8]> = Vec::new();
            for &i in &order {
                for (m, s) in &sources[i] {
                    let v = weighted(weights[i], *s);
                    match acc.get_mut(&m[..]) {
                        Some(t) => aggregate(how, t, v),
                        None => {
                            acc.insert(m, v);
                            seen.push(m);
                        }
                    }
                }
            }
            ZSet::from_pairs(seen.into_iter().map(|m| (m, acc[m])))
        }
        Op::Inter => {
            let (first, rest) = order.split_first().expect("at least one source");
            let lookups: Vec<HashMap<&[u8], f64>> = rest
                .iter()
                .map(|&i| sources[i].iter().map(|(m, s)| (&m[..], *s)).collect())
                .collect();
            let mut pairs = Vec::new();
            'members: for (m, s) in &sources[*first] {
                let mut score = weighted(weights[*first], *s);
                for (k, &i) in rest.iter().enumerate() {
                    match lookups[k].get(&m[..]) {
                        Some(v) => aggregate(how, &mut score, weighted(weights[i], *v)),
                        None => continue 'members,
                    }
                }
                pairs.push((&m[..], score));
            }
            ZSet::from_pairs(pairs)
        }
        Op::Diff => {
            let others: Vec<std::collections::HashSet<&[u8]>> = sources[1..]
                .iter()
                .map(|s| s.iter().map(|(m, _)| &m[..]).collect())
                .collect();
            ZSet::from_pairs(
                sources[0]
                    .iter()
                    .filter(|(m, _)| others.iter().all(|o| !o.contains(&m[..])))
                    .map(|(m, s)| (&m[..], *s)),
            )
        }
    };
    if let Some(d) = dst {
        let h = *hashes.last().expect("destination hash");
        let shard = shards.shard(h);
        shard.remove(h, d, ctx.now);
        if !result.is_empty() {
            shard.set(
                h,
                d,
                Value::ZSet(Box::new(result.clone())),
                Ttl::Clear,
                ctx.now,
            );
        }
    }
    Ok(Computed {
        result,
        withscores,
        limit,
    })
}

fn reply(ctx: &mut Ctx<'_>, args: Args<'_>, op: Op) -> CmdResult {
    let c = compute(ctx, args, 1, op, Shape::Reply, None)?;
    let items: Vec<(&[u8], f64)> = c.result.iter().collect();
    reply_scored(ctx.out, &items, c.withscores);
    Ok(())
}

fn store(ctx: &mut Ctx<'_>, args: Args<'_>, op: Op) -> CmdResult {
    let c = compute(ctx, args, 2, op, Shape::Store, Some(args.get(1)))?;
    ctx.out.int(c.result.len() as i64);
    Ok(())
}

pub fn zunion(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Op::Union)
}

pub fn zinter(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Op::Inter)
}

pub fn zdiff(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    reply(ctx, args, Op::Diff)
}

pub fn zunionstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, args, Op::Union)
}

pub fn zinterstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, args, Op::Inter)
}

pub fn zdiffstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    store(ctx, args, Op::Diff)
}

pub fn zintercard(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let c = compute(ctx, args, 1, Op::Inter, Shape::Card, None)?;
    let n = c.result.len();
    ctx.out
        .int(if c.limit > 0 { n.min(c.limit) } else { n } as i64);
    Ok(())
}
