//! MULTI / EXEC / DISCARD
use resp::request::OwnedArgs;
use resp::Args;

use super::unwatch_all;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    /// (command index, arguments), in order.
    pub queued: Vec<(usize, OwnedArgs)>,
    /// A command was refused while queueing: EXEC will answer EXECABORT.
    pub dirty: bool,
}

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
