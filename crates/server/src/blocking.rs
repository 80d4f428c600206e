//! Clients blocked on lists and sorted sets (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
//! BZPOPMIN, BZPOPMAX, BZMPOP): who waits for which key, and handing them data when it
//! arrives.
//!
//! Semantics follow Redis: waiters on a key are served first-come first-served; a client is
//! served by the command that made its key non-empty, before that command's client runs its
//! next command (so the element is never observable in between); a blocked client that
//! times out or disconnects is removed without losing an element.
//!
//! Concurrency: one registry mutex, taken only when some client is blocked (an atomic count
//! is checked first, so writes pay nothing otherwise). Lock order is registry, then keyspace
//! shards: a blocking command re-checks its keys under the registry lock before it registers
//! (no wake-up is lost between its first try and its registration), and a delivery pops and
//! sends under it (so a timing-out waiter either is still registered and removes itself, or
//! has already been handed its element).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use resp::ReplyWriter;
use store::{Keyspace, List, ZSet};
use tokio::sync::oneshot;

use crate::error::CmdError;
use crate::listops::{move_element, pop_many, pop_one, End};
use crate::zsetpop::pop_scored;

/// What a blocked client will do with its key once it has data.
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// BLPOP, BRPOP.
    Pop(End),
    /// BLMPOP.
    PopMany { end: End, count: usize },
    /// BZPOPMIN / BZPOPMAX (`count` None), BZMPOP.
    ZPop { max: bool, count: Option<usize> },
    /// BLMOVE, BRPOPLPUSH.
    Move { from: End, to: End, dst: Vec<u8> },
    /// XREAD, XREADGROUP with BLOCK.
    Stream(Box<crate::cmd::streams::StreamWait>),
}

/// What a blocked client is handed.
#[derive(Debug)]
pub enum Delivery {
    Popped {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    PoppedMany {
        key: Vec<u8>,
        values: Vec<Vec<u8>>,
    },
    ZPopped {
        key: Vec<u8>,
        items: Vec<(Vec<u8>, f64)>,
        /// BZMPOP's nested reply rather than BZPOPMIN's flat one.
        nested: bool,
    },
    Moved(Vec<u8>),
    /// XREAD / XREADGROUP: one stream's new entries, and what serving them did (commands for
    /// replicas, a consumer created).
    Stream {
        key: Vec<u8>,
        items: crate::cmd::streams::xread::Served,
        effects: crate::cmd::streams::xread::ReadEffects,
    },
    /// The wait ends with this error: the slot of a key it waited on is no longer served
    /// here (`-MOVED slot host:port`, as Redis redirects a blocked client, which retries
    /// there), or a BLMOVE's destination holds another type (`-WRONGTYPE`).
    Redirected(String),
}

impl Delivery {
    /// The reply, as the command that blocked would have given it at once.
    pub fn write(&self, out: &mut ReplyWriter) {
        match self {
            Delivery::Popped { key, value } => {
                out.array(2);
                out.bulk(key);
                out.bulk(value);
            }
            Delivery::PoppedMany { key, values } => {
                out.array(2);
                out.bulk(key);
                out.array(values.len());
                values.iter().for_each(|v| out.bulk(v));
            }
            Delivery::ZPopped {
                key,
                items,
                nested: false,
            } => {
                out.array(1 + 2 * items.len());
                out.bulk(key);
                for (m, s) in items {
                    out.bulk(m);
                    out.double(*s);
                }
            }
            Delivery::ZPopped { key, items, .. } => {
                out.array(2);
                out.bulk(key);
                out.array(items.len());
                for (m, s) in items {
                    out.array(2);
                    out.bulk(m);
                    out.double(*s);
                }
            }
            Delivery::Moved(value) => out.bulk(value),
            Delivery::Stream { key, items, .. } => {
                crate::cmd::streams::xread::write_reply(out, &[(key.clone(), items.clone())])
            }
            Delivery::Redirected(error) => out.error(error),
        }
    }
}

fn end_word(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LEFT",
        End::Right => b"RIGHT",
    }
}

