//! BLPOP / BRPOP key [key ...] timeout, BLMOVE source destination LEFT|RIGHT LEFT|RIGHT
//! timeout, BRPOPLPUSH source destination timeout.
//!
//! When data is there they behave as LPOP/RPOP/LMOVE. Otherwise the handler registers the
//! client with [`crate::blocking::Blocking`] and leaves `client.blocked` set; the connection
//! then waits (without holding up its worker) for a delivery, the timeout or a disconnect,
//! and writes the reply. Inside MULTI/EXEC they never block: an empty result is immediate.
use std::time::{Duration, Instant};

use resp::Args;

use super::lmove::move_element;
use super::{parse_end, pop_one, End};
use crate::blocking::BlockOp;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Redis 7.0's `getTimeoutFromObjectOrReply` for seconds: a long double, times 1000,
/// rounded up to whole milliseconds as a `long long`. Values too large for that wrap to a
/// negative number there, so Redis calls them negative, and so do we. `None` = forever.
fn parse_timeout(a: &[u8]) -> Result<Option<Instant>, CmdError> {
    let secs = store::float::parse_long_double_as_f64(a)
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((ms > 0.0).then(|| Instant::now() + Duration::from_millis(ms as u64)))
}

/// (key, element) of a pop.
type Popped = (Vec<u8>, Vec<u8>);

fn block_pop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) -> CmdResult {
    let deadline = parse_timeout(args.get(args.len() - 1))?;
    let keys = args.range(1, args.len() - 1);
    let (ks, now) = (&ctx.shared.keyspace, ctx.now);
    let try_now = || -> Result<Option<Popped>, CmdError> {
        for k in keys.iter() {
            if let Some(v) = pop_one(ks, k, end, now)? {
                return Ok(Some((k.to_vec(), v)));
            }
        }
        Ok(None)
    };
    let found = match try_now()? {
        Some(found) => Some(found),
        None if ctx.client.in_exec => None,
        None => {
            let owned: Vec<Vec<u8>> = keys.iter().map(<[u8]>::to_vec).collect();
            let registered = ctx
                .shared
                .blocking
                .block(owned, BlockOp::Pop(end), deadline, || try_now().transpose());
            match registered {
                Ok(result) => Some(result?),
                Err(blocked) => {
                    ctx.client.blocked = Some(blocked);
                    return Ok(());
                }
            }
        }
    };
    match found {
        Some((k, v)) => {
            ctx.out.array(2);
            ctx.out.bulk(&k);
            ctx.out.bulk(&v);
        }
        None => ctx.out.null_array(),
    }
    Ok(())
}

pub fn blpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    block_pop(ctx, args, End::Left)
}

pub fn brpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    block_pop(ctx, args, End::Right)
}

fn block_move(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    timeout: &[u8],
) -> CmdResult {
    let deadline = parse_timeout(timeout)?;
    let (ks, now) = (&ctx.shared.keyspace, ctx.now);
    let try_now = || move_element(ks, src, dst, from, to, now);
    let moved = match try_now()? {
        Some(v) => Some(v),
        None if ctx.client.in_exec => None,
        None => {
            let op = BlockOp::Move {
                from,
                to,
                dst: dst.to_vec(),
            };
            match ctx
                .shared
                .blocking
                .block(vec![src.to_vec()], op, deadline, || try_now().transpose())
            {
                Ok(result) => Some(result?),
                Err(blocked) => {
                    ctx.client.blocked = Some(blocked);
                    return Ok(());
                }
            }
        }
    };
    match moved {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn blmove(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (from, to) = (parse_end(args.get(3))?, parse_end(args.get(4))?);
    block_move(ctx, args.get(1), args.get(2), from, to, args.get(5))
}

pub fn brpoplpush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    block_move(
        ctx,
        args.get(1),
        args.get(2),
        End::Right,
        End::Left,
        args.get(3),
    )
}
