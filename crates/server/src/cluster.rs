//! The node's view of its cluster: who it is and the topology it serves from. The cluster
//! layer (Raft, wired in by the binary) replaces the topology when the cluster agrees on a
//! change and renews the serving lease; a node started with `--cluster-enabled` outside the
//! binary (tests) bootstraps a cluster of one with no lease to keep.
//!
//! Invariants, so that no slot is ever served by two nodes:
//! - a node serves nothing once its lease has run out (it lost the Raft majority);
//! - slots a node gains are served only once the lease of their previous owner must have
//!   run out (`GRACE` after the change): keyed commands for them wait that long first;
//! - a slot that moves with its keys (`Topology::moves`) is served by its source until the
//!   source has copied it and stopped serving it ([`ClusterState::begin_switch`]); the switch
//!   is one Raft entry, after which the target serves it at once (`Topology::switched`);
//! - keys of slots a node lost are dropped in the background (a forced removal's slots
//!   start cold on their new owners).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use placement::planner::ShardId;
use placement::slot::SLOTS;
use placement::topology::{Node, Topology};
use rand::Rng;

/// A boxed future a cluster operation answers with.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Membership operations the cluster layer offers to commands (CLUSTER MEET / FORGET).
/// The server does not depend on the cluster crate; the binary implements this.
pub trait Control: Send + Sync {
    /// Adds the node whose bus listens at `host:bus_port`; answers its id.
    fn meet(&self, host: String, bus_port: u16) -> BoxFuture<Result<String, String>>;
    /// Removes the node with this id from the cluster.
    fn forget(&self, id: String) -> BoxFuture<Result<(), String>>;
    /// Makes the replica `id` the primary of its shard (CLUSTER FAILOVER's last step).
    fn failover(&self, id: String) -> BoxFuture<Result<(), String>>;
    /// Makes the replica `id` a replica of the primary `of` (CLUSTER REPLICATE).
    fn replicate(&self, id: String, of: String) -> BoxFuture<Result<(), String>>;
    /// Agrees a change of the slots' placement (moves, their commit or cancellation).
    fn slots(&self, change: SlotChange) -> BoxFuture<Result<(), String>>;
}

/// A change of where slots live, agreed by the cluster (the cluster crate's `Change`s of
/// the same names: see there for their rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    /// Move these slots, with their keys, to the primary `to` (a node id).
    Move { slots: Vec<u16>, to: String },
    /// Move what differs from the planner's balanced table.
    Rebalance,
    /// Move every slot of node `id` away, then remove it.
    Drain { id: String },
    /// The source has copied these slots to shard `to` and stopped serving them: switch.
    Commit { slots: Vec<u16>, to: ShardId },
    /// Cancel pending moves (these slots, or all).
    Cancel { slots: Option<Vec<u16>> },
    /// Pause or resume every pending move.
    Pause { paused: bool },
}

pub struct ClusterState {
    pub myid: String,
    myshard: AtomicU64,
    pub host: String,
    pub port: u16,
    pub bus_port: u16,
    /// `None`: no agreed topology (the node answers CLUSTERDOWN).
    view: RwLock<Option<Arc<Topology>>>,
    /// Milliseconds after `base` until which this node may serve; `u64::MAX` = no lease
    /// needed (a standalone cluster of one).
    lease_until: AtomicU64,
    base: Instant,
    /// Slots gained at the last change and when they may be served.
    grace: RwLock<Option<(Instant, Vec<bool>)>>,
    /// Slots lost and not yet emptied of their keys.
    lost: Mutex<Vec<u16>>,
    control: OnceLock<Arc<dyn Control>>,
    /// Members this node cannot reach right now, with when it first could not (a local
    /// observation; the cluster layer probes them).
    unreachable: RwLock<HashMap<String, Instant>>,
    /// The node id of the Raft leader, as this node knows it.
    leader: RwLock<Option<String>>,
    /// Woken when this node's role (primary, or replica of which node) may have changed.
    pub role_changed: tokio::sync::Notify,
    /// This node's replication offset (set by the server that holds the data).
    offset: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
    /// Replica migration's switch and barrier from this node's configuration (see
    /// [`Self::replica_migration`]).
    migration_policy: OnceLock<Box<dyn Fn() -> Option<usize> + Send + Sync>>,
    /// The other members' replication offsets as last probed (CLUSTER SHARDS).
    offsets: RwLock<HashMap<String, u64>>,
    /// Slots this node's migration has stopped serving while their switch is agreed, with
    /// when it stopped (`switching_count`: how many, so the common path reads one atomic).
    switching: RwLock<HashMap<u16, Instant>>,
    switching_count: std::sync::atomic::AtomicUsize,
    /// `--allow-cross-slot same-node`: a command whose keys span slots runs when this node
    /// serves every one of them (it is atomic here: one keyspace); else CROSSSLOT as Redis.
    cross_slot_same_node: std::sync::atomic::AtomicBool,
    /// This node is no longer a member (removed while away, or its last topology does not
    /// list it): it serves nothing, and redirects to the owners it last knew.
    removed: std::sync::atomic::AtomicBool,
}

