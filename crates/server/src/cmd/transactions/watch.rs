//! WATCH key [key ...] / UNWATCH
use std::sync::atomic::Ordering;
use std::sync::Arc;

use resp::Args;
use store::WatchFlag;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::{ClientState, Shared};

/// What a client watches: its flag (raised by the keyspace when a watched key changes)
/// and the keys, with whether each existed when watched.
#[derive(Debug, Default)]
pub struct Watching {
    pub flag: WatchFlag,
    pub keys: Vec<(Vec<u8>, bool)>,
}

pub fn watch(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let watching = ctx.client.watching.get_or_insert_with(Default::default);
    let ks = &ctx.shared.keyspace;
    for key in args.tail(1).iter() {
        if watching.keys.iter().any(|(k, _)| k == key) {
            continue;
        }
        let h = ks.hash(key);
        let mut shard = ks.lock(h);
        let exists = shard.peek(h, key, ctx.now).is_some();
        shard.watch(key, &watching.flag);
        watching.keys.push((key.to_vec(), exists));
    }
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Forgets every watched key (UNWATCH, EXEC, DISCARD, RESET, disconnect).
pub fn unwatch_all(shared: &Shared, client: &mut ClientState) {
    let Some(watching) = client.watching.take() else {
        return;
    };
    let ks = &shared.keyspace;
    for (key, _) in &watching.keys {
        let h = ks.hash(key);
        ks.lock(h).unwatch(key, &watching.flag);
    }
}

/// Whether EXEC must abort: a watched key changed, or one that existed when watched has
/// expired since (even if nothing has reclaimed it yet: looking it up does, and raises the
/// flag).
pub fn watch_broken(shared: &Shared, watching: &Watching, now: u64) -> bool {
    let ks = &shared.keyspace;
    for (key, existed) in &watching.keys {
        if *existed {
            let h = ks.hash(key);
            ks.lock(h).peek(h, key, now);
        }
    }
    Arc::clone(&watching.flag).load(Ordering::Acquire)
}
