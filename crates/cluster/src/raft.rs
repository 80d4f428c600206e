//! The topology state machine replicated by Raft (openraft).
//!
//! Every node runs a [`Raft`] whose log carries [`Change`]s and whose state machine is a
//! [`ClusterState`]: a change is in effect once the majority has it, and every node applies
//! the same sequence, so there is one agreed slot table and never two owners of a slot.
//! Raft's own messages go through a [`Transport`], so tests run many nodes in one process
//! over [`crate::mem::MemTransport`] and inject faults between them.
//!
//! The [`Store`] keeps the log and the state machine in memory and, given a directory
//! (`--dir`), on disk as well, so a restarted node resumes where it stopped.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{LogState, RaftLogReader, RaftSnapshotBuilder, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftNetwork, RaftNetworkFactory,
    RaftStorage, RaftTypeConfig, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
    Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::state::{Change, ChangeError, ClusterState, NodeSpec};

pub type NodeId = u64;

/// What applying a change answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied(pub Result<(), ChangeError>);

openraft::declare_raft_types!(
    /// The cluster's Raft types: changes in, results out, nodes addressed by their bus address.
    pub TypeConfig:
        D = Change,
        R = Applied,
        Node = BasicNode,
);

pub type Raft = openraft::Raft<TypeConfig>;

/// The replicated state: the cluster state plus what Raft needs to resume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, BasicNode>,
    pub state: ClusterState,
}

/// The log and state machine of one node, in memory and, with a directory, on disk: every
/// change is written (whole, to a temporary file renamed over `raft.json`, fsynced) before
/// it is acknowledged, so a restarted node comes back with its vote, log and state. The
/// topology log is small (a few entries per membership change, compacted by snapshots), so
/// rewriting it whole is cheaper than it sounds and keeps recovery trivial.
pub struct Store {
    vote: RwLock<Option<Vote<NodeId>>>,
    log: RwLock<BTreeMap<u64, Entry<TypeConfig>>>,
    last_purged: RwLock<Option<LogId<NodeId>>>,
    machine: RwLock<Machine>,
    snapshot: RwLock<Option<StoredSnapshot>>,
    file: Option<PathBuf>,
    /// The applied state, for whoever serves from it (the node's cluster view).
    published: tokio::sync::watch::Sender<ClusterState>,
}

/// What `raft.json` holds.
#[derive(Serialize, Deserialize, Default)]
struct OnDisk {
    vote: Option<Vote<NodeId>>,
    log: Vec<Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    machine: Machine,
    snapshot: Option<StoredSnapshot>,
}

impl Store {
    /// A store kept in memory only.
    pub fn in_memory() -> Store {
        Store::from_disk(OnDisk::default(), None)
    }

    /// A store persisted under `dir` (created if missing), loaded from it if present.
    pub fn open(dir: &std::path::Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let file = dir.join("raft.json");
        let disk = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::default(),
            Err(e) => return Err(e),
        };
        Ok(Store::from_disk(disk, Some(file)))
    }

    fn from_disk(disk: OnDisk, file: Option<PathBuf>) -> Store {
        let (published, _) = tokio::sync::watch::channel(disk.machine.state.clone());
        Store {
            vote: RwLock::new(disk.vote),
            log: RwLock::new(disk.log.into_iter().map(|e| (e.log_id.index, e)).collect()),
            last_purged: RwLock::new(disk.last_purged),
            machine: RwLock::new(disk.machine),
            snapshot: RwLock::new(disk.snapshot),
            file,
            published,
        }
    }

    /// Whether this store holds any Raft state (a restarted member, not a new node).
    pub async fn has_state(&self) -> bool {
        self.vote.read().await.is_some() || !self.log.read().await.is_empty()
    }

    /// The cluster state as applied so far.
    pub async fn state(&self) -> ClusterState {
        self.machine.read().await.state.clone()
    }

    /// Follows the applied state: the receiver sees every new state (at least the latest).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<ClusterState> {
        self.published.subscribe()
    }

    /// The index of the last log entry applied.
    pub async fn last_applied(&self) -> Option<u64> {
        self.machine.read().await.last_applied.map(|l| l.index)
    }

    /// Writes everything to disk (no-op in memory). Called after each change, with no lock
    /// held.
    async fn save(&self) -> Result<(), StorageError<NodeId>> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let disk = OnDisk {
            vote: *self.vote.read().await,
            log: self.log.read().await.values().cloned().collect(),
            last_purged: *self.last_purged.read().await,
            machine: self.machine.read().await.clone(),
            snapshot: self.snapshot.read().await.clone(),
        };
        let bytes = serde_json::to_vec(&disk).map_err(|e| StorageIOError::write(&e))?;
        let tmp = file.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, file)
        };
        write().map_err(|e| StorageIOError::write(&e).into())
    }
}