/// What a delivery did to the keyspace, as the command replicas apply (Redis propagates a
/// served BLPOP as LPOP, BLMOVE as LMOVE, BZPOPMIN as ZPOPMIN, the MPOPs with a count).
pub fn effect(op: &BlockOp, src: &[u8], delivery: &Delivery) -> Vec<Vec<u8>> {
    let pop = |end: End| -> &'static [u8] {
        match end {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        }
    };
    match (op, delivery) {
        (BlockOp::Pop(end), _) => vec![pop(*end).to_vec(), src.to_vec()],
        (BlockOp::PopMany { end, .. }, Delivery::PoppedMany { values, .. }) => vec![
            pop(*end).to_vec(),
            src.to_vec(),
            values.len().to_string().into_bytes(),
        ],
        (BlockOp::ZPop { max, .. }, Delivery::ZPopped { items, .. }) => vec![
            if *max {
                b"ZPOPMAX".to_vec()
            } else {
                b"ZPOPMIN".to_vec()
            },
            src.to_vec(),
            items.len().to_string().into_bytes(),
        ],
        (BlockOp::Stream(_), _) => Vec::new(),
        (BlockOp::Move { from, to, dst }, _) => vec![
            b"LMOVE".to_vec(),
            src.to_vec(),
            dst.clone(),
            end_word(*from).to_vec(),
            end_word(*to).to_vec(),
        ],
        _ => Vec::new(),
    }
}

/// The keyspace event of a pop by `op` from `key` (LPOP, RPOP, ZPOPMIN, ZPOPMAX; a move's
/// events are its command's).
pub fn notify_popped(shared: &crate::Shared, op: &BlockOp, key: &[u8]) {
    use crate::notify::{event, LIST, ZSET};
    match op {
        BlockOp::Pop(End::Left) | BlockOp::PopMany { end: End::Left, .. } => {
            event(shared, LIST, "lpop", key)
        }
        BlockOp::Pop(End::Right)
        | BlockOp::PopMany {
            end: End::Right, ..
        } => event(shared, LIST, "rpop", key),
        BlockOp::ZPop { max: false, .. } => event(shared, ZSET, "zpopmin", key),
        BlockOp::ZPop { max: true, .. } => event(shared, ZSET, "zpopmax", key),
        BlockOp::Stream(_) => {}
        BlockOp::Move { from, to, dst } => {
            let push = if *to == End::Left { "lpush" } else { "rpush" };
            let pop = if *from == End::Left { "lpop" } else { "rpop" };
            event(shared, LIST, push, dst);
            event(shared, LIST, pop, key);
        }
    }
}

