//! One cluster member: its Raft, its store, its lease, and the membership operations every
//! node accepts (CLUSTER MEET / FORGET, `--join`, `shardcache cluster add-node/remove-node`).
//!
//! Membership changes are made by the leader, one at a time; a node that is not the leader
//! forwards them to it over the bus. A join is checked against the agreed state first (id
//! or address clash), then the node is added as a Raft learner (it receives the whole log),
//! promoted to voter while there are fewer than [`voters_for`] voters, and finally its
//! `Change::Join` is committed, which gives it its slots. A leave commits `Change::Leave`
//! first (its slots go to the others), then takes the node out of the Raft membership.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, ServerState};

use crate::lease::{Lease, GAINED_SLOT_WAIT, RENEW_EVERY, RENEW_TIMEOUT};
use crate::raft::{
    config, deliver, BusRequest, BusResponse, Network, NodeId, Raft, RaftRequest, RaftResponse,
    ReadIndexRefused, Store, Transport,
};
use crate::replica_migration;
use crate::state::{Change, NodeSpec};
use placement::topology::{Node, Topology};

/// How long a membership operation may wait for a leader or a commit.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the leader probes the members of shards that have replicas (every member,
/// while replica migration is on).
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long one probe may take before it counts as unanswered.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a primary must leave every probe unanswered before the leader promotes one of
/// its replicas (`cluster-node-timeout`).
pub const NODE_TIMEOUT: Duration = Duration::from_millis(700);

/// How long a Raft voter must leave the leader's probes unanswered before a learner that
/// answers takes its vote: at least this, or four node timeouts. Without it a cluster of
/// three voters that lost one could not lose a second (any node, voter or not) without
/// losing its majority, hence every later failover and membership change.
pub const VOTER_REPLACE_AFTER: Duration = Duration::from_secs(3);

/// What a leader knows of the leases in force (see [`ClusterNode::lease_left`]).
#[derive(Default)]
struct Grants {
    /// When this node was first seen leading.
    since: Option<Instant>,
    /// No earlier leader confirmed its leadership after this instant: the latest time a
    /// majority of voters (asked once this node leads) last accepted an append from one.
    earlier_leaders_until: Option<Instant>,
    /// When this node last gave each member a read index.
    granted: HashMap<String, Instant>,
    /// When each earlier leader (by Raft id) was last heard of by those voters.
    earlier_leaders_seen: HashMap<NodeId, Instant>,
}

