//! Transaction state of a connection: the commands MULTI queued, and the keys WATCH
//! watches. The commands are in `cmd/transactions`; dispatch and the connection use this.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use resp::request::OwnedArgs;
use store::WatchFlag;

use crate::{ClientState, Shared};

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    /// (command index, arguments), in order.
    pub queued: Vec<(usize, OwnedArgs)>,
    /// A command was refused while queueing: EXEC will answer EXECABORT.
    pub dirty: bool,
}

/// What a client watches: its flag (raised by the keyspace when a watched key changes)
/// and the keys, with whether each existed when watched.
#[derive(Debug, Default)]
pub struct Watching {
    pub flag: WatchFlag,
    pub keys: Vec<(Vec<u8>, bool)>,
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
