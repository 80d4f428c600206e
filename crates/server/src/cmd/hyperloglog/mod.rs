//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST over strings in Redis's own
//! representation (`store::hll`), with Redis 7.0's replies and errors.
use resp::Args;
use store::hll;
use store::{Str, Ttl, Value};

use crate::command::{Ctx, Handler};
use crate::error::{CmdError, CmdResult};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("pfadd", pfadd),
    ("pfcount", pfcount),
    ("pfmerge", pfmerge),
    ("pfdebug", pfdebug),
    ("pfselftest", pfselftest),
];

/// `hll-sparse-max-bytes` now.
fn sparse_max(ctx: &Ctx<'_>) -> usize {
    ctx.shared
        .live
        .tunables
        .hll_sparse_max_bytes
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The HLL string at `key` (`None` if absent), checked as Redis's `isHLLObjectOrReply`.
fn read(
    shard: &mut store::Shard,
    h: u64,
    key: &[u8],
    now: u64,
) -> Result<Option<Vec<u8>>, CmdError> {
    let Some(e) = shard.get(h, key, now) else {
        return Ok(None);
    };
    match e.value().as_str() {
        None => Err(CmdError::WrongType),
        // An integer-encoded string is never an HLL (Redis: not sds-encoded).
        Some(store::StrRef::Int(_)) => Err(CmdError::NotHll),
        Some(s) => {
            let bytes = s.to_vec();
            if hll::is_valid(&bytes) {
                Ok(Some(bytes))
            } else {
                Err(CmdError::NotHll)
            }
        }
    }
}

/// Stores an HLL string, keeping the key's TTL.
fn write(shard: &mut store::Shard, h: u64, key: &[u8], bytes: Vec<u8>, existed: bool, now: u64) {
    let ttl = if existed { Ttl::Keep } else { Ttl::Clear };
    shard.set(h, key, Value::Str(Str::Raw(bytes)), ttl, now);
}

/// Checks the value at `key` is an HLL string without copying it: `Ok(false)` if absent.
fn check(shard: &mut store::Shard, h: u64, key: &[u8], now: u64) -> Result<bool, CmdError> {
    let Some(e) = shard.get(h, key, now) else {
        return Ok(false);
    };
    match e.value().as_str() {
        None => Err(CmdError::WrongType),
        Some(store::StrRef::Int(_)) => Err(CmdError::NotHll),
        Some(s) if s.with_bytes(hll::is_valid) => Ok(true),
        Some(_) => Err(CmdError::NotHll),
    }
}

/// PFADD key [element ...]: 1 when the key was created or a register changed. The string
/// is updated in place (an HLL is up to 12 KB; PFADD is meant to be cheap).
pub fn pfadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let max = sparse_max(ctx);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let created = !check(&mut shard, h, key, ctx.now)?;
    if created {
        write(&mut shard, h, key, hll::new_sparse(), false, ctx.now);
    }
    let updated = shard
        .modify_raw_if(h, key, ctx.now, |s| {
            let mut updated = created;
            for i in 2..args.len() {
                match hll::add(s, args.get(i), max) {
                    Ok(changed) => updated |= changed,
                    Err(_) => return (Err(CmdError::CorruptHll), updated),
                }
            }
            if updated {
                hll::invalidate_cache(s);
            }
            (Ok(updated), updated)
        })
        .expect("the key exists")?;
    ctx.out.int(updated as i64);
    Ok(())
}

