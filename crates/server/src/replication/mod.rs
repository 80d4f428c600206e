//! Replication, the replica side: `REPLICAOF host port` makes this node follow a primary —
//! a real redis-server or another node — with Redis's protocol: a handshake (`PING`,
//! `AUTH`, `REPLCONF listening-port / capa`), `PSYNC` with a full resync (the primary's RDB,
//! as a sized bulk or in the disk-less EOF-marker form) or a partial one (`+CONTINUE`) after
//! a broken link, then the primary's stream of write commands, applied in order as the
//! primary's client, with `REPLCONF ACK <offset>` every second and on `REPLCONF GETACK`.
//!
//! While it follows a primary the node refuses writes from its own clients
//! (`replica-read-only`, READONLY) and leaves expiry to the primary, whose DELs arrive in the
//! stream ([`store::expiry`]); it neither evicts nor runs the active expiry cycle.
//! `REPLICAOF NO ONE` makes it a primary again with the data it has, keeping the old
//! replication id as `master_replid2` (PSYNC2's second id).
//!
//! Invariant: at most one link task runs; a task whose generation is no longer the current
//! one stops at its next step, so REPLICAOF never has two links feeding one keyspace.

pub mod audit;
pub mod failover;
pub mod link;
pub mod log;
pub mod primary;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// The 40 zeros Redis shows for an unset replication id.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// Where the link to the primary is (ROLE's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting to (re)connect.
    Connect,
    Connecting,
    /// Handshake done, receiving the primary's snapshot.
    Sync,
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What INFO replication and ROLE show, and what a reconnecting link resumes from.
#[derive(Debug)]
pub struct State {
    /// The primary this node follows, if any.
    pub master: Option<(String, u16)>,
    pub link: LinkState,
    /// The history this node's data belongs to, and how far into it the data is.
    pub replid: String,
    pub offset: u64,
    /// The previous history (PSYNC2), valid up to `second_offset` (-1: none).
    pub replid2: String,
    pub second_offset: i64,
    /// Whether `replid`/`offset` describe data received from a primary (a partial resync
    /// can be asked for), rather than this node's own history.
    pub resumable: bool,
    pub last_io: Instant,
    pub link_down_since: Option<Instant>,
    /// A full sync in progress: bytes expected (0 when the EOF-marker form does not say)
    /// and bytes read so far.
    pub sync_total: u64,
    pub sync_read: u64,
    /// The primary's stream kept while a dual-channel sync loads its snapshot (now, and the
    /// most there ever was: INFO's `replica_full_sync_buffer_size` / `_peak`, Valkey's).
    pub full_sync_buffer: u64,
    pub full_sync_buffer_peak: u64,
    /// The last reason the link failed, for INFO and the log.
    pub last_error: Option<String>,
    pub full_syncs: u64,
    pub partial_syncs: u64,
    /// Resyncs this node served as a primary (INFO `sync_full`, `sync_partial_ok`) and
    /// partial ones it had to refuse (`sync_partial_err`).
    pub full_syncs_served: u64,
    pub partial_syncs_served: u64,
    pub partial_syncs_refused: u64,
}

pub struct Replication {
    state: Mutex<State>,
    /// Bumped by every REPLICAOF; a link task of another generation stops.
    generation: AtomicU64,
    /// Set while following a primary (read on every command: kept outside the lock).
    replica: AtomicBool,
    /// A FAILOVER under way (see [`failover`]).
    pub failover: Mutex<Option<failover::Plan>>,
    /// The consistency audit's hold on the stream and its findings (see [`audit`]).
    pub audit: audit::Audit,
}

impl Replication {
    pub fn new(replid: String) -> Replication {
        Replication {
            state: Mutex::new(State {
                master: None,
                link: LinkState::Connect,
                replid,
                offset: 0,
                replid2: NO_REPLID.into(),
                second_offset: -1,
                resumable: false,
                last_io: Instant::now(),
                link_down_since: None,
                sync_total: 0,
                sync_read: 0,
                full_sync_buffer: 0,
                full_sync_buffer_peak: 0,
                last_error: None,
                full_syncs: 0,
                partial_syncs: 0,
                full_syncs_served: 0,
                partial_syncs_served: 0,
                partial_syncs_refused: 0,
            }),
            generation: AtomicU64::new(0),
            replica: AtomicBool::new(false),
            failover: Mutex::new(None),
            audit: audit::Audit::new(),
        }
    }

