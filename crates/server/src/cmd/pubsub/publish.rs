//! PUBLISH / SPUBLISH channel message / PUBSUB CHANNELS | SHARDCHANNELS [pattern] /
//! NUMSUB | SHARDNUMSUB [channel ...] / NUMPAT
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn publish(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    send(ctx, args, false)
}

/// To a shard channel: its subscribers only (no patterns); in cluster mode the channel is
/// routed by its slot like a key.
pub fn spublish(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    send(ctx, args, true)
}

fn send(ctx: &mut Ctx<'_>, args: Args<'_>, shard: bool) -> CmdResult {
    let limit = ctx.shared.live.output_limit("pubsub");
    let over = &ctx.shared.stats.client_output_buffer_limit_disconnections;
    let n = if shard {
        ctx.shared
            .pubsub
            .spublish(args.get(1), args.get(2), limit, over)
    } else {
        ctx.shared
            .pubsub
            .publish(args.get(1), args.get(2), limit, over)
    };
    // A client publishing to its own subscription sees the message before the reply, as
    // with Redis, which writes it straight into the client's buffer.
    if let Some(subs) = ctx.client.pubsub.as_mut() {
        while let Ok(m) = subs.rx.try_recv() {
            subs.subscriber.taken(&m);
            m.encode(ctx.out);
        }
    }
    // Replicas deliver it to their own subscribers too, as Redis's do.
    let name: &[u8] = if shard { b"SPUBLISH" } else { b"PUBLISH" };
    crate::replication::log::rewrite_parts(&[name, args.get(1), args.get(2)]);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn channels(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let pattern = (args.len() > 2).then(|| args.get(2));
    let list = ctx.shared.pubsub.channels(pattern);
    ctx.out.array(list.len());
    list.iter().for_each(|c| ctx.out.bulk(c));
    Ok(())
}

pub fn numsub(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let names = args.tail(2);
    ctx.out.array(names.len() * 2);
    for c in names.iter() {
        ctx.out.bulk(c);
        ctx.out.int(ctx.shared.pubsub.numsub(c) as i64);
    }
    Ok(())
}

pub fn shardchannels(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let pattern = (args.len() > 2).then(|| args.get(2));
    let list = ctx.shared.pubsub.shard_channels(pattern);
    ctx.out.array(list.len());
    list.iter().for_each(|c| ctx.out.bulk(c));
    Ok(())
}

pub fn shardnumsub(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let names = args.tail(2);
    ctx.out.array(names.len() * 2);
    for c in names.iter() {
        ctx.out.bulk(c);
        ctx.out.int(ctx.shared.pubsub.shard_numsub(c) as i64);
    }
    Ok(())
}

pub fn numpat(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.pubsub.numpat() as i64);
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