/// PFCOUNT key [key ...]: one key answers (and caches) its estimate; several, the
/// estimate of their union (nothing cached).
pub fn pfcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    if args.len() > 2 {
        let mut max = Box::new([0u8; hll::REGISTERS]);
        for i in 1..args.len() {
            let key = args.get(i);
            let h = ks.hash(key);
            let Some(s) = read(&mut ks.lock(h), h, key, ctx.now)? else {
                continue;
            };
            hll::merge_into(&mut max, &s).map_err(|_| CmdError::CorruptHll)?;
        }
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = args.get(1);
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    if !check(&mut shard, h, key, ctx.now)? {
        ctx.out.int(0);
        return Ok(());
    }
    let cached = shard
        .get(h, key, ctx.now)
        .and_then(|e| e.value().as_str().and_then(|s| s.with_bytes(hll::cached)));
    let card = match cached {
        Some(card) => card,
        // Redis writes the estimate back into the string (a change WATCH sees).
        None => shard
            .modify_raw_if(h, key, ctx.now, |s| match hll::count(s) {
                Ok(card) => {
                    hll::set_cache(s, card);
                    (Ok(card), true)
                }
                Err(_) => (Err(CmdError::CorruptHll), false),
            })
            .expect("the key exists")?,
    };
    ctx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination (also a source) becomes the union;
/// dense if any input was.
pub fn pfmerge(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let keys: Vec<&[u8]> = (1..args.len()).map(|i| args.get(i)).collect();
    let hashes: Vec<u64> = keys.iter().map(|k| ks.hash(k)).collect();
    let mut set = ks.lock_many(&hashes);
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut use_dense = false;
    for (k, &h) in keys.iter().zip(&hashes) {
        let Some(s) = read(set.shard(h), h, k, ctx.now)? else {
            continue;
        };
        use_dense |= !hll::is_sparse(&s);
        hll::merge_into(&mut max, &s).map_err(|_| CmdError::CorruptHll)?;
    }
    let (dst, hd) = (keys[0], hashes[0]);
    let existing = read(set.shard(hd), hd, dst, ctx.now)?;
    let existed = existing.is_some();
    let mut s = existing.unwrap_or_else(hll::new_sparse);
    if use_dense {
        hll::to_dense(&mut s).map_err(|_| CmdError::CorruptHll)?;
    }
    let sparse_max = sparse_max(ctx);
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            hll::set(&mut s, i, m, sparse_max).map_err(|_| CmdError::CorruptHll)?;
        }
    }
    hll::invalidate_cache(&mut s);
    write(set.shard(hd), hd, dst, s, existed, ctx.now);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key.
pub fn pfdebug(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let sub = String::from_utf8_lossy(args.get(1)).into_owned();
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(mut s) = read(&mut shard, h, key, ctx.now)? else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let arity = || {
        CmdError::err(format!(
            "Wrong number of arguments for the '{sub}' subcommand"
        ))
    };
    match sub.to_ascii_lowercase().as_str() {
        "getreg" => {
            if args.len() != 3 {
                return Err(arity());
            }
            if hll::is_sparse(&s) {
                hll::to_dense(&mut s).map_err(|_| CmdError::CorruptHll)?;
                write(&mut shard, h, key, s.clone(), true, ctx.now);
            }
            let regs = hll::registers(&s).map_err(|_| CmdError::CorruptHll)?;
            ctx.out.array(regs.len());
            regs.iter().for_each(|r| ctx.out.int(*r as i64));
        }
        "decode" => {
            if args.len() != 3 {
                return Err(arity());
            }
            if !hll::is_sparse(&s) {
                return Err(CmdError::err("HLL encoding is not sparse"));
            }
            ctx.out.bulk(hll::decode_sparse(&s).as_bytes());
        }
        "encoding" => {
            if args.len() != 3 {
                return Err(arity());
            }
            ctx.out.simple(if hll::is_sparse(&s) {
                "sparse"
            } else {
                "dense"
            });
        }
        "todense" => {
            if args.len() != 3 {
                return Err(arity());
            }
            let converted = hll::is_sparse(&s);
            if converted {
                hll::to_dense(&mut s).map_err(|_| CmdError::CorruptHll)?;
                write(&mut shard, h, key, s, true, ctx.now);
            }
            ctx.out.int(converted as i64);
        }
        _ => return Err(CmdError::err(format!("Unknown PFDEBUG subcommand '{sub}'"))),
    }
    Ok(())
}

/// PFSELFTEST: the register layout keeps what it is given.
pub fn pfselftest(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    hll::self_test(ctx.now).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}