    /// True while this node follows a primary.
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Follows `host:port` from now on; the new link's generation, or `None` when this node
    /// already follows that primary.
    pub fn follow(&self, host: &str, port: u16) -> Option<u64> {
        let mut s = self.state.lock();
        if s.master
            .as_ref()
            .is_some_and(|(h, p)| h == host && *p == port)
        {
            return None;
        }
        s.master = Some((host.to_string(), port));
        s.link = LinkState::Connect;
        s.link_down_since = Some(Instant::now());
        s.last_error = None;
        self.replica.store(true, Ordering::SeqCst);
        Some(self.generation.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Stops following (REPLICAOF NO ONE): the data stays, under a new replication id; the
    /// old one becomes `replid2`, valid up to the offset reached.
    pub fn promote(&self) -> bool {
        let mut s = self.state.lock();
        if s.master.take().is_none() {
            return false;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.replica.store(false, Ordering::SeqCst);
        s.replid2 = std::mem::replace(&mut s.replid, random_replid());
        s.second_offset = s.offset as i64 + 1;
        s.link = LinkState::Connect;
        s.link_down_since = None;
        true
    }
}

/// In a cluster, keeps this node's replication in line with its role in the agreed
/// topology: a replica follows its shard's primary (a full or partial resync, then the
/// stream); a primary stops following and starts its own history (PSYNC2: its replicas,
/// the old primary among them, continue with a partial resync when they can).
pub async fn follow_cluster_role(shared: std::sync::Arc<crate::Shared>) {
    let Some(cluster) = shared.cluster.clone() else {
        return;
    };
    loop {
        match cluster.my_primary() {
            Some(p) if p.id != cluster.myid => {
                let repl = &shared.replication;
                let following = repl.state().master.clone();
                // With `tls-replication yes` the primary's TLS port (Redis's
                // getNodeDefaultReplicationPort).
                let tls = crate::tlsconf::for_replication(&shared.live);
                let port = crate::cluster::client_port(&p, tls);
                if following != Some((p.host.clone(), port)) {
                    primary::relay_upstream(&shared);
                    if let Some(generation) = repl.follow(&p.host, port) {
                        tracing::info!(primary = %p.id, host = %p.host, port, "cluster: replicating the shard's primary");
                        link::start(&shared, generation);
                    }
                }
            }
            _ => {
                if shared.replication.promote() {
                    primary::became_primary(&shared);
                    tracing::info!("cluster: this node is its shard's primary now");
                }
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = cluster.role_changed.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
}

/// CLUSTER FAILOVER's hand-over without loss, run on the replica: the primary pauses its
/// writers (`CLIENT PAUSE ... WRITE`, as Redis's manual failover), this replica waits until
/// it has applied everything the primary wrote, and the caller then commits the promotion.
/// The pause ends by itself after a few seconds (the paused writers, let go, are redirected
/// to the new primary).
pub async fn manual_failover(
    shared: &crate::Shared,
    primary: &placement::topology::Node,
) -> Result<(), String> {
    const PAUSE_MS: u64 = 5000;
    let addr = crate::peer::member_addr(shared, primary);
    let mut peer = crate::peer::connect_member(shared, primary)
        .await
        .map_err(|e| format!("cannot reach the primary at {addr}: {e} (CLUSTER FAILOVER FORCE promotes without it)"))?;
    let paused = peer
        .call(&["CLIENT", "PAUSE", &PAUSE_MS.to_string(), "WRITE"])
        .await
        .map_err(|e| e.to_string())?;
    paused.map_err(|e| format!("the primary refused to pause its writers: {e}"))?;
    let role = peer
        .call(&["ROLE"])
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the primary refused ROLE: {e}"))?;
    let target = match role {
        resp::Frame::Array(items) => match items.get(1) {
            Some(resp::Frame::Integer(o)) => *o as u64,
            _ => return Err("the primary's ROLE reply has no offset".into()),
        },
        _ => return Err("the primary's ROLE reply is not an array".into()),
    };
    let deadline = Instant::now() + std::time::Duration::from_millis(PAUSE_MS);
    loop {
        let reached = shared.replication.state().offset;
        if reached >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "Manual failover timed out: the replica reached offset {reached} of the primary's {target}"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The offset of this node's history: its stream's end as a primary, what it applied as a
/// replica.
pub fn master_offset(shared: &crate::Shared) -> u64 {
    if shared.repl_log.is_active() {
        shared.repl_log.offset()
    } else {
        shared.replication.state().offset
    }
}

/// INFO's `# Replication` section, with Redis 7.0's fields.
pub fn info(shared: &crate::Shared, backlog_size: &str, read_only: bool, o: &mut String) {
    let offset = master_offset(shared);
    let replicas = shared.replicas.all();
    let log = &shared.repl_log;
    let failover_state = failover::state_name(shared);
    let s = shared.replication.state();
    o.push_str("# Replication\r\n");
    if let Some((host, port)) = &s.master {
        let up = s.link == LinkState::Connected;
        let _ = write!(
            o,
            "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n",
            if up { "up" } else { "down" },
            if up { s.last_io.elapsed().as_secs() as i64 } else { -1 },
            u8::from(s.link == LinkState::Sync),
        );
        if s.link == LinkState::Sync {
            let left = s.sync_total.saturating_sub(s.sync_read);
            let perc = if s.sync_total > 0 {
                s.sync_read as f64 * 100.0 / s.sync_total as f64
            } else {
                0.0
            };
            let _ = write!(
                o,
                "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                if s.sync_total > 0 { s.sync_total as i64 } else { -1 },
                s.sync_read,
                if s.sync_total > 0 { left as i64 } else { -1 },
                s.last_io.elapsed().as_secs()
            );
        }
        if !up {
            let down = s
                .link_down_since
                .map_or(-1, |t| t.elapsed().as_secs() as i64);
            let _ = write!(o, "master_link_down_since_seconds:{down}\r\n");
        }
        let audit = &shared.replication.audit;
        let rounds = audit.rounds.load(Ordering::Relaxed);
        if rounds > 0 {
            // Only with --replica-digest-interval (see `audit`).
            let _ = write!(
                o,
                "replica_digest_audits:{rounds}\r\nreplica_digest_mismatch:{}\r\n",
                audit.mismatched_slots.load(Ordering::Relaxed)
            );
        }
        if s.full_sync_buffer_peak > 0 {
            // Only after a dual-channel sync (a Shard-Cache primary): Valkey's fields.
            let _ = write!(
                o,
                "replica_full_sync_buffer_size:{}\r\nreplica_full_sync_buffer_peak:{}\r\n",
                s.full_sync_buffer, s.full_sync_buffer_peak
            );
        }
        let _ = write!(
            o,
            "slave_read_repl_offset:{off}\r\nslave_repl_offset:{off}\r\nslave_priority:100\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
            u8::from(read_only),
            off = s.offset
        );
    } else {
        o.push_str("role:master\r\n");
    }
    let _ = write!(o, "connected_slaves:{}\r\n", replicas.len());
    let t = &shared.live.tunables;
    let (min, lag) = (
        t.min_replicas_to_write.load(Ordering::Relaxed),
        t.min_replicas_max_lag.load(Ordering::Relaxed),
    );
    if min > 0 && lag > 0 {
        let _ = write!(
            o,
            "min_slaves_good_slaves:{}\r\n",
            shared.replicas.good(lag as u64)
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        let ack = r.ack.load(Ordering::Relaxed);
        let lag = r.last_ack.lock().elapsed().as_secs();
        let _ = write!(
            o,
            "slave{i}:ip={},port={},state={},offset={ack},lag={lag}\r\n",
            r.ip,
            r.port,
            r.state.lock()
        );
    }
    let (active, first, histlen) = if log.is_active() {
        let (start, len) = log.window();
        (1, start + 1, len)
    } else {
        (0, 0, 0)
    };
    let _ = write!(
        o,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{active}\r\nrepl_backlog_size:{backlog_size}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n",
        failover_state, s.replid, s.replid2, s.second_offset
    );
}

/// A fresh replication id: 40 random hex digits.
pub fn random_replid() -> String {
    (0..40)
        .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).expect("hex digit"))
        .collect()
}
