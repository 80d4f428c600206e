//! The topology state machine replicated by Raft (openraft).
//!
//! Every node runs a [`Raft`] whose log carries [`Change`]s and whose state machine is a
//! [`ClusterState`]: a change is in effect once the majority has it, and every node applies
//! the same sequence, so there is one agreed slot table and never two owners of a slot.
//! Raft's own messages go through a [`Transport`], so tests run many nodes in one process
//! over [`MemTransport`] and cut links between them.
//!
//! The log and the state machine are kept in memory here (persistence under `--dir` comes
//! with the node integration).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
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

use crate::state::{Change, ChangeError, ClusterState};

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

/// The in-memory log and state machine of one node.
#[derive(Default)]
pub struct Store {
    vote: RwLock<Option<Vote<NodeId>>>,
    log: RwLock<BTreeMap<u64, Entry<TypeConfig>>>,
    last_purged: RwLock<Option<LogId<NodeId>>>,
    machine: RwLock<Machine>,
    snapshot: RwLock<Option<StoredSnapshot>>,
}

impl Store {
    /// The cluster state as applied so far.
    pub async fn state(&self) -> ClusterState {
        self.machine.read().await.state.clone()
    }

    /// The index of the last log entry applied.
    pub async fn last_applied(&self) -> Option<u64> {
        self.machine.read().await.last_applied.map(|l| l.index)
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
        Ok(())
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
        Ok(())
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        *self.last_purged.write().await = Some(log_id);
        let mut log = self.log.write().await;
        let keep = log.split_off(&(log_id.index + 1));
        *log = keep;
        Ok(())
    }

    async fn append_to_log<I>(&mut self, entries: I) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
    {
        let mut log = self.log.write().await;
        for e in entries {
            log.insert(e.log_id.index, e);
        }
        Ok(())
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry<TypeConfig>],
    ) -> Result<Vec<Applied>, StorageError<NodeId>> {
        let mut m = self.machine.write().await;
        let mut out = Vec::with_capacity(entries.len());
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
        *self.machine.write().await = machine;
        *self.snapshot.write().await = Some((meta.clone(), data));
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

/// The node could not be reached (link down, connection refused, timeout).
#[derive(Debug, Clone, thiserror::Error)]
#[error("node {0} is unreachable")]
pub struct LinkDown(pub NodeId);

/// How Raft messages reach another node: the cluster bus implements it over TCP; tests use
/// [`MemTransport`], which can cut links.
pub trait Transport: Clone + Send + Sync + 'static {
    fn send(
        &self,
        from: NodeId,
        to: NodeId,
        request: RaftRequest,
    ) -> impl std::future::Future<Output = Result<RaftResponse, LinkDown>> + Send;
}

/// Delivers a request to a local Raft instance (what a bus server does on receipt).
pub async fn deliver(raft: &Raft, request: RaftRequest) -> RaftResponse {
    match request {
        RaftRequest::Append(r) => RaftResponse::Append(raft.append_entries(r).await),
        RaftRequest::Vote(r) => RaftResponse::Vote(raft.vote(r).await),
        RaftRequest::Snapshot(r) => RaftResponse::Snapshot(raft.install_snapshot(r).await),
    }
}

/// Every node of a test cluster in one process, with links that can be cut.
#[derive(Clone, Default)]
pub struct MemTransport {
    inner: Arc<std::sync::Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    nodes: BTreeMap<NodeId, Raft>,
    cut: HashSet<(NodeId, NodeId)>,
}

impl MemTransport {
    pub fn register(&self, id: NodeId, raft: Raft) {
        self.inner
            .lock()
            .expect("transport lock")
            .nodes
            .insert(id, raft);
    }

    /// Cuts (or restores) both directions between `a` and `b`.
    pub fn set_link(&self, a: NodeId, b: NodeId, up: bool) {
        let mut inner = self.inner.lock().expect("transport lock");
        for pair in [(a, b), (b, a)] {
            if up {
                inner.cut.remove(&pair);
            } else {
                inner.cut.insert(pair);
            }
        }
    }
}

impl Transport for MemTransport {
    async fn send(
        &self,
        from: NodeId,
        to: NodeId,
        request: RaftRequest,
    ) -> Result<RaftResponse, LinkDown> {
        let target = {
            let inner = self.inner.lock().expect("transport lock");
            if inner.cut.contains(&(from, to)) {
                None
            } else {
                inner.nodes.get(&to).cloned()
            }
        };
        match target {
            Some(raft) => Ok(deliver(&raft, request).await),
            None => Err(LinkDown(to)),
        }
    }
}

/// openraft's network factory over a [`Transport`].
pub struct Network<T: Transport> {
    pub from: NodeId,
    pub transport: T,
}

pub struct Link<T: Transport> {
    from: NodeId,
    to: NodeId,
    transport: T,
}

impl<T: Transport> Link<T> {
    async fn call<E: std::error::Error>(
        &self,
        request: RaftRequest,
    ) -> Result<RaftResponse, RPCError<NodeId, BasicNode, E>> {
        self.transport
            .send(self.from, self.to, request)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }
}

impl<T: Transport> RaftNetworkFactory<TypeConfig> for Network<T> {
    type Network = Link<T>;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        Link {
            from: self.from,
            to: target,
            transport: self.transport.clone(),
        }
    }
}

/// A reply that does not match its request: the peer speaks another protocol.
#[derive(Debug, thiserror::Error)]
#[error("node {0} answered a different message")]
struct Mismatch(NodeId);

impl<T: Transport> RaftNetwork<TypeConfig> for Link<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(RaftRequest::Append(rpc)).await? {
            RaftResponse::Append(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(self.to)))),
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
        match self.call(RaftRequest::Snapshot(rpc)).await? {
            RaftResponse::Snapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(self.to)))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(RaftRequest::Vote(rpc)).await? {
            RaftResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
            }
            _ => Err(RPCError::Unreachable(Unreachable::new(&Mismatch(self.to)))),
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

/// Starts one node's Raft over `transport`; returns it with its store (to read the state).
pub async fn start<T: Transport>(
    id: NodeId,
    transport: T,
) -> Result<(Raft, Arc<Store>), openraft::error::Fatal<NodeId>> {
    let store = Arc::new(Store::default());
    let (log, machine) = openraft::storage::Adaptor::new(store.clone());
    let network = Network {
        from: id,
        transport,
    };
    let raft = Raft::new(id, config(), network, log, machine).await?;
    Ok((raft, store))
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
