//! SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
//! [STORE destination], and SORT_RO (the same without STORE).
//!
//! Semantics are Redis 7.0's `sortCommandGeneric`: elements of a list, set or sorted set,
//! weighed by themselves or by the keys (or hash fields, `pattern->field`) their value is
//! substituted into; a constant BY pattern means "do not sort" (lists and sorted sets keep
//! their order, ranged directly); numeric ties are broken by comparing the elements; GET
//! patterns (`#` = the element) fetch other keys per element; STORE writes a list.
//!
//! Atomicity: with BY or GET patterns every shard is locked (in order) for the command, as
//! the keys they name are known only once the elements are read; otherwise just the sorted
//! key's and the destination's shards.
use std::cmp::Ordering;

use resp::Args;
use store::{List, Ttl, Value};

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn sort(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    sort_generic(ctx, args, false)
}

pub fn sort_ro(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    sort_generic(ctx, args, true)
}

struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: (i64, i64),
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

/// BY and GET read keys the command's arguments do not name, so the user must be allowed
/// to read every key (Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess`).
fn full_read_access(ctx: &Ctx<'_>, args: Args<'_>) -> bool {
    ctx.client.acl.open
        || ctx.client.acl.user.as_ref().is_none_or(|user| {
            ctx.shared.table.resolve_args(args).is_some_and(|index| {
                crate::users::unrestricted_key_access(ctx.shared, user, index, args, acl::KEY_READ)
            })
        })
}

