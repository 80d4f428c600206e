//! EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX | XX | GT | LT]
use resp::Args;

use crate::cmd::{int_arg, is, Unit};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Default)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_flags(args: Args<'_>) -> Result<Flags, CmdError> {
    let mut f = Flags::default();
    for a in args.tail(3).iter() {
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// Redis's `expireGenericCommand`: flags are checked first, then the time (which may be
/// negative: a deadline in the past deletes the key), then the key and the conditions.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    unit: Unit,
    relative: bool,
    name: &'static str,
) -> CmdResult {
    let flags = parse_flags(args)?;
    let mut when = int_arg(args.get(2))?;
    if unit == Unit::Seconds {
        when = when
            .checked_mul(1000)
            .ok_or(CmdError::InvalidExpire(name))?;
    }
    if relative {
        when = when
            .checked_add(ctx.now as i64)
            .ok_or(CmdError::InvalidExpire(name))?;
    }
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get_mut(h, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at().map(|t| t as i64);
    let refuse = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        // No TTL counts as infinite: GT never wins against it, LT always does.
        || (flags.gt && current.is_none_or(|c| when <= c))
        || (flags.lt && current.is_some_and(|c| when >= c));
    if refuse {
        ctx.out.int(0);
        return Ok(());
    }
    // Replicas get the effect: a DEL, or the absolute deadline (as Redis 7.0).
    if when <= ctx.now as i64 {
        shard.remove(h, key, ctx.now);
        crate::replication::log::rewrite_parts(&[b"DEL", key]);
    } else {
        shard.set_expire(h, key, Some(when as u64), ctx.now);
        crate::notify::event(ctx.shared, crate::notify::GENERIC, "expire", key);
        let at = when.to_string();
        crate::replication::log::rewrite_parts(&[b"PEXPIREAT", key, at.as_bytes()]);
    }
    ctx.out.int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    expire_generic(ctx, args, Unit::Seconds, true, "expire")
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    expire_generic(ctx, args, Unit::Millis, true, "pexpire")
}

pub fn expireat(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    expire_generic(ctx, args, Unit::Seconds, false, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    expire_generic(ctx, args, Unit::Millis, false, "pexpireat")
}
