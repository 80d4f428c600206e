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

/// MEMORY DOCTOR: Redis's report, from the same figures and thresholds (this node has no
/// script cache, so never the "many scripts" item).
pub fn doctor(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let shared = ctx.shared;
    let total = shared.memory_in_use();
    let peak = shared.peak_memory.load(Ordering::Relaxed).max(total);
    let (allocated, active, resident) = crate::allocator_detail();
    let rss = crate::rss_bytes();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    const MB10: u64 = 10 << 20;
    let clients = shared.clients.all();
    let replicas = shared.replicas.count();
    let normal: Vec<_> = clients.iter().filter(|c| !c.is_replica()).collect();
    let normal_bytes: u64 = normal
        .iter()
        .map(|c| {
            (c.query_buffer.load(Ordering::Relaxed) + c.output_memory.load(Ordering::Relaxed))
                as u64
        })
        .sum();
    let replica_bytes: u64 = clients
        .iter()
        .filter(|c| c.is_replica())
        .map(|c| c.output_memory.load(Ordering::Relaxed) as u64)
        .sum();
    let report = if total < 5 << 20 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let mut items = String::new();
        if ratio(peak, total) > 1.5 {
            items += " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
        }
        if ratio(rss, total) > 1.4 && rss.saturating_sub(total) > MB10 {
            items += " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n";
        }
        if ratio(active, allocated) > 1.1 && active.saturating_sub(allocated) > MB10 {
            items += " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n";
        }
        if ratio(resident, active) > 1.1 && resident.saturating_sub(active) > MB10 {
            items += " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
        }
        if ratio(rss, resident) > 1.1 && rss.saturating_sub(resident) > MB10 {
            items += " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n";
        }
        if replicas > 0 && replica_bytes > MB10 {
            items += " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for each replica (on average). This likely means that there is some replica instance that is struggling receiving data, either because it is too slow or because of networking issues. As a result, data piles on the master output buffers. Please try to identify what replica is not receiving data correctly and why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to check the output buffers of each replica.\n\n";
        }
        if !normal.is_empty() && normal_bytes / normal.len() as u64 > 200 * 1024 {
            items += " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";
        }
        if items.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            format!("Sam, I detected a few issues in this Redis instance memory implants:\n\n{items}I'm here to keep you safe, Sam. I want to help you.\n")
        }
    };
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

/// MEMORY PURGE: returns the allocator's dirty pages to the system (jemalloc's
/// `arena.<all>.purge`, as Redis).
pub fn purge(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if crate::allocator_purge() {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::err("Error purging dirty pages"))
    }
}

/// MEMORY MALLOC-STATS: jemalloc's own statistics report.
pub fn malloc_stats(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let report = crate::allocator_report();
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
