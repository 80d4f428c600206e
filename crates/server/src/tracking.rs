//! Client-side caching (CLIENT TRACKING), as Redis 7.0's `tracking.c`: a client that turns
//! tracking on is told when keys it read change, so it can keep them in a local cache.
//!
//! - Default mode: the keys read-only commands read are remembered per client; the first
//!   change to such a key (a write, deletion, expiry, eviction — from the mutation seam)
//!   sends one `invalidate` message to each client that read it, and forgets them (they
//!   will be remembered again at their next read). OPTIN / OPTOUT narrow what is
//!   remembered to reads after `CLIENT CACHING yes` / not after `CLIENT CACHING no`.
//! - BCAST: nothing is remembered; every change to a key under one of the client's
//!   prefixes (or any key without prefixes) is sent — gathered, as Redis does before it
//!   sleeps: at the end of each batch of commands ([`Tracking::broadcast`]) a BCAST client
//!   gets one message per prefix with every key changed under it since the last time
//!   (MSET a b c: one message with three keys).
//! - The message goes to the client itself as a RESP3 push, or to the client named by
//!   REDIRECT (a RESP2 client receives it as a Pub/Sub message on `__redis__:invalidate`).
//!   NOLOOP leaves out changes the client made itself. FLUSHALL/FLUSHDB send one
//!   invalidation of everything (a null key list).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::pubsub::{Message, Subscriber};
use crate::Shared;

/// A client's tracking settings (CLIENT TRACKING on ...).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

/// A tracking client as the server side sees it.
pub struct Tracked {
    pub id: u64,
    pub options: Options,
    /// The client's own queue (for RESP3 pushes and `tracking-redir-broken`).
    own: Arc<Subscriber>,
    /// What CLIENT LIST shows of it (`redir`, flags t, B, R).
    info: Arc<crate::client::ClientInfo>,
}

#[derive(Default)]
pub struct Tracking {
    clients: RwLock<HashMap<u64, Arc<Tracked>>>,
    /// Default mode: key → clients that read it since its last invalidation.
    table: Mutex<HashMap<Box<[u8]>, HashSet<u64>>>,
    /// Entries of `table` (clients per key summed: INFO `tracking_total_items`).
    items: AtomicUsize,
    /// Keys in `table`, kept with it: read without the lock before every command (see
    /// [`Tracking::over_limit`]).
    keys: AtomicUsize,
    count: AtomicUsize,
    /// BCAST clients among `count` (changes are gathered only while there are some).
    bcast_count: AtomicUsize,
    /// Keys changed since the last broadcast, each with the client that changed it (for
    /// NOLOOP), in the order they changed.
    pending: Mutex<Vec<(Vec<u8>, u64)>>,
    /// `pending` may hold keys (read without its lock at the end of every batch).
    has_pending: std::sync::atomic::AtomicBool,
}

