//! FLUSHDB [ASYNC | SYNC] / FLUSHALL [ASYNC | SYNC]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Empties the keyspace (there is one database). ASYNC frees the old contents on a
/// background thread, so the command returns at once even with millions of keys.
fn flush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let asynchronous = match args.len() {
        1 => false,
        2 if is(args.get(1), "async") => true,
        2 if is(args.get(1), "sync") => false,
        _ => return Err(CmdError::Syntax),
    };
    let keys = ctx.shared.keyspace.len() as u64;
    let old = ctx.shared.keyspace.flush();
    // The tracking table is emptied even when nobody tracks now (Redis reclaims it on every
    // FLUSHALL): entries left by clients that stopped would otherwise outlive the data.
    ctx.shared.tracking.flush(ctx.shared);
    // Stream group readers blocked on a key that is gone are told so (Redis's
    // scanDatabaseForDeletedStreams); list and sorted-set waiters keep waiting.
    for key in ctx.shared.blocking.blocked_keys() {
        if ctx.client.in_exec {
            ctx.client.ready_keys.push(key);
        } else {
            ctx.shared.blocking.serve(ctx.shared, &key, ctx.now);
        }
    }
    if asynchronous {
        crate::cmd::keys::del::lazy_free_counted(ctx.shared, keys, old);
    } else {
        drop(old);
    }
    ctx.out.ok();
    Ok(())
}

pub fn flushdb(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    flush(ctx, args)
}

pub fn flushall(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    flush(ctx, args)
}
