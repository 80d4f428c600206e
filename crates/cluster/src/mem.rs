//! The in-memory transport: every node of a test cluster in one process, by bus address,
//! with faults injected between them as TiKV's `transport_simulate` does — links cut, a
//! share of messages dropped, messages delayed, by direction and by message kind.
//!
//! A fault on the direction `a -> b` applies to the requests `a` sends to `b` and to the
//! replies `a` sends back for `b`'s requests (both travel `a -> b`). Delaying both
//! directions of a node's links behaves like a node that is frozen or behind a stalled
//! network: what it sends and what it is sent arrive late, and a reply can arrive long after
//! the question was asked.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::node::ClusterNode;
use crate::raft::{BoxFuture, BusRequest, BusResponse, LinkDown, RaftRequest, Transport};

/// The kinds of message a filter can single out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Append,
    Vote,
    Snapshot,
    ReadIndex,
    Hello,
    Join,
    Leave,
    Change,
    LeaderAcks,
}

impl Kind {
    pub fn of(request: &BusRequest) -> Kind {
        match request {
            BusRequest::Raft {
                request: RaftRequest::Append(_),
                ..
            } => Kind::Append,
            BusRequest::Raft {
                request: RaftRequest::Vote(_),
                ..
            } => Kind::Vote,
            BusRequest::Raft {
                request: RaftRequest::Snapshot(_),
                ..
            } => Kind::Snapshot,
            BusRequest::ReadIndex { .. } => Kind::ReadIndex,
            BusRequest::Hello => Kind::Hello,
            BusRequest::Join(_) => Kind::Join,
            BusRequest::Leave { .. } => Kind::Leave,
            BusRequest::Change(_) => Kind::Change,
            BusRequest::LeaderAcks => Kind::LeaderAcks,
        }
    }
}

/// What happens to a matching message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Lost with this probability (0.0 to 1.0); the sender sees the link down.
    Drop(f64),
    /// Delivered this much later.
    Delay(Duration),
}

/// A fault on the messages travelling `from -> to` (`None` = any node), of one kind or all.
#[derive(Debug, Clone)]
pub struct Filter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub kind: Option<Kind>,
    pub fault: Fault,
}

impl Filter {
    fn matches(&self, from: &str, to: &str, kind: Kind) -> bool {
        self.from.as_deref().is_none_or(|f| f == from)
            && self.to.as_deref().is_none_or(|t| t == to)
            && self.kind.is_none_or(|k| k == kind)
    }
}

/// Handle to remove a filter again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FilterId(u64);

#[derive(Clone, Default)]
pub struct MemTransport {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    nodes: BTreeMap<String, Arc<ClusterNode<MemTransport>>>,
    cut: HashSet<(String, String)>,
    filters: BTreeMap<FilterId, Filter>,
    next_filter: u64,
}

impl MemTransport {
    pub fn register(&self, node: Arc<ClusterNode<MemTransport>>) {
        let addr = node.bus_addr();
        self.lock().nodes.insert(addr, node);
    }

    /// Takes a node off the transport (it crashed or stopped).
    pub fn unregister(&self, addr: &str) {
        self.lock().nodes.remove(addr);
    }

    /// Cuts (or restores) both directions between bus addresses `a` and `b`.
    pub fn set_link(&self, a: &str, b: &str, up: bool) {
        let mut inner = self.lock();
        for (x, y) in [(a, b), (b, a)] {
            let pair = (x.to_string(), y.to_string());
            if up {
                inner.cut.remove(&pair);
            } else {
                inner.cut.insert(pair);
            }
        }
    }

    pub fn add_filter(&self, filter: Filter) -> FilterId {
        let mut inner = self.lock();
        let id = FilterId(inner.next_filter);
        inner.next_filter += 1;
        inner.filters.insert(id, filter);
        id
    }

    pub fn remove_filter(&self, id: FilterId) {
        self.lock().filters.remove(&id);
    }

    /// The same fault on everything `addr` sends and everything sent to it (a frozen or
    /// stalled node, when the fault is a delay; an isolated one, when it drops all).
    pub fn fault_node(&self, addr: &str, fault: Fault) -> [FilterId; 2] {
        [
            self.add_filter(Filter {
                from: Some(addr.to_string()),
                to: None,
                kind: None,
                fault,
            }),
            self.add_filter(Filter {
                from: None,
                to: Some(addr.to_string()),
                kind: None,
                fault,
            }),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().expect("transport lock")
    }

    /// What the filters do to one message `from -> to`: dropped, or delayed by the sum.
    fn faults(&self, from: &str, to: &str, kind: Kind) -> Result<Duration, ()> {
        let inner = self.lock();
        let mut delay = Duration::ZERO;
        for f in inner.filters.values().filter(|f| f.matches(from, to, kind)) {
            match f.fault {
                Fault::Drop(p) => {
                    if rand::thread_rng().gen_bool(p.clamp(0.0, 1.0)) {
                        return Err(());
                    }
                }
                Fault::Delay(d) => delay += d,
            }
        }
        Ok(delay)
    }
}

impl Transport for MemTransport {
    fn send(
        &self,
        from: &str,
        to: &str,
        request: BusRequest,
    ) -> BoxFuture<Result<BusResponse, LinkDown>> {
        let kind = Kind::of(&request);
        let target = {
            let inner = self.lock();
            if inner.cut.contains(&(from.to_string(), to.to_string())) {
                None
            } else {
                inner.nodes.get(to).cloned()
            }
        };
        let this = self.clone();
        let (from, to) = (from.to_string(), to.to_string());
        Box::pin(async move {
            let down = || LinkDown(to.clone());
            let node = target.ok_or_else(down)?;
            let there = this.faults(&from, &to, kind).map_err(|_| down())?;
            if !there.is_zero() {
                tokio::time::sleep(there).await;
            }
            let reply = node.handle(request).await;
            // The reply travels back `to -> from` and meets that direction's faults.
            let back = this.faults(&to, &from, kind).map_err(|_| down())?;
            if !back.is_zero() {
                tokio::time::sleep(back).await;
            }
            Ok(reply)
        })
    }
}