thread_local! {
    /// The client running a command on this thread (NOLOOP leaves its own changes out).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Records which client is running a command on this thread.
pub fn set_current(id: u64) {
    CURRENT.with(|c| c.set(id));
}

impl Tracking {
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn enable(
        &self,
        info: Arc<crate::client::ClientInfo>,
        options: Options,
        own: Arc<Subscriber>,
    ) {
        let id = info.id;
        info.tracking_redirect
            .store(options.redirect as i64, Ordering::Relaxed);
        info.tracking_bcast.store(options.bcast, Ordering::Relaxed);
        info.tracking_broken.store(false, Ordering::Relaxed);
        let t = Arc::new(Tracked {
            id,
            options,
            own,
            info,
        });
        let bcast = t.options.bcast;
        let mut clients = self.clients.write();
        match clients.insert(id, t) {
            None => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            Some(old) if old.options.bcast => {
                self.bcast_count.fetch_sub(1, Ordering::Relaxed);
            }
            Some(_) => {}
        }
        if bcast {
            self.bcast_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn disable(&self, id: u64) {
        if let Some(t) = self.clients.write().remove(&id) {
            if t.options.bcast {
                self.bcast_count.fetch_sub(1, Ordering::Relaxed);
            }
            t.info.tracking_redirect.store(-1, Ordering::Relaxed);
            t.info.tracking_bcast.store(false, Ordering::Relaxed);
            t.info.tracking_broken.store(false, Ordering::Relaxed);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// How many clients track (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether client `id`'s redirect target went away.
    pub fn broken(&self, id: u64) -> bool {
        self.get(id)
            .is_some_and(|t| t.info.tracking_broken.load(Ordering::Relaxed))
    }

    pub fn get(&self, id: u64) -> Option<Arc<Tracked>> {
        self.clients.read().get(&id).cloned()
    }

    /// Remembers that client `id` read `keys` (default mode).
    pub fn remember<'a>(&self, id: u64, keys: impl Iterator<Item = &'a [u8]>) {
        let mut table = self.table.lock();
        for k in keys {
            if table.entry(k.into()).or_default().insert(id) {
                self.items.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.keys.store(table.len(), Ordering::Relaxed);
    }

    /// Whether the table holds more than `max_keys` keys (0: no limit); no lock taken.
    pub fn over_limit(&self, max_keys: usize) -> bool {
        max_keys != 0 && self.keys.load(Ordering::Relaxed) > max_keys
    }

    /// `tracking-table-max-keys`: while the table holds more keys than `max_keys` (0: no
    /// limit), forgets some and tells their readers, as if the keys had changed — a client
    /// must not keep a value cached that the server no longer watches for it (Redis's
    /// trackingLimitUsedSlots). Bounded work per call, as Redis's: a big cut (CONFIG SET to
    /// a much lower limit) is finished by later calls (each tracked read, each housekeeping
    /// tick).
    pub fn enforce_limit(&self, shared: &Shared, max_keys: usize) {
        const MAX_PER_CALL: usize = 1000;
        if max_keys == 0 {
            return;
        }
        let dropped: Vec<(Box<[u8]>, HashSet<u64>)> = {
            let mut table = self.table.lock();
            if table.len() <= max_keys {
                return;
            }
            let over = (table.len() - max_keys).min(MAX_PER_CALL);
            // HashMap order is the hasher's: no key is favoured, as Redis's random walk.
            let keys: Vec<Box<[u8]>> = table.keys().take(over).cloned().collect();
            let dropped = keys
                .into_iter()
                .filter_map(|k| table.remove_entry(&k))
                .collect();
            self.keys.store(table.len(), Ordering::Relaxed);
            dropped
        };
        let clients = self.clients.read();
        for (key, readers) in dropped {
            self.items.fetch_sub(readers.len(), Ordering::Relaxed);
            let one: Arc<[Vec<u8>]> = Arc::from(vec![key.to_vec()]);
            for id in readers {
                match clients.get(&id) {
                    Some(t) if !t.options.bcast => self.send(shared, t, Some(one.clone())),
                    _ => {}
                }
            }
        }
    }

    /// INFO's tracking_total_keys, tracking_total_items, tracking_total_prefixes.
    pub fn totals(&self) -> (usize, usize, usize) {
        let keys = self.table.lock().len();
        let prefixes: HashSet<Vec<u8>> = self
            .clients
            .read()
            .values()
            .filter(|c| c.options.bcast)
            .flat_map(|c| {
                if c.options.prefixes.is_empty() {
                    vec![Vec::new()]
                } else {
                    c.options.prefixes.clone()
                }
            })
            .collect();
        (keys, self.items.load(Ordering::Relaxed), prefixes.len())
    }

    /// Sends an invalidation to `t` (at its redirect target when it has one).
    fn send(&self, shared: &Shared, t: &Tracked, keys: Option<Arc<[Vec<u8>]>>) {
        if t.options.redirect == 0 {
            t.own.send(Message::Invalidate(keys));
            return;
        }
        match shared.pubsub.endpoint(t.options.redirect) {
            Some(target) => target.send(Message::Invalidate(keys)),
            None => {
                t.info.tracking_broken.store(true, Ordering::Relaxed);
                t.own.send(Message::RedirectBroken(t.options.redirect));
            }
        }
    }

    /// A key changed: tell whoever read it (and BCAST clients whose prefixes match it).
    pub fn invalidate(&self, shared: &Shared, key: &[u8]) {
        let me = CURRENT.with(Cell::get);
        let readers = {
            let mut table = self.table.lock();
            let readers = table.remove(key);
            self.keys.store(table.len(), Ordering::Relaxed);
            readers
        };
        let clients = self.clients.read();
        let one: Arc<[Vec<u8>]> = Arc::from(vec![key.to_vec()]);
        if let Some(readers) = readers {
            self.items.fetch_sub(readers.len(), Ordering::Relaxed);
            for id in readers {
                let Some(t) = clients.get(&id) else { continue };
                if t.options.bcast || (t.options.noloop && id == me) {
                    continue;
                }
                self.send(shared, t, Some(one.clone()));
            }
        }
        if self.bcast_count.load(Ordering::Relaxed) > 0 {
            self.pending.lock().push((key.to_vec(), me));
            self.has_pending.store(true, Ordering::Release);
        }
    }

    /// Sends what BCAST clients are owed for the keys changed since the last call: to each,
    /// per prefix it registered (or once, for all keys, without prefixes), one message with
    /// the keys changed under it — less those it changed itself under NOLOOP. Redis's
    /// trackingBroadcastInvalidationMessages, run where Redis runs it, before sleeping: here
    /// at the end of each batch of commands and on the housekeeping tick.
    pub fn broadcast(&self, shared: &Shared) {
        if !self.has_pending.load(Ordering::Relaxed)
            || !self.has_pending.swap(false, Ordering::AcqRel)
        {
            return;
        }
        let changed = std::mem::take(&mut *self.pending.lock());
        let clients = self.clients.read();
        for t in clients.values().filter(|t| t.options.bcast) {
            // Prefixes and keys in byte order, as Redis walks its prefix and key trees.
            let mut prefixes = if t.options.prefixes.is_empty() {
                vec![Vec::new()]
            } else {
                t.options.prefixes.clone()
            };
            prefixes.sort();
            for prefix in &prefixes {
                let mut keys: Vec<Vec<u8>> = changed
                    .iter()
                    .filter(|(k, by)| k.starts_with(prefix) && !(t.options.noloop && *by == t.id))
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.sort();
                keys.dedup();
                if !keys.is_empty() {
                    self.send(shared, t, Some(Arc::from(keys)));
                }
            }
        }
    }

    /// FLUSHALL/FLUSHDB: every tracking client hears that everything changed.
    pub fn flush(&self, shared: &Shared) {
        {
            let mut table = self.table.lock();
            table.clear();
            self.items.store(0, Ordering::Relaxed);
            self.keys.store(0, Ordering::Relaxed);
        }
        for t in self.clients.read().values() {
            self.send(shared, t, None);
        }
    }
}

/// The seam's part: changes invalidate; a flush is announced by the command.
pub fn on_mutation(shared: &Shared, key: &[u8], what: store::Mutation) {
    use store::Mutation;
    match what {
        Mutation::Write | Mutation::Delete | Mutation::Expire | Mutation::Evict => {
            shared.tracking.invalidate(shared, key)
        }
        Mutation::Create | Mutation::Flush | Mutation::Miss => {}
    }
}
