//! RESET
use std::sync::atomic::Ordering;

use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;
use crate::ReplyMode;

/// Returns the connection to its initial state: no transaction, watched keys,
/// subscriptions or tracking, RESP2, no
/// name, replies on, and
/// the default user, unauthenticated again when it needs a password.
pub fn reset(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let client = &mut *ctx.client;
    client.multi = None;
    client.info.multi.store(-1, Ordering::Relaxed);
    crate::cmd::transactions::unwatch_all(ctx.shared, client);
    crate::cmd::pubsub::unsubscribe_all(ctx.shared, client);
    if client.tracking.take().is_some() {
        ctx.shared.tracking.disable(client.info.id);
    }
    client.caching = None;
    ctx.out.set_resp3(false);
    client.info.resp.store(2, Ordering::Relaxed);
    client.info.name.write().clear();
    client.reply_mode = ReplyMode::On;
    client.info.no_evict.store(false, Ordering::Relaxed);
    client.info.no_touch.store(false, Ordering::Relaxed);
    // Back to the default user, authenticated only if it needs no password.
    crate::users::become_user(ctx.shared, client, b"default");
    client.authenticated = !ctx.shared.users.auth_required();
    client
        .info
        .authenticated
        .store(client.authenticated, Ordering::Relaxed);
    ctx.out.simple("RESET");
    Ok(())
}
