//! SETEX key seconds value / PSETEX key milliseconds value
use resp::Args;
use store::Ttl;

use crate::cmd::{expire_deadline, Unit};
use crate::command::Ctx;
use crate::error::CmdResult;

fn set_with_ttl(ctx: &mut Ctx<'_>, args: Args<'_>, unit: Unit, name: &'static str) -> CmdResult {
    let at = expire_deadline(args.get(2), unit, true, ctx.now, name)?;
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    ks.lock(h)
        .set_str(h, key, args.get(3), Ttl::At(at), ctx.now);
    crate::notify::event(ctx.shared, crate::notify::STRING, "set", key);
    crate::notify::event(ctx.shared, crate::notify::GENERIC, "expire", key);
    // Replicas get the absolute deadline (Redis 7.0 propagates SET ... PXAT).
    let at = at.to_string();
    crate::replication::log::rewrite_parts(&[b"SET", key, args.get(3), b"PXAT", at.as_bytes()]);
    ctx.out.ok();
    Ok(())
}

pub fn setex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    set_with_ttl(ctx, args, Unit::Seconds, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    set_with_ttl(ctx, args, Unit::Millis, "psetex")
}