/// What [`Blocking::give_back`] does to the keyspace, as a command for replicas.
fn give_back_effect(op: &BlockOp, delivery: &Delivery) -> Vec<Vec<u8>> {
    let push = |end: End| -> Vec<u8> {
        match end {
            End::Left => b"LPUSH".to_vec(),
            End::Right => b"RPUSH".to_vec(),
        }
    };
    match (delivery, op) {
        (Delivery::Popped { key, value }, BlockOp::Pop(end)) => {
            vec![push(*end), key.clone(), value.clone()]
        }
        (Delivery::PoppedMany { key, values }, BlockOp::PopMany { end, .. }) => {
            let mut v = vec![push(*end), key.clone()];
            v.extend(values.iter().rev().cloned());
            v
        }
        (Delivery::ZPopped { key, items, .. }, _) => {
            let mut v = vec![b"ZADD".to_vec(), key.clone()];
            for (m, s) in items {
                v.push(s.to_string().into_bytes());
                v.push(m.clone());
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Runs `op` on `key` now: its delivery, `None` when the key is absent (or, for a move, the
/// source is), or WRONGTYPE.
pub fn attempt(
    ks: &Keyspace,
    key: &[u8],
    op: &BlockOp,
    now: u64,
) -> Result<Option<Delivery>, CmdError> {
    let key_owned = || key.to_vec();
    Ok(match op {
        BlockOp::Pop(end) => pop_one(ks, key, *end, now)?.map(|value| Delivery::Popped {
            key: key_owned(),
            value,
        }),
        BlockOp::PopMany { end, count } => {
            pop_many(ks, key, *end, *count, now)?.map(|values| Delivery::PoppedMany {
                key: key_owned(),
                values,
            })
        }
        BlockOp::ZPop { max, count } => {
            pop_scored(ks, key, *max, count.unwrap_or(1), now)?.map(|items| Delivery::ZPopped {
                key: key_owned(),
                items,
                nested: count.is_some(),
            })
        }
        BlockOp::Move { from, to, dst } => {
            move_element(ks, key, dst, *from, *to, now)?.map(Delivery::Moved)
        }
        BlockOp::Stream(wait) => crate::cmd::streams::serve_blocked(ks, key, wait, now)?,
    })
}

#[derive(Debug)]
pub struct Waiter {
    keys: Vec<Vec<u8>>,
    op: BlockOp,
    tx: Mutex<Option<oneshot::Sender<Delivery>>>,
}

/// A connection's blocked command, awaited by the connection task.
#[derive(Debug)]
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    pub rx: oneshot::Receiver<Delivery>,
    pub deadline: Option<Instant>,
    /// The command as SLOWLOG will show it if it is served: Redis logs a blocking command
    /// when it is served (with the time it ran, not the time it waited), never when it
    /// blocks or times out.
    pub slowlog: Option<Box<crate::slowlog::SlowEntry>>,
    /// The blocked command's index in the command table: a wait that ends in an error
    /// counts as a failed call of it (commandstats' `failed_calls`).
    pub command: Option<usize>,
}

/// A client held back by CLIENT PAUSE (see [`Blocking::postponed`]).
pub struct Postponed<'a> {
    blocking: &'a Blocking,
    info: &'a crate::client::ClientInfo,
}

impl Drop for Postponed<'_> {
    fn drop(&mut self) {
        self.blocking.waiting.fetch_sub(1, Ordering::Relaxed);
        self.info.blocked.store(false, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct Blocking {
    waiting: AtomicUsize,
    by_key: Mutex<HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>>,
}

impl Blocking {
    /// Clients blocked right now (INFO's `blocked_clients`).
    pub fn count(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Counts a client held back by CLIENT PAUSE as blocked until the guard drops (Redis's
    /// BLOCKED_POSTPONE: `blocked_clients` and the `b` flag include it).
    pub fn postponed<'a>(&'a self, info: &'a crate::client::ClientInfo) -> Postponed<'a> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        info.blocked.store(true, Ordering::Relaxed);
        Postponed {
            blocking: self,
            info,
        }
    }

    /// Registers a waiter on `keys`, unless `ready` (run under the registry lock) finds data
    /// now, in which case its result is returned instead.
    pub fn block<T>(
        &self,
        keys: Vec<Vec<u8>>,
        op: BlockOp,
        deadline: Option<Instant>,
        ready: impl FnOnce() -> Option<T>,
    ) -> Result<T, Blocked> {
        let mut map = self.by_key.lock();
        if let Some(found) = ready() {
            return Ok(found);
        }
        let (tx, rx) = oneshot::channel();
        let mut unique = keys;
        unique.dedup();
        let waiter = Arc::new(Waiter {
            keys: unique,
            op,
            tx: Mutex::new(Some(tx)),
        });
        for k in &waiter.keys {
            map.entry(k.clone()).or_default().push_back(waiter.clone());
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Err(Blocked {
            waiter,
            rx,
            deadline,
            slowlog: None,
            command: None,
        })
    }

    fn unregister(&self, map: &mut HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>, w: &Arc<Waiter>) {
        let mut found = false;
        for k in &w.keys {
            if let Some(q) = map.get_mut(k) {
                let before = q.len();
                q.retain(|x| !Arc::ptr_eq(x, w));
                found |= q.len() != before;
                if q.is_empty() {
                    map.remove(k);
                }
            }
        }
        if found {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes a waiter (timeout, disconnect). False when it was already served: its
    /// delivery is then in its channel.
    pub fn cancel(&self, w: &Arc<Waiter>) -> bool {
        let mut map = self.by_key.lock();
        let registered = w.keys.iter().any(|k| {
            map.get(k)
                .is_some_and(|q| q.iter().any(|x| Arc::ptr_eq(x, w)))
        });
        if registered {
            self.unregister(&mut map, w);
        }
        registered
    }

    /// Puts back what was handed to a client that went away before reading it.
    pub fn give_back(&self, shared: &crate::Shared, w: &Waiter, delivery: Delivery, now: u64) {
        let ks = &shared.keyspace;
        if crate::replication::log::capturing() {
            crate::replication::log::also(give_back_effect(&w.op, &delivery));
        }
        let key = match (delivery, &w.op) {
            (Delivery::Popped { key, value }, BlockOp::Pop(end)) => {
                push_back(ks, &key, *end, std::iter::once(value), now);
                key
            }
            (Delivery::PoppedMany { key, values }, BlockOp::PopMany { end, .. }) => {
                push_back(ks, &key, *end, values.into_iter().rev(), now);
                key
            }
            (Delivery::ZPopped { key, items, .. }, _) => {
                let h = ks.hash(&key);
                let _ = ks.lock(h).modify::<ZSet, _>(h, &key, now, true, |z| {
                    for (m, s) in &items {
                        z.insert(m, *s);
                    }
                });
                key
            }
            _ => return,
        };
        self.serve(shared, &key, now);
    }

    /// Ends the blocked commands waiting on a key for which `redirect` answers an error (its
    /// slot moved away): each client gets that error instead of a reply.
    pub fn redirect(&self, redirect: impl Fn(&[u8]) -> Option<String>) {
        if self.count() == 0 {
            return;
        }
        let mut map = self.by_key.lock();
        let mut ended: Vec<(Arc<Waiter>, String)> = Vec::new();
        for (key, queue) in map.iter() {
            if let Some(error) = redirect(key) {
                for w in queue {
                    if !ended.iter().any(|(e, _)| Arc::ptr_eq(e, w)) {
                        ended.push((w.clone(), error.clone()));
                    }
                }
            }
        }
        for (w, error) in ended {
            self.unregister(&mut map, &w);
            if let Some(tx) = w.tx.lock().take() {
                let _ = tx.send(Delivery::Redirected(error));
            }
        }
    }

    /// Every key some client waits on (FLUSHALL ends the waits that need their key: a
    /// group read on a stream that is gone).
    pub fn blocked_keys(&self) -> Vec<Vec<u8>> {
        if self.count() == 0 {
            return Vec::new();
        }
        self.by_key.lock().keys().cloned().collect()
    }

    /// Serves the clients blocked on `key` (called after a write to it), oldest first, as
    /// long as it has elements; a BLMOVE that pushes onto another key serves that one next.
    pub fn serve(&self, shared: &crate::Shared, key: &[u8], now: u64) {
        let ks = &shared.keyspace;
        if self.count() == 0 {
            return;
        }
        let mut map = self.by_key.lock();
        let mut ready = vec![key.to_vec()];
        while let Some(k) = ready.pop() {
            let Some(queue) = map.get(&k) else {
                continue;
            };
            let waiters: Vec<Arc<Waiter>> = queue.iter().cloned().collect();
            for w in waiters {
                let gone = w.tx.lock().as_ref().is_none_or(|tx| tx.is_closed());
                if gone {
                    self.unregister(&mut map, &w);
                    continue;
                }
                let delivery = match (attempt(ks, &k, &w.op, now), &w.op) {
                    (Ok(Some(d)), BlockOp::Move { dst, .. }) => {
                        ready.push(dst.clone());
                        d
                    }
                    (Ok(Some(d)), _) => d,
                    // This waiter's destination holds another type: it is answered WRONGTYPE
                    // and unblocked, the element stays where it was (Redis 7.0's
                    // serveClientBlockedOnList), and the next waiter may still be served.
                    (Err(e), BlockOp::Move { .. }) => {
                        self.unregister(&mut map, &w);
                        if let Some(tx) = w.tx.lock().take() {
                            let _ = tx.send(Delivery::Redirected(e.to_string()));
                        }
                        continue;
                    }
                    // A stream reader waits for entries past its own ID (or its group's):
                    // the next one may still be served.
                    (_, BlockOp::Stream(_)) => continue,
                    // Empty, absent or of another type: nobody else can be served from it.
                    _ => break,
                };
                self.unregister(&mut map, &w);
                if let Delivery::Stream { effects, .. } = &delivery {
                    for argv in &effects.propagate {
                        crate::replication::log::also(argv.clone());
                    }
                    if effects.created_consumer {
                        crate::notify::event(
                            shared,
                            crate::notify::STREAM,
                            "xgroup-createconsumer",
                            &k,
                        );
                    }
                } else if crate::replication::log::capturing() {
                    crate::replication::log::also(effect(&w.op, &k, &delivery));
                }
                notify_popped(shared, &w.op, &k);
                let tx =
                    w.tx.lock()
                        .take()
                        .expect("a registered waiter has its sender");
                if let Err(back) = tx.send(delivery) {
                    drop(map);
                    self.give_back(shared, &w, back, now);
                    map = self.by_key.lock();
                }
            }
        }
    }
}

/// Pushes `values` back onto `end` of the list at `key`, in order.
fn push_back(ks: &Keyspace, key: &[u8], end: End, values: impl Iterator<Item = Vec<u8>>, now: u64) {
    let h = ks.hash(key);
    let _ = ks.lock(h).modify::<List, _>(h, key, now, true, |l| {
        for v in values {
            match end {
                End::Left => l.push_front(&v),
                End::Right => l.push_back(&v),
            }
        }
    });
}
