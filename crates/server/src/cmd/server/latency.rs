//! LATENCY LATEST | HISTORY event | RESET [event ...] | GRAPH event | DOCTOR |
//! HISTOGRAM [command ...] | HELP
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn latest(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let events = ctx.shared.latency.events();
    ctx.out.array(events.len());
    for (name, s) in &events {
        let (t, v) = s.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(v as i64);
        ctx.out.int(s.max as i64);
    }
    Ok(())
}

pub fn history(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let samples = ctx
        .shared
        .latency
        .series(args.get(2))
        .map(|s| s.samples)
        .unwrap_or_default();
    ctx.out.array(samples.len());
    for (t, v) in samples {
        ctx.out.array(2);
        ctx.out.int(t as i64);
        ctx.out.int(v as i64);
    }
    Ok(())
}

pub fn reset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let n = ctx.shared.latency.reset(args.tail(2).iter());
    ctx.out.int(n as i64);
    Ok(())
}

pub fn graph(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let event = String::from_utf8_lossy(args.get(2)).into_owned();
    let Some(s) = ctx.shared.latency.series(args.get(2)) else {
        return Err(CmdError::err(format!(
            "No samples available for event '{event}'"
        )));
    };
    let text = crate::latency::graph(&event, &s, crate::unix_ms() / 1000);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn doctor(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let l = &ctx.shared.latency;
    let text = crate::latency::doctor(&l.events(), l.threshold());
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The label Redis prints for a histogram bucket whose upper bound is `2^k` µs: its HDR
/// histogram reports `1024·2^k` ns buckets at their highest equivalent value (2
/// significant digits), in µs — 1, 2, 4, 8, 16, 33, 66, 132, ...
fn bucket_label(k: usize) -> i64 {
    let level = 1024u64 << k;
    let highest = if level < 256 {
        level
    } else {
        let magnitude = 63 - level.leading_zeros() as u64;
        level + (1u64 << (magnitude - 7)) - 1
    };
    (highest / 1000) as i64
}

/// Per command: calls, and the cumulative count of calls at each latency bucket.
pub fn histogram(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let table = &ctx.shared.table;
    let wanted: Vec<usize> = if args.len() > 2 {
        args.tail(2)
            .iter()
            .filter_map(|name| {
                let text = String::from_utf8_lossy(name).to_ascii_lowercase();
                match text.split_once('|') {
                    Some((c, sub)) => table.lookup_sub(c, sub.as_bytes()),
                    None => table.lookup(name),
                }
            })
            // A container stands for its subcommands (LATENCY HISTOGRAM CLIENT: every
            // CLIENT subcommand that ran), as Redis's latencySpecificCommandsFillCDF.
            .flat_map(|i| match &table.get(i).subcommands {
                subs if subs.is_empty() => vec![i],
                subs => subs.clone(),
            })
            .collect()
    } else {
        (0..table.commands.len()).collect()
    };
    let mut rows: Vec<(usize, u64, Vec<u64>)> = Vec::new();
    for i in wanted {
        let stats = &table.stats[i];
        let calls = stats.calls.load(std::sync::atomic::Ordering::Relaxed);
        if calls == 0 || rows.iter().any(|(j, ..)| *j == i) {
            continue;
        }
        let buckets: Vec<u64> = stats
            .buckets
            .iter()
            .map(|b| b.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        rows.push((i, calls, buckets));
    }
    ctx.out.map(rows.len());
    for (i, calls, buckets) in rows {
        ctx.out.bulk(table.get(i).meta.name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(calls as i64);
        ctx.out.bulk(b"histogram_usec");
        let mut points = Vec::new();
        let mut cumulative = 0;
        for (k, n) in buckets.iter().enumerate() {
            if *n > 0 {
                cumulative += n;
                points.push((bucket_label(k), cumulative));
            }
        }
        ctx.out.map(points.len());
        for (label, c) in points {
            ctx.out.int(label);
            ctx.out.int(c as i64);
        }
    }
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    const LINES: &[&str] = &[
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ];
    crate::cmd::help(ctx.out, "LATENCY", LINES);
    Ok(())
}