/// How long one command on a switching slot waits for the switch before it is answered
/// `-TRYAGAIN` (the client retries). Counted from when that command first met the switch,
/// not from the switch's start: a switch is a Raft round trip plus the target applying it,
/// usually a few ms but up to seconds on a loaded machine, and counting from its start
/// answered every command after the first 50 ms at once — redis-py's 16 attempts
/// (TRYAGAIN is retried 8 times at once, then 8 times 50 ms apart) ran out in ~0.4 s.
/// Half a second per attempt stays under the read timeouts clients default to (Jedis 2 s).
pub const SWITCH_WAIT: Duration = Duration::from_millis(500);

/// How long a member must stay unreachable before this node counts its slots as failed
/// (`cluster_state:fail`, flag `fail`) rather than suspected (`fail?`): two missed probes.
pub const FAIL_AFTER: Duration = Duration::from_secs(2);

/// A member as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Ok,
    /// Did not answer the last probe (Redis's PFAIL, flag `fail?`).
    Suspected,
    /// Unreachable for [`FAIL_AFTER`] or more: its slots are not being served (flag `fail`).
    Failed,
}

/// What CLUSTER INFO and the admin API report about slot coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub assigned: usize,
    pub pfail: usize,
    pub fail: usize,
    /// Every slot assigned and served, and this node holds its lease.
    pub ok: bool,
}

/// How long gained slots wait: longer than the cluster's serving lease (0.8 s, plus a margin
/// for clock rates; `cluster::lease::GAINED_SLOT_WAIT`, which this crate cannot import), so
/// the previous owner has stopped serving them by then.
pub const GRACE: Duration = Duration::from_millis(880);

/// Where a keyed command must go.
pub enum Route {
    Here,
    Moved(u16, String),
    CrossSlot,
    Down,
    /// The slot was just gained, or is switching: try again at this instant.
    Wait(Instant),
    /// The slot is switching: the command waits (polling), up to [`SWITCH_WAIT`].
    Switching,
}