/// The last snapshot taken or installed: its metadata and bytes.
type StoredSnapshot = (SnapshotMeta<NodeId, BasicNode>, Vec<u8>);

impl RaftLogReader<TypeConfig> for Arc<Store> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(self
            .log
            .read()
            .await
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Arc<Store> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let machine = self.machine.read().await.clone();
        let data =
            serde_json::to_vec(&machine).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let snapshot_id = match machine.last_applied {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".into(),
        };
        let meta = SnapshotMeta {
            last_log_id: machine.last_applied,
            last_membership: machine.membership.clone(),
            snapshot_id,
        };
        *self.snapshot.write().await = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStorage<TypeConfig> for Arc<Store> {
    type LogReader = Self;
    type SnapshotBuilder = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged = *self.last_purged.read().await;
        let last = self
            .log
            .read()
            .await
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        *self.vote.write().await = Some(*vote);
        self.save().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(*self.vote.read().await)
    }

    async fn last_applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let m = self.machine.read().await;
        Ok((m.last_applied, m.membership.clone()))
    }

    async fn delete_conflict_logs_since(
        &mut self,
        log_id: LogId<NodeId>,
    ) -> Result<(), StorageError<NodeId>> {
        self.log.write().await.split_off(&log_id.index);
        self.save().await
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        *self.last_purged.write().await = Some(log_id);
        {
            let mut log = self.log.write().await;
            let keep = log.split_off(&(log_id.index + 1));
            *log = keep;
        }
        self.save().await
    }

    async fn append_to_log<I>(&mut self, entries: I) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
    {
        {
            let mut log = self.log.write().await;
            for e in entries {
                log.insert(e.log_id.index, e);
            }
        }
        self.save().await
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry<TypeConfig>],
    ) -> Result<Vec<Applied>, StorageError<NodeId>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut m = self.machine.write().await;
        for e in entries {
            m.last_applied = Some(e.log_id);
            match &e.payload {
                EntryPayload::Blank => out.push(Applied(Ok(()))),
                EntryPayload::Normal(change) => out.push(Applied(m.state.apply(change))),
                EntryPayload::Membership(mem) => {
                    m.membership = StoredMembership::new(Some(e.log_id), mem.clone());
                    out.push(Applied(Ok(())));
                }
            }
        }
        let state = m.state.clone();
        drop(m);
        self.save().await?;
        self.published.send_replace(state);
        Ok(out)
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<<TypeConfig as RaftTypeConfig>::SnapshotData>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<<TypeConfig as RaftTypeConfig>::SnapshotData>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let machine: Machine = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let state = machine.state.clone();
        *self.machine.write().await = machine;
        *self.snapshot.write().await = Some((meta.clone(), data));
        self.save().await?;
        self.published.send_replace(state);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self
            .snapshot
            .read()
            .await
            .as_ref()
            .map(|(meta, data)| Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(data.clone())),
            }))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }
}

/// A Raft message for another node (serializable: the cluster bus carries it as bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RaftRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

/// The other node's answer (its own Raft errors included).
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
}

/// Everything the cluster bus carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BusRequest {
    /// A Raft message for the member whose Raft id is `to`. A node refuses one addressed
    /// to another id: a cluster that still lists a node which is gone (killed, removed
    /// while away) keeps sending to its address, and a new node there — of another
    /// cluster — must not take those appends (openraft panics on a log that is not its).
    Raft { to: NodeId, request: RaftRequest },
    /// "What is your commit index, confirmed by a quorum now?": a member renewing its
    /// serving lease asks the leader (see [`crate::lease`]); `id` is the asking node's.
    ReadIndex { id: String },
    /// "Who are you?": CLUSTER MEET asks the new node for its identity before proposing it.
    Hello,
    /// Add this node (handled by the leader; other nodes forward it there).
    Join(NodeSpec),
    /// Remove the node with this id (likewise).
    Leave { id: String },
    /// Commit a change that touches only the topology (a failover, the replica count), on
    /// the leader (likewise).
    Change(Change),
    /// "When did you last accept an append from each leader?" (a new leader asks the voters,
    /// to bound the leases earlier leaders may have given: `ClusterNode::lease_left`).
    LeaderAcks,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum BusResponse {
    Raft(RaftResponse),
    /// The node's identity and whether it already belongs to a cluster.
    Hello {
        spec: NodeSpec,
        member: bool,
        /// How far the node's data has come in its shard's replication history (a failover
        /// promotes the replica that has come furthest).
        #[serde(default)]
        repl_offset: u64,
    },
    /// The outcome of a join or leave: an error says why nothing changed.
    Done(Result<(), String>),
    /// The leader's confirmed commit index (`None`: nothing committed yet), or why it has
    /// none to give (not the leader, the asker is not a member).
    ReadIndex(Result<Option<u64>, ReadIndexRefused>),
    /// Per leader (Raft id): milliseconds since this node last accepted an append from it.
    LeaderAcks(Vec<(NodeId, u64)>),
}

