//! SUBSCRIBE / UNSUBSCRIBE / PSUBSCRIBE / PUNSUBSCRIBE / SSUBSCRIBE / SUNSUBSCRIBE
use resp::Args;

use super::ClientSubs;
use crate::command::Ctx;
use crate::error::CmdResult;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

fn subs<'a>(ctx: &'a mut Ctx<'_>) -> &'a mut ClientSubs {
    crate::pubsub::endpoint_of(ctx.shared, ctx.client);
    ClientSubs::of(ctx.client)
}

/// One confirmation: `[kind, name, subscriptions]` (a push in RESP3); also refreshes what
/// CLIENT LIST shows.
fn confirm(ctx: &mut Ctx<'_>, what: &str, name: Option<&[u8]>, count: usize) {
    if let Some(s) = &ctx.client.pubsub {
        let info = &ctx.client.info;
        info.sub
            .store(s.channels.len(), std::sync::atomic::Ordering::Relaxed);
        info.psub
            .store(s.patterns.len(), std::sync::atomic::Ordering::Relaxed);
    }
    ctx.out.push(3);
    ctx.out.bulk(what.as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

/// The subscriptions of `kind` and the count its confirmations report.
fn set_of(s: &mut ClientSubs, kind: Kind) -> &mut indexmap::IndexSet<Vec<u8>> {
    match kind {
        Kind::Channel => &mut s.channels,
        Kind::Pattern => &mut s.patterns,
        Kind::Shard => &mut s.shard_channels,
    }
}

fn count_of(s: &ClientSubs, kind: Kind) -> usize {
    match kind {
        Kind::Shard => s.shard_channels.len(),
        _ => s.count(),
    }
}

fn add(ctx: &mut Ctx<'_>, args: Args<'_>, kind: Kind) -> CmdResult {
    for name in args.tail(1).iter() {
        let shared = ctx.shared;
        let s = subs(ctx);
        if set_of(s, kind).insert(name.to_vec()) {
            match kind {
                Kind::Channel => shared.pubsub.subscribe(name, &s.subscriber),
                Kind::Pattern => shared.pubsub.psubscribe(name, &s.subscriber),
                Kind::Shard => shared.pubsub.ssubscribe(name, &s.subscriber),
            }
        }
        let count = count_of(s, kind);
        let what = match kind {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        };
        confirm(ctx, what, Some(name), count);
    }
    Ok(())
}

fn remove(ctx: &mut Ctx<'_>, args: Args<'_>, kind: Kind) -> CmdResult {
    let what = match kind {
        Kind::Channel => "unsubscribe",
        Kind::Pattern => "punsubscribe",
        Kind::Shard => "sunsubscribe",
    };
    let shared = ctx.shared;
    let s = subs(ctx);
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args.tail(1).iter().map(<[u8]>::to_vec).collect()
    } else {
        set_of(s, kind).iter().cloned().collect()
    };
    if names.is_empty() {
        let count = count_of(s, kind);
        confirm(ctx, what, None, count);
        return Ok(());
    }
    for name in names {
        let s = subs(ctx);
        if set_of(s, kind).shift_remove(&name) {
            match kind {
                Kind::Channel => shared.pubsub.unsubscribe(&name, &s.subscriber),
                Kind::Pattern => shared.pubsub.punsubscribe(&name, &s.subscriber),
                Kind::Shard => shared.pubsub.sunsubscribe(&name, &s.subscriber),
            }
        }
        let count = count_of(s, kind);
        confirm(ctx, what, Some(&name), count);
    }
    Ok(())
}

pub fn subscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    add(ctx, args, Kind::Channel)
}

pub fn psubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    add(ctx, args, Kind::Pattern)
}

pub fn unsubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    remove(ctx, args, Kind::Channel)
}

pub fn punsubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    remove(ctx, args, Kind::Pattern)
}

pub fn ssubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    add(ctx, args, Kind::Shard)
}

pub fn sunsubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    remove(ctx, args, Kind::Shard)
}
