//! MULTI / EXEC / DISCARD
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::transaction::{unwatch_all, Multi};

pub fn multi(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client
        .info
        .multi
        .store(0, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// Reached only outside MULTI: inside, the dispatcher runs the transaction.
pub fn exec(_ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    Err(CmdError::err("EXEC without MULTI"))
}

pub fn discard(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client
        .info
        .multi
        .store(-1, std::sync::atomic::Ordering::Relaxed);
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}
