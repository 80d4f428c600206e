//! OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn encoding(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    match ks.lock(h).peek(h, key, ctx.now) {
        Some(e) => ctx.out.bulk(e.value().encoding().as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// The LFU counter; only meaningful (and only allowed) under an LFU policy, as in Redis.
pub fn freq(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.peek(h, key, ctx.now) else {
        ctx.out.null();
        return Ok(());
    };
    if !ctx.shared.live.policy().is_lfu() {
        return Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    ctx.out.int(store::shard::lfu_counter(e, ctx.now) as i64);
    Ok(())
}

/// Seconds since the last access; refused under an LFU policy, as in Redis.
pub fn idletime(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.peek(h, key, ctx.now) else {
        ctx.out.null();
        return Ok(());
    };
    if ctx.shared.live.policy().is_lfu() {
        return Err(CmdError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    ctx.out.int(store::Shard::idle_secs(e, ctx.now) as i64);
    Ok(())
}

/// Redis shares the integers 0..10000 between keys (refcount `INT_MAX`) unless an LRU/LFU
/// policy with a memory limit needs per-key access data; every other value is its key's
/// alone. Answered by the same rule, so tools that read it see what Redis shows.
pub fn refcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let shares_integers = {
        let live = &ctx.shared.live;
        let policy = live.policy();
        live.maxmemory.load(std::sync::atomic::Ordering::Relaxed) == 0
            || !(policy.is_lfu() || policy.name().ends_with("-lru"))
    };
    match ks.lock(h).peek(h, key, ctx.now) {
        Some(e) => {
            let shared = shares_integers
                && matches!(e.value().as_str(), Some(store::StrRef::Int(n)) if (0..10_000).contains(&n));
            ctx.out.int(if shared { i32::MAX as i64 } else { 1 });
        }
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
