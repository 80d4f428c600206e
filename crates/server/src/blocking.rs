//! Clients blocked on lists (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH): who waits for which key, and
//! handing them data when it arrives.
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
use store::{Keyspace, List};
use tokio::sync::oneshot;

use crate::listops::{move_element, pop_one, End};

/// What a blocked client will do with its key once it has data.
#[derive(Debug, Clone)]
pub enum BlockOp {
    Pop(End),
    Move { from: End, to: End, dst: Vec<u8> },
}

/// What a blocked client is handed.
#[derive(Debug)]
pub enum Delivery {
    Popped { key: Vec<u8>, value: Vec<u8> },
    Moved(Vec<u8>),
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
}

impl Blocked {
    /// The reply when the timeout passes: a null array for the pops, a null for the moves.
    pub fn pops(&self) -> bool {
        matches!(self.waiter.op, BlockOp::Pop(_))
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

    /// Puts back an element handed to a client that went away before reading it.
    pub fn give_back(&self, ks: &Keyspace, w: &Waiter, delivery: Delivery, now: u64) {
        if let (Delivery::Popped { key, value }, BlockOp::Pop(end)) = (delivery, &w.op) {
            let h = ks.hash(&key);
            let _ = ks
                .lock(h)
                .modify::<List, _>(h, &key, now, true, |l| match end {
                    End::Left => l.push_front(&value),
                    End::Right => l.push_back(&value),
                });
            self.serve(ks, &key, now);
        }
    }

    /// Serves the clients blocked on `key` (called after a write to it), oldest first, as
    /// long as it has elements; a BLMOVE that pushes onto another key serves that one next.
    pub fn serve(&self, ks: &Keyspace, key: &[u8], now: u64) {
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
                let delivery = match &w.op {
                    BlockOp::Pop(end) => match pop_one(ks, &k, *end, now) {
                        Ok(Some(value)) => Delivery::Popped {
                            key: k.clone(),
                            value,
                        },
                        // Empty, absent or not a list: nobody else can be served from it.
                        _ => break,
                    },
                    BlockOp::Move { from, to, dst } => {
                        match move_element(ks, &k, dst, *from, *to, now) {
                            Ok(Some(value)) => {
                                ready.push(dst.clone());
                                Delivery::Moved(value)
                            }
                            Ok(None) => break,
                            // This waiter's destination holds another type: it stays
                            // blocked, as in Redis; the next waiter may still be served.
                            Err(_) => continue,
                        }
                    }
                };
                self.unregister(&mut map, &w);
                let tx =
                    w.tx.lock()
                        .take()
                        .expect("a registered waiter has its sender");
                if let Err(back) = tx.send(delivery) {
                    drop(map);
                    self.give_back(ks, &w, back, now);
                    map = self.by_key.lock();
                }
            }
        }
    }
}
