//! BLPOP / BRPOP key [key ...] timeout, BLMOVE source destination LEFT|RIGHT LEFT|RIGHT
//! timeout, BRPOPLPUSH source destination timeout.
//!
//! When data is there they behave as LPOP/RPOP/LMOVE. Otherwise the handler registers the
//! client with [`crate::blocking::Blocking`] and leaves `client.blocked` set; the connection
//! then waits (without holding up its worker) for a delivery, the timeout or a disconnect,
//! and writes the reply. Inside MULTI/EXEC they never block: an empty result is immediate.
use resp::Args;

use super::lmove::move_element;
use super::{parse_end, End};
use crate::blocking::BlockOp;
use crate::cmd::blocking_pop::{parse_timeout, pop_or_block};
use crate::command::Ctx;
use crate::error::CmdResult;

fn block_pop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) -> CmdResult {
    let deadline = parse_timeout(args.get(args.len() - 1))?;
    let keys = (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect();
    pop_or_block(ctx, keys, BlockOp::Pop(end), Some(deadline))
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
        Some(v) => {
            super::lmove::moved_events(ctx.shared, src, dst, from, to);
            // Replicas move the element without blocking (Redis propagates LMOVE).
            let (f, t) = (end_word(from), end_word(to));
            crate::replication::log::rewrite_parts(&[b"LMOVE", src, dst, f, t]);
            ctx.out.bulk(&v)
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn end_word(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LEFT",
        End::Right => b"RIGHT",
    }
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
