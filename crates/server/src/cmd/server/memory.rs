//! MEMORY USAGE key [SAMPLES count] | STATS | HELP
use std::sync::atomic::Ordering;

use resp::Args;

use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Bytes the key and its value take in this node (entry, buffers, table slot, TTL list).
pub fn usage(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut i = 3;
    while i < args.len() {
        if is(args.get(i), "samples") && i + 1 < args.len() {
            int_arg(args.get(i + 1))?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    match ks.lock(h).peek(h, key, ctx.now) {
        Some(e) => ctx.out.int(store::shard::key_memory(e) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// MEMORY STATS with Redis's field names; fields for features this node does not have
/// (replication backlog, AOF, Lua) are reported as 0.
pub fn stats(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let shared = ctx.shared;
    let total = shared.memory_in_use();
    let peak = shared.peak_memory.load(Ordering::Relaxed).max(total);
    let startup = shared.startup_memory.load(Ordering::Relaxed);
    let dataset = shared.keyspace.used_bytes();
    let (table, expires) = shared.keyspace.overhead_bytes();
    let (keys, _) = shared.keyspace.counts();
    let clients: u64 = shared
        .clients
        .all()
        .iter()
        .map(|c| {
            (c.query_buffer.load(Ordering::Relaxed) + c.output_memory.load(Ordering::Relaxed))
                as u64
        })
        .sum();
    let (allocated, active, resident) = crate::allocator_detail();
    let rss = crate::rss_bytes();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let overhead = total.saturating_sub(dataset);
    let out = &mut *ctx.out;
    out.map(28);
    for (name, v) in [
        ("peak.allocated", peak),
        ("total.allocated", total),
        ("startup.allocated", startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", clients),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ] {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    out.bulk(b"db.0");
    out.map(2);
    out.bulk(b"overhead.hashtable.main");
    out.int(table as i64);
    out.bulk(b"overhead.hashtable.expires");
    out.int(expires as i64);
    out.bulk(b"overhead.total");
    out.int(overhead as i64);
    out.bulk(b"keys.count");
    out.int(keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(if keys > 0 {
        (total.saturating_sub(startup) / keys as u64) as i64
    } else {
        0
    });
    out.bulk(b"dataset.bytes");
    out.int(dataset as i64);
    out.bulk(b"dataset.percentage");
    out.double(100.0 * ratio(dataset, total.saturating_sub(startup)));
    out.bulk(b"peak.percentage");
    out.double(100.0 * ratio(total, peak));
    out.bulk(b"allocator.allocated");
    out.int(allocated as i64);
    out.bulk(b"allocator.active");
    out.int(active as i64);
    out.bulk(b"allocator.resident");
    out.int(resident as i64);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(ratio(active, allocated));
    out.bulk(b"allocator-fragmentation.bytes");
    out.int(active.saturating_sub(allocated) as i64);
    out.bulk(b"allocator-rss.ratio");
    out.double(ratio(resident, active));
    out.bulk(b"allocator-rss.bytes");
    out.int(resident.saturating_sub(active) as i64);
    out.bulk(b"rss-overhead.ratio");
    out.double(ratio(rss, resident));
    out.bulk(b"rss-overhead.bytes");
    out.int(rss as i64 - resident as i64);
    out.bulk(b"fragmentation");
    out.double(ratio(rss, total));
    out.bulk(b"fragmentation.bytes");
    out.int(rss as i64 - total as i64);
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "MEMORY",
        &[
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