/// Why a leader gave no read index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ReadIndexRefused {
    #[error("not the leader: {0}")]
    NotLeader(String),
    /// The asking node is not in the topology the answering node applied, at this epoch
    /// (it was removed, or has not finished joining).
    #[error("this node is not a member of the cluster (epoch {epoch})")]
    NotAMember { epoch: u64 },
}

/// The node at a bus address could not be reached (link down, refused, timeout).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot reach the cluster bus at {0}")]
pub struct LinkDown(pub String);

/// A boxed, sendable future (what a [`Transport`] returns; boxing breaks the type cycle of
/// a node forwarding a request through the transport to another node's handler).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How bus messages reach another node, by its bus address: the cluster bus implements it
/// over TCP; tests use [`crate::mem::MemTransport`], which injects faults.
pub trait Transport: Clone + Send + Sync + 'static {
    fn send(
        &self,
        from: &str,
        to: &str,
        request: BusRequest,
    ) -> BoxFuture<Result<BusResponse, LinkDown>>;
}

/// Delivers a Raft message to a local Raft instance. (Appends renew no lease: a message
/// can sit in a buffer for any time, see [`crate::lease`].)
pub async fn deliver(raft: &Raft, request: RaftRequest) -> RaftResponse {
    match request {
        RaftRequest::Append(r) => RaftResponse::Append(raft.append_entries(r).await),
        RaftRequest::Vote(r) => RaftResponse::Vote(raft.vote(r).await),
        RaftRequest::Snapshot(r) => RaftResponse::Snapshot(raft.install_snapshot(r).await),
    }
}

/// openraft's network factory over a [`Transport`].
pub struct Network<T: Transport> {
    pub from: String,
    pub transport: T,
}

pub struct Link<T: Transport> {
    target: NodeId,
    from: String,
    to: String,
    transport: T,
}

impl<T: Transport> Link<T> {
    async fn call<E: std::error::Error>(
        &self,
        request: RaftRequest,
    ) -> Result<RaftResponse, RPCError<NodeId, BasicNode, E>> {
        let request = BusRequest::Raft {
            to: self.target,
            request,
        };
        match self.transport.send(&self.from, &self.to, request).await {
            Ok(BusResponse::Raft(r)) => Ok(r),
            Ok(_) => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(
                self.to.clone(),
            )))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

impl<T: Transport> RaftNetworkFactory<TypeConfig> for Network<T> {
    type Network = Link<T>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        Link {
            target,
            from: self.from.clone(),
            to: node.addr.clone(),
            transport: self.transport.clone(),
        }
    }
}

/// A reply that does not match its request: the peer speaks another protocol.
#[derive(Debug, thiserror::Error)]
#[error("{0} answered a different message")]
struct Mismatch(String);

impl<T: Transport> RaftNetwork<TypeConfig> for Link<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let to = self.to.clone();
        match self.call(RaftRequest::Append(rpc)).await? {
            RaftResponse::Append(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(to)))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let to = self.to.clone();
        match self.call(RaftRequest::Snapshot(rpc)).await? {
            RaftResponse::Snapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(to)))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let to = self.to.clone();
        match self.call(RaftRequest::Vote(rpc)).await? {
            RaftResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(to)))),
        }
    }
}

/// Timing for a cluster on one machine or a LAN: heartbeats every 50 ms, elections after
/// 150-300 ms of silence.
pub fn config() -> Arc<openraft::Config> {
    Arc::new(
        openraft::Config {
            cluster_name: "shardcache".into(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            ..Default::default()
        }
        .validate()
        .expect("valid raft config"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the cluster bus will carry survives a round trip through bytes.
    #[test]
    fn messages_serialize() {
        let vote = RaftRequest::Vote(VoteRequest::new(Vote::new(3, 1), None));
        let bytes = serde_json::to_vec(&vote).unwrap();
        let back: RaftRequest = serde_json::from_slice(&bytes).unwrap();
        assert!(matches!(back, RaftRequest::Vote(v) if v.vote == Vote::new(3, 1)));
        let change = Change::Leave { id: "a".repeat(40) };
        let bytes = serde_json::to_vec(&change).unwrap();
        assert_eq!(serde_json::from_slice::<Change>(&bytes).unwrap(), change);
    }
}