impl ClusterState {
    /// A member whose topology comes from the cluster layer: no topology and no lease until
    /// the cluster gives them.
    pub fn new(myid: String, host: &str, port: u16, bus_port: u16) -> ClusterState {
        ClusterState {
            myid,
            myshard: AtomicU64::new(0),
            host: host.to_string(),
            port,
            bus_port,
            view: RwLock::new(None),
            lease_until: AtomicU64::new(0),
            base: Instant::now(),
            grace: RwLock::new(None),
            lost: Mutex::new(Vec::new()),
            migration_policy: OnceLock::new(),
            control: OnceLock::new(),
            unreachable: RwLock::new(Default::default()),
            leader: RwLock::new(None),
            role_changed: tokio::sync::Notify::new(),
            offset: OnceLock::new(),
            offsets: RwLock::new(HashMap::new()),
            switching: RwLock::new(HashMap::new()),
            switching_count: std::sync::atomic::AtomicUsize::new(0),
            cross_slot_same_node: std::sync::atomic::AtomicBool::new(false),
            removed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Stops serving `slots` (their keys are about to be switched to another node): commands
    /// on them wait (each up to [`SWITCH_WAIT`], then `-TRYAGAIN`) until
    /// [`Self::end_switch`].
    pub fn begin_switch(&self, slots: &[u16]) {
        let now = Instant::now();
        let mut map = self.switching.write();
        for &s in slots {
            map.insert(s, now);
        }
        self.switching_count.store(map.len(), Ordering::Release);
    }

    /// Serves `slots` again as the topology says (here, or MOVED to their new owner).
    pub fn end_switch(&self, slots: &[u16]) {
        let mut map = self.switching.write();
        for s in slots {
            map.remove(s);
        }
        self.switching_count.store(map.len(), Ordering::Release);
    }

    /// When `slot` stopped being served for its switch, if it is switching.
    fn switching_since(&self, slot: u16) -> Option<Instant> {
        if self.switching_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.switching.read().get(&slot).copied()
    }

    /// Whether this node's shard holds `slot`'s keys: owns it (served here as primary,
    /// replicated here) or is importing it. Keys of slots it does not hold are dropped.
    pub fn holds(&self, slot: u16) -> bool {
        self.topology().is_some_and(|t| holds(&t, &self.myid, slot))
    }

    /// The node `slot` is being imported from, when it is moving to this node's shard and
    /// this node is its primary.
    pub fn importing_from(&self, slot: u16) -> Option<Node> {
        let t = self.topology()?;
        let me = t.node(&self.myid)?;
        if !me.primary || t.moving_to(slot) != Some(me.shard) {
            return None;
        }
        t.owner(slot).cloned()
    }

    /// Records the other members' replication offsets, as last probed.
    pub fn set_offsets(&self, offsets: HashMap<String, u64>) {
        *self.offsets.write() = offsets;
    }

    /// A member's replication offset: this node's own, or another's as last probed.
    pub fn offset_of(&self, id: &str) -> u64 {
        if id == self.myid {
            return self.repl_offset();
        }
        self.offsets.read().get(id).copied().unwrap_or(0)
    }

    /// Where [`Self::repl_offset`] comes from.
    pub fn set_offset_source(&self, source: Box<dyn Fn() -> u64 + Send + Sync>) {
        let _ = self.offset.set(source);
    }

    /// Where [`Self::replica_migration`] comes from.
    pub fn set_replica_migration_source(
        &self,
        source: Box<dyn Fn() -> Option<usize> + Send + Sync>,
    ) {
        let _ = self.migration_policy.set(source);
    }

    /// `cluster-allow-replica-migration` and `cluster-migration-barrier` as configured now:
    /// `None` when replicas must not migrate, else the barrier (Redis's defaults: yes, 1).
    pub fn replica_migration(&self) -> Option<usize> {
        self.migration_policy.get().map_or(Some(1), |f| f())
    }

    /// How far this node's data has come in its shard's replication history.
    pub fn repl_offset(&self) -> u64 {
        self.offset.get().map_or(0, |f| f())
    }

    /// A new node id and shard, bootstrapped as a cluster of one owning every slot.
    pub fn bootstrap(host: &str, port: u16, bus_port: u16, tls_port: u16) -> ClusterState {
        let c = ClusterState::new(random_id(), host, port, bus_port);
        let shard: ShardId = rand::thread_rng().gen();
        let me = Node {
            id: c.myid.clone(),
            host: host.to_string(),
            port,
            bus_port,
            tls_port,
            shard,
            primary: true,
            zone: None,
            leaving: false,
            weight: 1,
        };
        c.set_topology(Some(Topology::single(me)));
        c.lease_until.store(u64::MAX, Ordering::Relaxed);
        c
    }

    pub fn myshard(&self) -> ShardId {
        self.myshard.load(Ordering::Relaxed)
    }

    pub fn topology(&self) -> Option<Arc<Topology>> {
        self.view.read().clone()
    }

    /// Installs an agreed topology: records which slots were gained (served after
    /// [`GRACE`]: a promoted replica gains its shard's slots too) and which were lost by this
    /// node's shard (their keys are dropped by [`Self::take_lost`]'s caller; a primary
    /// turned replica keeps its keys, its new primary's stream brings it up to date).
    pub fn set_topology(&self, t: Option<Topology>) {
        let mut view = self.view.write();
        let old = view.take();
        let role = |t: &Option<Arc<Topology>>| {
            t.as_ref()
                .and_then(|t| t.node(&self.myid))
                .map(|n| (n.shard, n.primary))
        };
        if let Some(me) = t.as_ref().and_then(|t| t.node(&self.myid)) {
            self.myshard.store(me.shard, Ordering::Relaxed);
        }
        let mine = |t: &Option<Arc<Topology>>, slot: u16| {
            t.as_ref()
                .and_then(|t| t.owner(slot))
                .is_some_and(|n| n.id == self.myid)
        };
        let shards = |t: &Option<Arc<Topology>>, slot: u16| {
            t.as_ref().is_some_and(|t| holds(t, &self.myid, slot))
        };
        let new = t.map(Arc::new);
        // Slots switched by a migration's commit: their source stopped serving them first.
        let mut switched = vec![false; SLOTS as usize];
        for &s in new.iter().flat_map(|t| t.switched.iter()) {
            if let Some(w) = switched.get_mut(s as usize) {
                *w = true;
            }
        }
        let mut gained = vec![false; SLOTS as usize];
        let mut any_gained = false;
        let mut lost = Vec::new();
        for slot in 0..SLOTS {
            let (before, after) = (mine(&old, slot), mine(&new, slot));
            // A slot nobody served before (a new cluster) needs no wait.
            let had_owner = old.as_ref().and_then(|t| t.owner(slot)).is_some();
            if after && !before && had_owner && !switched[slot as usize] {
                gained[slot as usize] = true;
                any_gained = true;
            }
            if shards(&old, slot) && !shards(&new, slot) {
                lost.push(slot);
            }
        }
        let role_changed = role(&old) != role(&new);
        // A promoted replica waits only as long as the leader knew the old primary's lease
        // could still hold (`Topology::handover_ms`), never longer than a full grace period.
        let promoted =
            matches!((role(&old), role(&new)), (Some((a, false)), Some((b, true))) if a == b);
        let wait = match new.as_ref().and_then(|t| t.handover_ms) {
            Some(ms) if promoted => Duration::from_millis(ms).min(GRACE),
            _ => GRACE,
        };
        if any_gained {
            *self.grace.write() = Some((Instant::now() + wait, gained));
        } else if let Some((_, g)) = self.grace.write().as_mut() {
            // Slots given away again are no longer waited for.
            for (slot, w) in g.iter_mut().enumerate() {
                *w = *w && mine(&new, slot as u16);
            }
        }
        self.lost.lock().extend(lost);
        *view = new;
        drop(view);
        if role_changed {
            self.role_changed.notify_one();
        }
    }

    /// The primary this node replicates, as the topology says (`None`: it is a primary, or
    /// not in the topology).
    pub fn my_primary(&self) -> Option<Node> {
        let t = self.topology()?;
        let me = t.node(&self.myid)?;
        if me.primary {
            return None;
        }
        t.primary_of(me.shard).cloned()
    }

    /// Slots lost since the last call, whose keys must go.
    pub fn take_lost(&self) -> Vec<u16> {
        std::mem::take(&mut *self.lost.lock())
    }

    /// This node may serve until `until` (the cluster layer renews it).
    pub fn set_lease(&self, until: Option<Instant>) {
        let ms = until.map_or(0, |u| {
            u.saturating_duration_since(self.base).as_millis() as u64
        });
        self.lease_until.store(ms, Ordering::Relaxed);
    }

    pub fn lease_valid(&self) -> bool {
        let until = self.lease_until.load(Ordering::Relaxed);
        until == u64::MAX || (self.base.elapsed().as_millis() as u64) < until
    }

    /// Whether a slot is owned here and served (lease valid, no grace pending).
    pub fn serves(&self, slot: u16) -> bool {
        matches!(self.route_slot(slot, false, false), Route::Here)
    }

    /// Replaces the set of members this node cannot reach (those already unreachable keep
    /// the time they were first seen so).
    pub fn set_unreachable(&self, ids: HashSet<String>) {
        let now = Instant::now();
        let mut map = self.unreachable.write();
        map.retain(|id, _| ids.contains(id));
        for id in ids {
            map.entry(id).or_insert(now);
        }
    }

    pub fn is_unreachable(&self, id: &str) -> bool {
        self.reach(id) != Reach::Ok
    }

    pub fn reach(&self, id: &str) -> Reach {
        match self.unreachable.read().get(id) {
            None => Reach::Ok,
            Some(since) if since.elapsed() >= FAIL_AFTER => Reach::Failed,
            Some(_) => Reach::Suspected,
        }
    }

    /// Slot coverage as CLUSTER INFO reports it: slots of members that do not answer are
    /// `pfail`, then `fail` (and the state `fail`, as a Redis node reports when a slot is
    /// not served) once they have been silent for [`FAIL_AFTER`].
    pub fn coverage(&self) -> Coverage {
        let Some(t) = self.topology() else {
            return Coverage {
                assigned: 0,
                pfail: 0,
                fail: 0,
                ok: false,
            };
        };
        let (mut pfail, mut fail) = (0, 0);
        for n in t.nodes.iter().filter(|n| n.primary && n.id != self.myid) {
            let slots = || t.slots.iter().filter(|s| **s == Some(n.shard)).count();
            match self.reach(&n.id) {
                Reach::Ok => {}
                Reach::Suspected => pfail += slots(),
                Reach::Failed => fail += slots(),
            }
        }
        let assigned = t.assigned();
        Coverage {
            assigned,
            pfail,
            fail,
            ok: assigned == SLOTS as usize && fail == 0 && self.lease_valid(),
        }
    }

    /// Records which node leads the Raft group (for CLUSTER INFO and the admin API).
    pub fn set_leader(&self, id: Option<String>) {
        *self.leader.write() = id;
    }

    pub fn leader(&self) -> Option<String> {
        self.leader.read().clone()
    }

    pub fn set_control(&self, control: Arc<dyn Control>) {
        let _ = self.control.set(control);
    }

    pub fn control(&self) -> Option<&Arc<dyn Control>> {
        self.control.get()
    }

    /// Redis Cluster's redirection for a command touching `keys`; `replica_read` is a read
    /// from a client that sent READONLY, which a replica of the slot's shard serves. A TLS
    /// client (`tls`) is redirected to the owner's TLS port when it has one.
    /// `asking`: the client sent ASKING (or this is RESTORE-ASKING), so a slot being
    /// imported here is served (a migration's copy).
    pub fn route<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
        replica_read: bool,
        tls: bool,
        asking: bool,
    ) -> Route {
        let mut slot = None;
        let mut others: Vec<u16> = Vec::new();
        for k in keys {
            let s = placement::slot::key_slot(k);
            match slot {
                None => slot = Some(s),
                Some(prev) if prev != s => {
                    if !self.cross_slot_same_node.load(Ordering::Relaxed) {
                        return Route::CrossSlot;
                    }
                    if !others.contains(&s) {
                        others.push(s);
                    }
                }
                Some(_) => {}
            }
        }
        if let (Some(first), false) = (slot, others.is_empty()) {
            return self.route_same_node(first, &others, replica_read, tls, asking);
        }
        match slot {
            None => Route::Here,
            Some(slot) if replica_read && self.replicates(slot) => {
                if self.lease_valid() {
                    Route::Here
                } else {
                    Route::Down
                }
            }
            Some(slot) => self.route_slot(slot, tls, asking),
        }
    }

    /// Whether this node is no longer a member (see the field).
    pub fn set_removed(&self, removed: bool) {
        self.removed.store(removed, Ordering::Relaxed);
    }

    /// Turns `--allow-cross-slot same-node` on or off.
    pub fn set_cross_slot_same_node(&self, on: bool) {
        self.cross_slot_same_node.store(on, Ordering::Relaxed);
    }

    /// Keys in several slots: served when every slot is served here; a slot that waits or
    /// is down answers for all; otherwise CROSSSLOT (the keys live on several nodes).
    fn route_same_node(
        &self,
        first: u16,
        others: &[u16],
        replica_read: bool,
        tls: bool,
        asking: bool,
    ) -> Route {
        let mut moved = false;
        for &s in std::iter::once(&first).chain(others) {
            let one = if replica_read && self.replicates(s) {
                if self.lease_valid() {
                    Route::Here
                } else {
                    Route::Down
                }
            } else {
                self.route_slot(s, tls, asking)
            };
            match one {
                Route::Here => {}
                Route::Moved(..) => moved = true,
                wait_or_down => return wait_or_down,
            }
        }
        if moved {
            Route::CrossSlot
        } else {
            Route::Here
        }
    }

    /// Whether this node is a replica of the shard that owns `slot`.
    fn replicates(&self, slot: u16) -> bool {
        let Some(t) = self.topology() else {
            return false;
        };
        t.node(&self.myid)
            .is_some_and(|me| !me.primary && t.slots[slot as usize] == Some(me.shard))
    }

    fn route_slot(&self, slot: u16, tls: bool, asking: bool) -> Route {
        let Some(t) = self.topology() else {
            return Route::Down;
        };
        // A slot this node stopped serving for its switch: the command waits for the
        // switch (how long is the command's business: see `SWITCH_WAIT`).
        if self.switching_since(slot).is_some() {
            return Route::Switching;
        }
        // Without a lease this node may be in a minority: it answers nothing about slots,
        // as a Redis Cluster node in the fail state. A node that knows it was removed
        // redirects to the owner its last topology names instead (a redirection serves
        // nothing, so a stale one is only a hop more): a client still pointed at it finds
        // the cluster rather than retrying CLUSTERDOWN here.
        if !self.lease_valid() {
            if self.removed.load(Ordering::Relaxed) {
                if let Some(n) = t.owner(slot).filter(|n| n.id != self.myid) {
                    return Route::Moved(slot, format!("{}:{}", n.host, client_port(n, tls)));
                }
            }
            return Route::Down;
        }
        match t.owner(slot) {
            None => Route::Down,
            Some(n) if n.id == self.myid => {
                if let Some((until, gained)) = self.grace.read().as_ref() {
                    if gained[slot as usize] && Instant::now() < *until {
                        return Route::Wait(*until);
                    }
                }
                Route::Here
            }
            Some(_) if asking && self.importing_from(slot).is_some() && self.lease_valid() => {
                Route::Here
            }
            Some(n) => Route::Moved(slot, format!("{}:{}", n.host, client_port(n, tls))),
        }
    }
}

/// Whether node `myid`'s shard holds `slot`'s keys in `t`: owns the slot or imports it.
fn holds(t: &Topology, myid: &str, slot: u16) -> bool {
    t.node(myid).is_some_and(|me| {
        t.slots[slot as usize] == Some(me.shard) || t.moving_to(slot) == Some(me.shard)
    })
}

/// The port a client reaches `node` on: its TLS port for a TLS client, when it has one
/// (Redis's `getNodeClientPort`).
pub fn client_port(node: &placement::topology::Node, tls: bool) -> u16 {
    if tls && node.tls_port != 0 {
        node.tls_port
    } else {
        node.port
    }
}

/// A fresh 40-hex-character node id.
pub fn random_id() -> String {
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_slot_owner() {
        let c = ClusterState::bootstrap("127.0.0.1", 7000, 17000, 0);
        assert!(c.take_lost().is_empty());
        assert!(matches!(
            c.route([&b"foo"[..]].into_iter(), false, false, false),
            Route::Here
        ));
        assert!(matches!(
            c.route([&b"{u}a"[..], b"{u}b"].into_iter(), false, false, false),
            Route::Here
        ));
        assert!(matches!(
            c.route([&b"a"[..], b"b"].into_iter(), false, false, false),
            Route::CrossSlot
        ));
        // Give the slot of "foo" (12182) to another node.
        let mut t = (*c.topology().unwrap()).clone();
        t.nodes.push(Node {
            id: "b".repeat(40),
            host: "10.0.0.2".into(),
            port: 7001,
            bus_port: 17001,
            tls_port: 7101,
            shard: 99,
            primary: true,
            zone: None,
            leaving: false,
            weight: 1,
        });
        t.slots[12182] = Some(99);
        c.set_topology(Some(t));
        match c.route([&b"foo"[..]].into_iter(), false, false, false) {
            Route::Moved(slot, addr) => {
                assert_eq!(slot, 12182);
                assert_eq!(addr, "10.0.0.2:7001");
            }
            _ => panic!("expected MOVED"),
        }
        // A TLS client is sent to the owner's TLS port.
        match c.route([&b"foo"[..]].into_iter(), false, true, false) {
            Route::Moved(_, addr) => assert_eq!(addr, "10.0.0.2:7101"),
            _ => panic!("expected MOVED"),
        }
        // --allow-cross-slot same-node: keys of several slots run when all are served
        // here; one of them elsewhere is still CROSSSLOT.
        c.set_cross_slot_same_node(true);
        assert!(matches!(
            c.route([&b"a"[..], b"b", b"c"].into_iter(), false, false, false),
            Route::Here
        ));
        assert!(matches!(
            c.route([&b"a"[..], b"foo"].into_iter(), false, false, false),
            Route::CrossSlot
        ));
        c.set_cross_slot_same_node(false);
        assert!(matches!(
            c.route([&b"a"[..], b"b"].into_iter(), false, false, false),
            Route::CrossSlot
        ));
        assert_eq!(c.take_lost(), vec![12182]);
        assert!(c.take_lost().is_empty());
        c.set_topology(None);
        assert!(matches!(
            c.route([&b"x"[..]].into_iter(), false, false, false),
            Route::Down
        ));
        assert!(matches!(
            c.route(std::iter::empty(), false, false, false),
            Route::Here
        ));
    }

    fn node(id: &str, shard: ShardId) -> Node {
        Node {
            id: id.repeat(40),
            host: "127.0.0.1".into(),
            port: 7000 + shard as u16,
            bus_port: 17000,
            tls_port: 0,
            shard,
            primary: true,
            zone: None,
            leaving: false,
            weight: 1,
        }
    }

    #[test]
    fn serves_only_with_a_lease_and_waits_for_gained_slots() {
        let c = ClusterState::new("a".repeat(40), "127.0.0.1", 7001, 17001);
        assert!(!c.serves(0), "no topology yet");
        let mut t = Topology::single(node("a", 1));
        c.set_topology(Some(t.clone()));
        assert_eq!(c.myshard(), 1);
        assert!(!c.serves(0), "no lease yet");
        c.set_lease(Some(Instant::now() + Duration::from_secs(5)));
        assert!(c.serves(0), "a new cluster's slots are served at once");
        // Half the slots go to b: lost here, and MOVED.
        t.nodes.push(node("b", 2));
        for s in 8192..16384 {
            t.slots[s] = Some(2);
        }
        c.set_topology(Some(t.clone()));
        assert_eq!(c.take_lost().len(), 8192);
        assert!(matches!(
            c.route_slot(9000, false, false),
            Route::Moved(9000, _)
        ));
        // They come back: served only after the grace.
        for s in 8192..16384 {
            t.slots[s] = Some(1);
        }
        c.set_topology(Some(t.clone()));
        assert!(matches!(c.route_slot(9000, false, false), Route::Wait(_)));
        assert!(c.serves(0), "slots kept all along are not held back");
        // An expired lease stops everything.
        c.set_lease(Some(Instant::now()));
        assert!(matches!(c.route_slot(0, false, false), Route::Down));
    }
}
