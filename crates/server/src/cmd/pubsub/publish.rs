//! PUBLISH channel message / PUBSUB CHANNELS [pattern] / NUMSUB [channel ...] / NUMPAT
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

pub fn publish(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let limit = ctx.shared.live.output_limit("pubsub");
    let n = ctx.shared.pubsub.publish(
        args.get(1),
        args.get(2),
        limit,
        &ctx.shared.stats.client_output_buffer_limit_disconnections,
    );
    // A client publishing to its own subscription sees the message before the reply, as
    // with Redis, which writes it straight into the client's buffer.
    if let Some(subs) = ctx.client.pubsub.as_mut() {
        while let Ok(m) = subs.rx.try_recv() {
            subs.subscriber.taken(&m);
            m.encode(ctx.out);
        }
    }
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
        ],
    );
    Ok(())
}