/// A source of this node's replication offset (set by the node that owns the data).
pub type OffsetSource = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Whether replicas may migrate to orphaned primaries, and the barrier (Redis's
/// `cluster-allow-replica-migration` and `cluster-migration-barrier`, read live from the
/// node's configuration): `None` = not allowed, `Some(barrier)` = a shard keeps more than
/// `barrier` answering replicas to give one away.
pub type MigrationPolicy = Arc<dyn Fn() -> Option<usize> + Send + Sync>;

/// The Raft id of a node: the first 64 bits of its 160-bit hex id.
pub fn raft_id(node_id: &str) -> NodeId {
    u64::from_str_radix(node_id.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

/// How many voters a cluster of `nodes` nodes keeps: all of them up to 3, then 3, then 5
/// from 5 nodes on (more voters make every commit slower without surviving more failures
/// that matter here); the rest are learners that still receive and apply every change.
pub fn voters_for(nodes: usize) -> usize {
    match nodes {
        0..=3 => nodes,
        4 => 3,
        _ => 5,
    }
}

pub struct ClusterNode<T: Transport> {
    pub spec: NodeSpec,
    pub raft_id: NodeId,
    pub raft: Raft,
    pub store: Arc<Store>,
    pub lease: Arc<Lease>,
    transport: T,
    /// The leader runs one membership change at a time.
    changing: tokio::sync::Mutex<()>,
    /// Another member said this node is not a member (it was removed while away).
    removed: std::sync::atomic::AtomicBool,
    /// When this node last asked the members whether it still is one.
    asked_members: tokio::sync::Mutex<Option<Instant>>,
    /// How far this node's data has come in its shard's replication history.
    repl_offset: OnceLock<OffsetSource>,
    /// Replica migration's switch and barrier (unset: Redis's defaults, on with barrier 1).
    replica_migration: OnceLock<MigrationPolicy>,
    /// `cluster-node-timeout` in milliseconds (see [`NODE_TIMEOUT`]).
    node_timeout_ms: AtomicU64,
    /// While leading: when this node last gave each member a read index (the member's lease
    /// ends at most a lease period after that), and when it was first seen leading (no
    /// earlier leader's grant can be later than that).
    grants: std::sync::Mutex<Grants>,
    /// When this node last accepted an append (a heartbeat included) from each leader.
    leader_acks: std::sync::Mutex<HashMap<NodeId, Instant>>,
}

impl<T: Transport> ClusterNode<T> {
    /// Starts the node's Raft on `store` (which may hold the state of a previous run) and the
    /// task that keeps its lease.
    pub async fn start(spec: NodeSpec, store: Store, transport: T) -> Result<Arc<Self>, String> {
        let store = Arc::new(store);
        let lease = Arc::new(Lease::default());
        let raft_id = raft_id(&spec.id);
        let network = Network {
            from: bus_addr(&spec),
            transport: transport.clone(),
        };
        let (log, machine) = openraft::storage::Adaptor::new(store.clone());
        let raft = Raft::new(raft_id, config(), network, log, machine)
            .await
            .map_err(|e| format!("cannot start raft: {e}"))?;
        let node = Arc::new(ClusterNode {
            spec,
            raft_id,
            raft,
            store,
            lease,
            transport,
            changing: tokio::sync::Mutex::new(()),
            removed: std::sync::atomic::AtomicBool::new(false),
            asked_members: tokio::sync::Mutex::new(None),
            repl_offset: OnceLock::new(),
            replica_migration: OnceLock::new(),
            node_timeout_ms: AtomicU64::new(NODE_TIMEOUT.as_millis() as u64),
            grants: std::sync::Mutex::new(Grants::default()),
            leader_acks: std::sync::Mutex::new(HashMap::new()),
        });
        tokio::spawn(keep_lease(Arc::downgrade(&node)));
        tokio::spawn(watch_primaries(Arc::downgrade(&node)));
        Ok(node)
    }

    pub fn bus_addr(&self) -> String {
        bus_addr(&self.spec)
    }

    /// Where this node's replication offset comes from (answered to the leader's probes).
    pub fn set_offset_source(&self, source: OffsetSource) {
        let _ = self.repl_offset.set(source);
    }

    fn offset(&self) -> u64 {
        self.repl_offset.get().map_or(0, |f| f())
    }

    /// Where replica migration's switch and barrier come from (used while this node leads).
    pub fn set_replica_migration_source(&self, source: MigrationPolicy) {
        let _ = self.replica_migration.set(source);
    }

    fn replica_migration(&self) -> Option<usize> {
        self.replica_migration.get().map_or(Some(1), |f| f())
    }

    /// Sets `cluster-node-timeout` (used while this node leads).
    pub fn set_node_timeout(&self, timeout: Duration) {
        self.node_timeout_ms
            .store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms.load(Ordering::Relaxed))
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Starts a new cluster with this node as its only member (a restarted member that
    /// already has Raft state just resumes).
    pub async fn bootstrap(&self) -> Result<(), String> {
        if self.store.has_state().await {
            return Ok(());
        }
        self.raft
            .initialize(BTreeMap::from([(
                self.raft_id,
                BasicNode::new(self.bus_addr()),
            )]))
            .await
            .map_err(|e| format!("cannot initialize raft: {e}"))?;
        self.raft
            .wait(Some(OP_TIMEOUT))
            .current_leader(self.raft_id, "bootstrapped node leads")
            .await
            .map_err(|e| format!("no leader after bootstrap: {e}"))?;
        self.write(Change::Bootstrap(self.spec.clone())).await
    }

    /// Answers a bus message.
    pub async fn handle(&self, request: BusRequest) -> BusResponse {
        match request {
            BusRequest::Raft { to, .. } if to != self.raft_id => BusResponse::Done(Err(format!(
                "this is Raft node {}, not {to}: the sender's cluster lists a node that is gone",
                self.raft_id
            ))),
            // A removed node restarted from its old state campaigns with ever higher terms;
            // its vote requests are not answered (as if lost), so it cannot disturb us.
            BusRequest::Raft {
                request: RaftRequest::Vote(v),
                ..
            } if !self.in_membership(&v) => {
                BusResponse::Done(Err("not a member of this cluster".into()))
            }
            BusRequest::Raft {
                request: RaftRequest::Append(append),
                ..
            } => {
                let leader = append.vote.leader_id().voted_for();
                let answer = deliver(&self.raft, RaftRequest::Append(append)).await;
                if let (Some(leader), RaftResponse::Append(Ok(r))) = (leader, &answer) {
                    if !matches!(r, openraft::raft::AppendEntriesResponse::HigherVote(_)) {
                        self.note_leader_ack(leader);
                    }
                }
                BusResponse::Raft(answer)
            }
            BusRequest::Raft { request, .. } => {
                BusResponse::Raft(deliver(&self.raft, request).await)
            }
            BusRequest::LeaderAcks => BusResponse::LeaderAcks(self.leader_acks()),
            BusRequest::ReadIndex { id } => BusResponse::ReadIndex(self.read_index(&id).await),
            BusRequest::Hello => BusResponse::Hello {
                spec: self.spec.clone(),
                member: self.store.has_state().await,
                repl_offset: self.offset(),
            },
            BusRequest::Join(spec) => BusResponse::Done(self.join(spec).await),
            BusRequest::Leave { id } => BusResponse::Done(self.leave(&id).await),
            BusRequest::Change(change) => BusResponse::Done(self.change(change).await),
        }
    }

    /// Whether the candidate of a vote request is in the Raft membership this node knows.
    fn in_membership(&self, v: &openraft::raft::VoteRequest<NodeId>) -> bool {
        let Some(candidate) = v.vote.leader_id().voted_for() else {
            return false;
        };
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&candidate)
            .is_some()
    }

    /// The commit index, confirmed by a quorum heartbeat round that starts now, for the
    /// member `id` (only the leader has one to give; any node refuses a non-member).
    async fn read_index(&self, id: &str) -> Result<Option<u64>, ReadIndexRefused> {
        let topology = self.store.state().await.topology;
        if let Some(t) = topology.filter(|t| t.node(id).is_none()) {
            return Err(ReadIndexRefused::NotAMember { epoch: t.epoch });
        }
        let (read, _applied) = self
            .raft
            .get_read_log_id()
            .await
            .map_err(|e| ReadIndexRefused::NotLeader(e.to_string()))?;
        self.grants().granted.insert(id.to_string(), Instant::now());
        // A leader is part of every quorum that confirms it: it records that as its own
        // ack, so a successor asking a majority hears of it even from this node.
        self.note_leader_ack(self.raft_id);
        Ok(read.map(|l| l.index))
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes whether this node leads now. Losing leadership forgets what it learnt of
    /// earlier leaders; the read indexes this node gave are kept across its leaderships (a
    /// lease given in an earlier term may still hold when it leads again).
    fn note_leadership(&self, leading: bool) {
        let mut g = self.grants();
        match (leading, g.since) {
            (true, None) => g.since = Some(Instant::now()),
            (false, Some(_)) => {
                g.since = None;
                g.earlier_leaders_until = None;
                g.earlier_leaders_seen.clear();
            }
            _ => {}
        }
    }

    /// How long from now the lease of member `id` may still hold, as far as this leader
    /// knows: a lease is earned only from a read index, so it ends within
    /// [`GAINED_SLOT_WAIT`] of the last one given — by this leader, or by an earlier one,
    /// which gave none after it last confirmed its leadership: before this node was elected,
    /// and before [`Grants::earlier_leaders_until`] once a majority said when they last
    /// accepted its heartbeats (any quorum it confirmed with includes one of them).
    /// `None`: this node does not lead.
    fn lease_left(&self, id: &str) -> Option<Duration> {
        let g = self.grants();
        let floor = g.earlier_leaders_until.or(g.since)?;
        let last = g.granted.get(id).copied().map_or(floor, |t| t.max(floor));
        Some((last + GAINED_SLOT_WAIT).saturating_duration_since(Instant::now()))
    }

    /// Records an append this node accepted from `leader` (answered as an ack).
    fn note_leader_ack(&self, leader: NodeId) {
        self.leader_acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(leader, Instant::now());
    }

    /// For each leader this node accepted appends from: how long ago, in milliseconds.
    fn leader_acks(&self) -> Vec<(NodeId, u64)> {
        self.leader_acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(l, t)| (*l, t.elapsed().as_millis() as u64))
            .collect()
    }

    /// Once, after this node starts leading: asks every voter when it last accepted an
    /// append from another leader; with a majority's answers, no earlier leader can have
    /// confirmed its leadership (and so given a lease) after the latest of those instants.
    async fn learn_about_earlier_leaders(&self) {
        if self.grants().earlier_leaders_until.is_some() {
            return;
        }
        let voters = self.voters();
        let majority = voters.len() / 2 + 1;
        let Some(t) = self.store.subscribe().borrow().topology.clone() else {
            return;
        };
        let me = self.bus_addr();
        let asks: Vec<_> = t
            .nodes
            .iter()
            .filter(|n| voters.contains(&raft_id(&n.id)) && n.id != self.spec.id)
            .map(|n| {
                let addr = format!("{}:{}", n.host, n.bus_port);
                let ask = self.transport.send(&me, &addr, BusRequest::LeaderAcks);
                tokio::spawn(async move {
                    match tokio::time::timeout(PROBE_TIMEOUT, ask).await {
                        Ok(Ok(BusResponse::LeaderAcks(acks))) => Some((Instant::now(), acks)),
                        _ => None,
                    }
                })
            })
            .collect();
        let mut answers = vec![(Instant::now(), self.leader_acks())];
        for a in asks {
            if let Ok(Some(answer)) = a.await {
                answers.push(answer);
            }
        }
        if answers.len() < majority {
            return;
        }
        let mut until = None::<Instant>;
        let mut seen: HashMap<NodeId, Instant> = HashMap::new();
        for (received, acks) in answers {
            for (leader, ago) in acks {
                if leader == self.raft_id {
                    continue;
                }
                // The ack was at most `ago` before the answer arrived (a later instant is
                // the safe side).
                let at = received
                    .checked_sub(Duration::from_millis(ago))
                    .unwrap_or(received);
                until = Some(until.map_or(at, |u| u.max(at)));
                let e = seen.entry(leader).or_insert(at);
                *e = (*e).max(at);
            }
        }
        let mut g = self.grants();
        // Both bounds hold (no earlier leader confirmed itself after this node's election
        // either): the tighter one counts.
        if let Some(since) = g.since {
            g.earlier_leaders_until = Some(until.map_or(since, |u| u.min(since)));
            g.earlier_leaders_seen = seen;
        }
    }

    /// One proof for the lease (see [`crate::lease`]): a read index from the leader (this
    /// node's own when it leads), then this node's state machine caught up to it.
    /// Answers how the proof was obtained (for the log).
    async fn prove_current(&self) -> Result<String, String> {
        let (index, via) = if self.is_leader() {
            let index = self
                .read_index(&self.spec.id)
                .await
                .map_err(|e| e.to_string())?;
            (index, format!("leader {} (self)", self.raft_id))
        } else {
            let Some(addr) = self.leader_addr() else {
                self.ask_whether_removed().await;
                return Err("no known leader".into());
            };
            match self.ask_read_index(&addr).await? {
                Ok(index) => (index, addr),
                Err(e) => return Err(e.to_string()),
            }
        };
        self.raft
            .wait(Some(RENEW_TIMEOUT))
            .applied_index_at_least(index, "lease")
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("{via} at index {index:?}"))
    }

    /// Asks the node at `addr` for a read index; a refusal that shows this node was removed
    /// is noted.
    async fn ask_read_index(
        &self,
        addr: &str,
    ) -> Result<Result<Option<u64>, ReadIndexRefused>, String> {
        let ask = BusRequest::ReadIndex {
            id: self.spec.id.clone(),
        };
        match self.transport.send(&self.bus_addr(), addr, ask).await {
            Ok(BusResponse::ReadIndex(r)) => {
                if let Err(ReadIndexRefused::NotAMember { epoch }) = &r {
                    // A joining node is not listed yet either; one that lists itself in an
                    // older topology than the answering node's was removed while it could
                    // not hear of it (stopped, frozen, cut off).
                    let mine = self.store.subscribe().borrow().topology.clone();
                    if mine.is_some_and(|t| t.epoch < *epoch && t.node(&self.spec.id).is_some()) {
                        self.note_removed();
                    }
                }
                Ok(r)
            }
            Ok(_) => Err(format!("{addr} answered something else")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// With no leader known (a removed node hears from none), asks the other members of its
    /// topology, at most once a second, whether it is still one of them.
    async fn ask_whether_removed(&self) {
        {
            let mut last = self.asked_members.lock().await;
            if last.is_some_and(|l| l.elapsed() < Duration::from_secs(1)) || self.was_removed() {
                return;
            }
            *last = Some(Instant::now());
        }
        let Some(t) = self.store.subscribe().borrow().topology.clone() else {
            return;
        };
        for n in t.nodes.iter().filter(|n| n.id != self.spec.id) {
            let addr = format!("{}:{}", n.host, n.bus_port);
            let asked = tokio::time::timeout(RENEW_TIMEOUT, self.ask_read_index(&addr)).await;
            if asked.is_ok() && self.was_removed() {
                return;
            }
        }
    }

    /// Says once, loudly, that this node was removed and how to bring it back.
    fn note_removed(&self) {
        if !self
            .removed
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::error!(
                id = %self.spec.id,
                "this node was removed from the cluster and serves nothing; to rejoin, restart it \
                 with an empty --dir and --join <member>, or add it again with \
                 `shardcache cluster add-node`"
            );
        }
    }

    /// Whether this node learnt that it is no longer a member (its lease is never renewed).
    pub fn was_removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the topology this node has applied lists it.
    pub fn listed(&self) -> bool {
        self.store
            .subscribe()
            .borrow()
            .topology
            .as_ref()
            .is_some_and(|t| t.node(&self.spec.id).is_some())
    }

    /// CLUSTER MEET: asks the node whose bus is at `host:bus_port` who it is, then joins it.
    pub async fn meet(&self, host: &str, bus_port: u16) -> Result<NodeSpec, String> {
        let addr = format!("{host}:{bus_port}");
        let spec = match self
            .transport
            .send(&self.bus_addr(), &addr, BusRequest::Hello)
            .await
        {
            Ok(BusResponse::Hello { spec, member, .. }) => {
                if member
                    && self
                        .store
                        .state()
                        .await
                        .topology
                        .as_ref()
                        .and_then(|t| t.node(&spec.id))
                        .is_none()
                {
                    return Err(format!(
                        "the node at {addr} already belongs to a cluster (start it with an empty --dir to join this one)"
                    ));
                }
                spec
            }
            Ok(_) => {
                return Err(format!(
                    "{addr} answered something else than a cluster node"
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        self.join(spec.clone()).await?;
        Ok(spec)
    }

    /// Adds a node (on the leader; forwarded there otherwise).
    pub async fn join(&self, spec: NodeSpec) -> Result<(), String> {
        if let Some(done) = self.forward(BusRequest::Join(spec.clone())).await {
            return done;
        }
        let one_at_a_time = self.changing.lock().await;
        if !self.is_leader() {
            // Leadership moved while this waited for the previous change.
            drop(one_at_a_time);
            return self
                .forward(BusRequest::Join(spec))
                .await
                .unwrap_or_else(|| Err("leadership changed during the request; try again".into()));
        }
        let change = Change::Join(spec.clone());
        // Refuse what the state machine would refuse before touching the Raft membership.
        self.store
            .state()
            .await
            .apply(&change)
            .map_err(|e| e.to_string())?;
        let id = raft_id(&spec.id);
        self.raft
            .add_learner(id, BasicNode::new(bus_addr(&spec)), true)
            .await
            .map_err(|e| format!("cannot add {} as a learner: {e}", bus_addr(&spec)))?;
        let members = self
            .store
            .state()
            .await
            .topology
            .map_or(0, |t| t.nodes.len())
            + 1;
        // Promote the new node, then older learners, until the cluster has its voters.
        let want = voters_for(members).saturating_sub(self.voters().len());
        let promote: BTreeSet<NodeId> = std::iter::once(id)
            .chain(self.learners().into_iter().filter(|l| *l != id))
            .take(want)
            .collect();
        if !promote.is_empty() {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(promote), true)
                .await
                .map_err(|e| format!("cannot make {} a voter: {e}", spec.id))?;
        }
        self.write(change).await
    }

    /// Commits a change of the topology alone — a failover, the replica count — on the
    /// leader (forwarded there otherwise). Membership changes go through [`Self::join`] and
    /// [`Self::leave`], which also change the Raft membership.
    pub async fn change(&self, change: Change) -> Result<(), String> {
        if matches!(
            change,
            Change::Bootstrap(_) | Change::Join(_) | Change::Leave { .. }
        ) {
            return Err("membership changes go through join and leave".into());
        }
        let drains = matches!(change, Change::CommitMove { .. } | Change::Drain { .. });
        let commit = matches!(change, Change::CommitMove { .. });
        self.change_one(change).await?;
        if drains {
            // A drained node leaves (the topology and the Raft membership).
            for id in self.store.state().await.drained() {
                self.leave(&id).await?;
            }
        }
        // The asker reads this node's state next (CLUSTER INFO after CLUSTER MOVESLOTS):
        // apply what the leader has committed first. (Not for a migration's own commit,
        // which waits for its outcome by itself, and whose wait pauses clients.)
        if !commit {
            let _ = self.prove_current().await;
        }
        Ok(())
    }

    async fn change_one(&self, change: Change) -> Result<(), String> {
        if let Some(done) = self.forward(BusRequest::Change(change.clone())).await {
            return done;
        }
        let one_at_a_time = self.changing.lock().await;
        if !self.is_leader() {
            drop(one_at_a_time);
            return self
                .forward(BusRequest::Change(change))
                .await
                .unwrap_or_else(|| Err("leadership changed during the request; try again".into()));
        }
        self.store
            .state()
            .await
            .apply(&change)
            .map_err(|e| e.to_string())?;
        self.write(change).await
    }

    /// Run by a member that restarts as itself, before it serves: if the agreed topology
    /// still has it as the primary of a shard with replicas, it hands the shard to the
    /// replica that has come furthest, whose data is newer than anything this restarted
    /// process holds (it would otherwise make its replicas resync from its empty or older
    /// keyspace). No wait is needed for the promoted replica: this process has served
    /// nothing yet, and the one before it is gone. Answers the promoted replica, if any.
    pub async fn hand_over_after_restart(
        &self,
        within: Duration,
    ) -> Result<Option<String>, String> {
        // Caught up with the cluster first: a lease is earned only with the log applied up to
        // the leader's commit index.
        let deadline = Instant::now() + within;
        while !self.lease.is_valid() {
            if Instant::now() > deadline {
                return Err("no lease: cannot tell whether this node still leads its shard".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let Some(t) = self.store.state().await.topology else {
            return Ok(None);
        };
        let Some(me) = t.node(&self.spec.id).filter(|me| me.primary) else {
            return Ok(None);
        };
        let answers = self
            .probe(targets(t.replicas_of(me.shard)), PROBE_TIMEOUT)
            .await;
        let heir = answers
            .into_iter()
            .filter_map(|(id, offset)| offset.map(|o| (o, id)))
            .max();
        let Some((offset, heir)) = heir else {
            return Ok(None);
        };
        tracing::warn!(replica = %heir, offset, "restarted as a primary: handing the shard to its replica");
        self.change(Change::Failover {
            id: heir.clone(),
            handover_ms: Some(0),
        })
        .await?;
        Ok(Some(heir))
    }

    /// Removes a node (on the leader; forwarded there otherwise).
    pub async fn leave(&self, id: &str) -> Result<(), String> {
        let request = || BusRequest::Leave { id: id.to_string() };
        if let Some(done) = self.forward(request()).await {
            return done;
        }
        let one_at_a_time = self.changing.lock().await;
        if !self.is_leader() {
            // Leadership moved while this waited for the previous change.
            drop(one_at_a_time);
            return self
                .forward(request())
                .await
                .unwrap_or_else(|| Err("leadership changed during the request; try again".into()));
        }
        let change = Change::Leave { id: id.to_string() };
        self.store
            .state()
            .await
            .apply(&change)
            .map_err(|e| e.to_string())?;
        let rid = raft_id(id);
        self.write(change).await?;
        let result = if self.voters().contains(&rid) {
            let next = self.next_voters(rid).await;
            self.raft
                .change_membership(ChangeMembers::ReplaceAllVoters(next), false)
                .await
        } else {
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([rid])), false)
                .await
        };
        result
            .map_err(|e| format!("the node left the topology but not the raft membership: {e}"))?;
        if rid == self.raft_id {
            // A leader that removed itself leads a little longer, to spread the commit, then
            // steps down; wait for that while still holding the lock, so no other change
            // starts here meanwhile (openraft must not be asked for one in that window).
            let deadline = Instant::now() + OP_TIMEOUT;
            while self.is_leader() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        drop(one_at_a_time);
        Ok(())
    }

    /// Gives `dead`'s vote to `learner` (the leader's watch, [`VOTER_REPLACE_AFTER`]); `dead`
    /// stays a member, as a learner, and serves again when it comes back.
    async fn replace_voter(&self, dead: NodeId, learner: NodeId) -> Result<(), String> {
        let one_at_a_time = self.changing.lock().await;
        if !self.is_leader() {
            return Err("no longer the leader".into());
        }
        let voters = self.voters();
        if !voters.contains(&dead) || voters.contains(&learner) {
            return Ok(());
        }
        let next: BTreeSet<NodeId> = voters
            .into_iter()
            .filter(|v| *v != dead)
            .chain(std::iter::once(learner))
            .collect();
        let result = self
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(next), true)
            .await;
        drop(one_at_a_time);
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    /// The voters once `leaving` (already out of the topology) is no longer one: the others,
    /// topped up with learners while the cluster wants more voters.
    async fn next_voters(&self, leaving: NodeId) -> BTreeSet<NodeId> {
        let members = self
            .store
            .state()
            .await
            .topology
            .map_or(0, |t| t.nodes.len());
        let mut next: BTreeSet<NodeId> = self
            .voters()
            .into_iter()
            .filter(|v| *v != leaving)
            .collect();
        for l in self.learners() {
            if next.len() >= voters_for(members) {
                break;
            }
            if l != leaving {
                next.insert(l);
            }
        }
        next
    }

    /// Commits a topology change and returns what applying it answered.
    async fn write(&self, change: Change) -> Result<(), String> {
        let reply = tokio::time::timeout(OP_TIMEOUT, self.raft.client_write(change))
            .await
            .map_err(|_| "timed out waiting for the cluster to commit the change".to_string())?
            .map_err(|e| e.to_string())?;
        reply.data.0.map_err(|e| e.to_string())
    }

    /// Sends a membership request to the leader, waiting a little for one to be elected;
    /// `None` when this node is (or has just become) the leader and must do it itself. A
    /// leader that cannot be reached (frozen, cut off) is asked again, or its successor once
    /// one is elected, until [`OP_TIMEOUT`].
    async fn forward(&self, request: BusRequest) -> Option<Result<(), String>> {
        let deadline = Instant::now() + OP_TIMEOUT;
        let mut last_error = None;
        loop {
            if self.is_leader() {
                return None;
            }
            if Instant::now() > deadline {
                return Some(Err(last_error.unwrap_or_else(|| {
                    "the cluster has no leader (is a majority of its voters up?)".into()
                })));
            }
            let Some(addr) = self.leader_addr() else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let sent = self
                .transport
                .send(&self.bus_addr(), &addr, request.clone())
                .await;
            return Some(match sent {
                Ok(BusResponse::Done(r)) => r,
                Ok(_) => Err(format!("the leader at {addr} answered something else")),
                Err(e) => {
                    last_error = Some(format!("cannot reach the leader: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            });
        }
    }

    /// The other members, asked all at once who they are: each one's replication offset,
    /// or `None` when its bus did not answer within `timeout`. A local observation, as
    /// Redis's PFAIL and gossiped offsets: it decides nothing in the cluster.
    pub async fn probe_members(&self, timeout: Duration) -> HashMap<String, Option<u64>> {
        let Some(t) = self.store.state().await.topology else {
            return HashMap::new();
        };
        let others = t.nodes.iter().filter(|n| n.id != self.spec.id);
        self.probe(targets(others), timeout).await
    }

    /// Asks `nodes` who they are, all at once: each node's replication offset, or `None`
    /// when it did not answer as itself within `timeout`.
    async fn probe(
        &self,
        nodes: Vec<(String, String)>,
        timeout: Duration,
    ) -> HashMap<String, Option<u64>> {
        let me = self.bus_addr();
        let probes: Vec<_> = nodes
            .into_iter()
            .map(|(id, addr)| {
                let hello = self.transport.send(&me, &addr, BusRequest::Hello);
                tokio::spawn(async move {
                    let answer = match tokio::time::timeout(timeout, hello).await {
                        Ok(Ok(BusResponse::Hello {
                            spec, repl_offset, ..
                        })) if spec.id == id => Some(repl_offset),
                        _ => None,
                    };
                    (id, answer)
                })
            })
            .collect();
        let mut answers = HashMap::new();
        for probe in probes {
            if let Ok((id, answer)) = probe.await {
                answers.insert(id, answer);
            }
        }
        answers
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// The node id of the leader this node knows of, if it is in the applied topology.
    pub fn leader_id(&self) -> Option<String> {
        let leader = self.raft.metrics().borrow().current_leader?;
        let state = self.store.subscribe();
        let state = state.borrow();
        state
            .topology
            .as_ref()?
            .nodes
            .iter()
            .find(|n| raft_id(&n.id) == leader)
            .map(|n| n.id.clone())
    }

    /// The leader's bus address, if this node knows one (and it is not itself).
    fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics().borrow().clone();
        let leader = m.current_leader?;
        if leader == self.raft_id {
            return None;
        }
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// The Raft voters as this node knows them.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    fn learners(&self) -> Vec<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .learner_ids()
            .collect()
    }

    /// Stops Raft (its tasks end; the lease is no longer renewed).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

/// (node id, bus address) of each node, for [`ClusterNode::probe`].
fn targets<'a>(nodes: impl Iterator<Item = &'a Node>) -> Vec<(String, String)> {
    nodes
        .map(|n| (n.id.clone(), format!("{}:{}", n.host, n.bus_port)))
        .collect()
}

pub fn bus_addr(spec: &NodeSpec) -> String {
    format!("{}:{}", spec.host, spec.bus_port)
}

/// On the leader: promotes a replica of every primary that has left the leader's probes
/// unanswered for `cluster-node-timeout` — the reachable replica with the highest replication
/// offset, so a write it acknowledged (WAIT) survives — as one Raft entry with a new epoch.
///
/// Why this cannot make two primaries serve one slot: the old primary serves only while its
/// lease holds, which it renews by a read-index round trip through the leader; the new
/// primary serves the shard's slots only `GRACE` (longer than a lease) after it applied the
/// promotion, and an old primary that renewed after the promotion was committed has applied
/// it too (the read index covers it), so it knows it is a replica.
async fn watch_primaries<T: Transport>(node: std::sync::Weak<ClusterNode<T>>) {
    let mut last_seen: HashMap<String, Instant> = HashMap::new();
    // Primaries without an answering replica, since when (replica migration).
    let mut orphaned_since: HashMap<String, Instant> = HashMap::new();
    // When each other voter last answered.
    let mut voter_seen: HashMap<NodeId, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(n) = node.upgrade() else { return };
        if n.raft.metrics().borrow().running_state.is_err() {
            return;
        }
        let leading = n.is_leader();
        n.note_leadership(leading);
        if !leading {
            last_seen.clear();
            orphaned_since.clear();
            voter_seen.clear();
            continue;
        }
        n.learn_about_earlier_leaders().await;
        let Some(t) = n.store.subscribe().borrow().topology.clone() else {
            continue;
        };
        replace_a_silent_voter(&n, &t, &mut voter_seen).await;
        let guarded: Vec<_> = t
            .nodes
            .iter()
            .filter(|p| p.primary && p.id != n.spec.id && t.replicas_of(p.shard).next().is_some())
            .collect();
        let migration = n.replica_migration();
        if guarded.is_empty() && migration.is_none() {
            last_seen.clear();
            orphaned_since.clear();
            continue;
        }
        // Replica migration needs to know which replicas answer anywhere: then everyone is
        // asked; otherwise only the guarded primaries and their replicas.
        let asked: Vec<&Node> = match migration {
            Some(_) => t.nodes.iter().filter(|m| m.id != n.spec.id).collect(),
            None => guarded
                .iter()
                .flat_map(|p| std::iter::once(*p).chain(t.replicas_of(p.shard)))
                .filter(|m| m.id != n.spec.id)
                .collect(),
        };
        let answers = n.probe(targets(asked.into_iter()), PROBE_TIMEOUT).await;
        let now = Instant::now();
        let timeout = n.node_timeout();
        for p in guarded {
            if matches!(answers.get(&p.id), Some(Some(_))) {
                last_seen.insert(p.id.clone(), now);
                continue;
            }
            // A primary that led before this node was last heard of (by the voters) then.
            let heard = n
                .grants()
                .earlier_leaders_seen
                .get(&raft_id(&p.id))
                .copied()
                .unwrap_or(now);
            let since = *last_seen.entry(p.id.clone()).or_insert(heard);
            if now.duration_since(since) < timeout {
                continue;
            }
            // This node's own offset when it is one of the replicas.
            let offset_of = |id: &str| {
                if id == n.spec.id {
                    Some(n.offset())
                } else {
                    answers.get(id).copied().flatten()
                }
            };
            let heir = t
                .replicas_of(p.shard)
                .filter_map(|r| offset_of(&r.id).map(|o| (o, r.id.clone())))
                .max_by_key(|(o, _)| *o);
            let Some((offset, heir)) = heir else {
                tracing::warn!(primary = %p.id, "primary unreachable and no replica answers: cannot fail over");
                continue;
            };
            tracing::warn!(
                primary = %p.id,
                replica = %heir,
                offset,
                silent_ms = now.duration_since(since).as_millis() as u64,
                "primary unreachable: promoting its replica"
            );
            // The new primary need not wait longer than the old one's lease may still hold.
            let handover_ms = n.lease_left(&p.id).map(|left| left.as_millis() as u64 + 1);
            match n
                .change(Change::Failover {
                    id: heir,
                    handover_ms,
                })
                .await
            {
                Ok(()) => {
                    last_seen.remove(&p.id);
                }
                Err(e) => tracing::warn!(error = %e, "failover not committed"),
            }
        }
        if let Some(barrier) = migration {
            let answering = |id: &str| id == n.spec.id || matches!(answers.get(id), Some(Some(_)));
            migrate_a_replica(&n, &t, &answering, barrier, &mut orphaned_since, now).await;
        }
    }
}

/// One step of the leader's watch: a voter silent for [`VOTER_REPLACE_AFTER`] (or four node
/// timeouts) hands its vote to a learner that answers, one per round. With no learner to
/// take it, the voter keeps it (and the cluster its majority while no second voter fails).
async fn replace_a_silent_voter<T: Transport>(
    n: &ClusterNode<T>,
    t: &Topology,
    seen: &mut HashMap<NodeId, Instant>,
) {
    let voters = n.voters();
    let watched: Vec<&Node> = t
        .nodes
        .iter()
        .filter(|m| m.id != n.spec.id && voters.contains(&raft_id(&m.id)))
        .collect();
    seen.retain(|v, _| voters.contains(v));
    if watched.is_empty() {
        return;
    }
    let answers = n
        .probe(targets(watched.iter().copied()), PROBE_TIMEOUT)
        .await;
    let now = Instant::now();
    let patience = VOTER_REPLACE_AFTER.max(n.node_timeout() * 4);
    let mut silent = None;
    for v in &watched {
        let since = seen.entry(raft_id(&v.id)).or_insert(now);
        if matches!(answers.get(&v.id), Some(Some(_))) {
            *since = now;
        } else if now.duration_since(*since) >= patience && silent.is_none() {
            silent = Some(*v);
        }
    }
    let Some(dead) = silent else { return };
    let learners = n.learners();
    let candidates: Vec<&Node> = t
        .nodes
        .iter()
        .filter(|m| learners.contains(&raft_id(&m.id)))
        .collect();
    if candidates.is_empty() {
        return;
    }
    let answered = n
        .probe(targets(candidates.iter().copied()), PROBE_TIMEOUT)
        .await;
    // Another zone than the remaining voters' first, so the votes stay spread.
    let voter_zones: Vec<&Option<String>> = watched
        .iter()
        .filter(|v| v.id != dead.id)
        .map(|v| &v.zone)
        .chain(std::iter::once(&n.spec.zone))
        .collect();
    let Some(heir) = candidates
        .iter()
        .filter(|c| matches!(answered.get(&c.id), Some(Some(_))))
        .min_by_key(|c| voter_zones.contains(&&c.zone))
    else {
        return;
    };
    tracing::warn!(
        voter = %dead.id,
        learner = %heir.id,
        silent_ms = now.duration_since(seen[&raft_id(&dead.id)]).as_millis() as u64,
        "raft voter unreachable: its vote goes to a learner that answers"
    );
    match n.replace_voter(raft_id(&dead.id), raft_id(&heir.id)).await {
        Ok(()) => {
            seen.remove(&raft_id(&dead.id));
        }
        Err(e) => tracing::warn!(error = %e, "voter replacement not committed"),
    }
}

/// Replica migration, one step of the leader's watch: a primary orphaned for
/// [`replica_migration::ORPHAN_DELAY`] gets a replica from a shard that can spare one
/// (see [`replica_migration`]). One move per round: the next round sees its effect.
async fn migrate_a_replica<T: Transport>(
    n: &ClusterNode<T>,
    t: &Topology,
    answering: &(dyn Fn(&str) -> bool + Sync),
    barrier: usize,
    orphaned_since: &mut HashMap<String, Instant>,
    now: Instant,
) {
    let orphans = replica_migration::orphaned(t, answering);
    orphaned_since.retain(|id, _| orphans.iter().any(|o| &o.id == id));
    for orphan in orphans {
        let since = *orphaned_since.entry(orphan.id.clone()).or_insert(now);
        if now.duration_since(since) < replica_migration::ORPHAN_DELAY {
            continue;
        }
        let Some(replica) = replica_migration::donor(t, orphan, answering, barrier) else {
            continue;
        };
        tracing::warn!(
            primary = %orphan.id,
            replica = %replica.id,
            barrier,
            "primary without an answering replica: migrating a replica to it"
        );
        let moved = n
            .change(Change::Replicate {
                id: replica.id.clone(),
                of: orphan.id.clone(),
            })
            .await;
        match moved {
            Ok(()) => {
                orphaned_since.remove(&orphan.id);
            }
            Err(e) => tracing::warn!(error = %e, "replica migration not committed"),
        }
        return;
    }
}

/// Renews the node's lease every [`RENEW_EVERY`] from a read-index round trip (see
/// [`crate::lease`]). Ends when the node is dropped or its Raft stops.
async fn keep_lease<T: Transport>(node: std::sync::Weak<ClusterNode<T>>) {
    let mut held = false;
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.raft.metrics().borrow().running_state.is_err() {
            return;
        }
        // Read before asking: the proof can only be younger than this.
        let asked = Instant::now();
        match tokio::time::timeout(RENEW_TIMEOUT, n.prove_current()).await {
            Ok(Ok(via)) => {
                n.lease.renew(asked);
                if held {
                    tracing::trace!(%via, "serving lease renewed");
                } else {
                    tracing::info!(%via, "serving lease obtained");
                }
            }
            Ok(Err(e)) => tracing::trace!(error = %e, "lease not renewed"),
            Err(_) => tracing::trace!("lease proof timed out"),
        }
        let valid = n.lease.is_valid();
        if held && !valid {
            tracing::warn!("serving lease lost: no proof from a majority for a lease period");
        }
        held = valid;
        drop(n);
        tokio::time::sleep(RENEW_EVERY).await;
    }
}