fn parse<'a>(ctx: &Ctx<'_>, args: Args<'a>, readonly: bool) -> Result<Options<'a>, CmdError> {
    let cluster = ctx.shared.cluster.is_some();
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: (0, -1),
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let (a, left) = (args.get(j), args.len() - j - 1);
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            let start = resp::number::parse_i64(args.get(j + 1));
            let count = resp::number::parse_i64(args.get(j + 2));
            let (Some(start), Some(count)) = (start, count) else {
                return Err(CmdError::NotInteger);
            };
            o.limit = (start, count);
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(args.get(j + 1));
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let pattern = args.get(j + 1);
            o.by = Some(pattern);
            if !pattern.contains(&b'*') {
                o.dont_sort = true;
            } else if cluster {
                return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
            } else if !full_read_access(ctx, args) {
                return Err(CmdError::err(
                    "BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if cluster {
                return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
            }
            if !full_read_access(ctx, args) {
                return Err(CmdError::err(
                    "GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// What a pattern names for `element` (Redis's `lookupKeyByPattern`): `#` is the element;
/// otherwise the first `*` is replaced by it, and `->field` after it reads a hash field.
/// Strings and hash fields only; anything else (or no `*`) is nothing.
fn lookup(
    set: &mut store::ShardSet<'_>,
    ks: &store::Keyspace,
    pattern: &[u8],
    element: &[u8],
    now: u64,
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let field = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = field.unwrap_or(pattern.len());
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let h = ks.hash(&key);
    let shard = set.shard(h);
    let e = shard.get(h, &key, now)?;
    match field {
        Some(f) => e
            .value()
            .as_hash()
            .and_then(|hash| hash.get(&pattern[f + 2..]).map(<[u8]>::to_vec)),
        None => e.value().as_str().map(|s| s.to_vec()),
    }
}

fn sort_generic(ctx: &mut Ctx<'_>, args: Args<'_>, readonly: bool) -> CmdResult {
    let o = parse(ctx, args, readonly)?;
    let key = args.get(1);
    let (ks, now) = (&ctx.shared.keyspace, ctx.now);
    let patterns = (o.by.is_some() && !o.dont_sort) || !o.gets.is_empty();
    let hashes: Vec<u64> = if patterns {
        (0..store::keyspace::SHARDS as u64)
            .map(|i| i << store::hashing::SHARD_SHIFT)
            .collect()
    } else {
        std::iter::once(key)
            .chain(o.store)
            .map(|k| ks.hash(k))
            .collect()
    };
    let mut set = ks.lock_many(&hashes);
    let h = ks.hash(key);
    // Redis converts a listpack sorted set to a skiplist before sorting it (OBJECT ENCODING
    // shows it); not a write: no watcher is told.
    let _ = set
        .shard(h)
        .modify_if::<store::ZSet, _>(h, key, now, false, |z| (z.convert_to_skiplist(), false));

    // The elements, in the value's own order (a sorted set by rank, a set as SMEMBERS).
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let (kind, mut elements): (Kind, Vec<Vec<u8>>) = match set.shard(h).get(h, key, now) {
        None => (Kind::List, Vec::new()),
        Some(e) => match e.value() {
            v if v.as_list().is_some() => (
                Kind::List,
                v.as_list().unwrap().iter().map(<[u8]>::to_vec).collect(),
            ),
            v if v.as_set().is_some() => (
                Kind::Set,
                v.as_set()
                    .unwrap()
                    .members()
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect(),
            ),
            v if v.as_zset().is_some() => (
                Kind::ZSet,
                v.as_zset()
                    .unwrap()
                    .iter()
                    .map(|(m, _)| m.to_vec())
                    .collect(),
            ),
            _ => return Err(CmdError::WrongType),
        },
    };
    let (mut dont_sort, mut alpha, mut by) = (o.dont_sort, o.alpha, o.by);
    // A set's own order is not stable across replicas and scripts: with STORE, or inside a
    // script, Redis sorts it alphabetically instead.
    if dont_sort && matches!(kind, Kind::Set) && (o.store.is_some() || ctx.client.in_script) {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let len = elements.len() as i64;
    let mut start = o.limit.0.max(0);
    let mut end = if o.limit.1 < 0 {
        len - 1
    } else {
        start.saturating_add(o.limit.1) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    if dont_sort && !matches!(kind, Kind::Set) {
        // Ordered values keep their order (reversed by DESC); LIMIT picks from it.
        if o.desc {
            elements.reverse();
        }
        elements = if end >= start {
            elements[start as usize..=end as usize].to_vec()
        } else {
            Vec::new()
        };
        end -= start;
        start = 0;
    }
    let mut failed_conversion = false;
    if !dont_sort {
        // (element, numeric weight, alphabetic weight)
        let mut weighed: Vec<(Vec<u8>, f64, Option<Vec<u8>>)> = Vec::with_capacity(elements.len());
        for el in elements {
            let by_value = match by {
                Some(pattern) => lookup(&mut set, ks, pattern, &el, now),
                None => Some(el.clone()),
            };
            let (mut score, mut cmp) = (0.0, None);
            if let Some(v) = by_value {
                if alpha {
                    cmp = by.is_some().then_some(v);
                } else {
                    match store::float::parse_sort_score(&v) {
                        Some(s) => score = s,
                        None => failed_conversion = true,
                    }
                }
            }
            weighed.push((el, score, cmp));
        }
        let by_pattern = by.is_some();
        weighed.sort_by(|a, b| {
            let cmp = if !alpha {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            } else if by_pattern {
                match (&a.2, &b.2) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.0.cmp(&b.0)
            };
            if o.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        elements = weighed.into_iter().map(|(e, _, _)| e).collect();
    }
    if failed_conversion {
        return Err(CmdError::err(
            "One or more scores can't be converted into double",
        ));
    }
    let picked: &[Vec<u8>] = if end >= start {
        &elements[start as usize..=end as usize]
    } else {
        &[]
    };
    // Each output row: the element, or what each GET pattern names (None = nil).
    let mut rows: Vec<Option<Vec<u8>>> = Vec::new();
    for el in picked {
        if o.gets.is_empty() {
            rows.push(Some(el.clone()));
        }
        for pattern in &o.gets {
            rows.push(lookup(&mut set, ks, pattern, el, now));
        }
    }
    match o.store {
        None => {
            ctx.out.array(rows.len());
            for r in &rows {
                match r {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dst) => {
            let hd = ks.hash(dst);
            let target = set.shard(hd);
            target.remove(hd, dst, now);
            if !rows.is_empty() {
                let mut list = List::default();
                for r in &rows {
                    list.push_back(r.as_deref().unwrap_or(b""));
                }
                target.set(hd, dst, Value::List(Box::new(list)), Ttl::Clear, now);
            }
            ctx.out.int(rows.len() as i64);
        }
    }
    Ok(())
}
