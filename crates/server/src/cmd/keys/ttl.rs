//! TTL / PTTL / EXPIRETIME / PEXPIRETIME key
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// -2 when the key does not exist, -1 when it has no TTL; otherwise the remaining time
/// or the absolute deadline, rounded to the nearest second where seconds are asked for.
fn ttl_generic(ctx: &mut Ctx<'_>, args: Args<'_>, millis: bool, absolute: bool) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let reply = match ks.lock(h).peek(h, key, ctx.now) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let ms = if absolute {
                    at as i64
                } else {
                    (at as i64 - ctx.now as i64).max(0)
                };
                // Seconds are rounded to the nearest, for deadlines too (Redis's
                // `ttlGenericCommand`: `(ttl+500)/1000`).
                if millis {
                    ms
                } else {
                    // Wide enough for a deadline near i64::MAX (PEXPIREAT k 9223372036854775807
                    // answers EXPIRETIME 9223372036854776 in Redis, not an overflow).
                    ((i128::from(ms) + 500) / 1000) as i64
                }
            }
        },
    };
    ctx.out.int(reply);
    Ok(())
}

pub fn ttl(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

pub fn pttl(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

pub fn expiretime(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}
