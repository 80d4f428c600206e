//! A complete cluster member: the node (`server`) glued to its Raft (`cluster`). The server
//! crate knows nothing of Raft; this crate hands it a `server::cluster::ClusterState` that it
//! keeps current (the agreed topology, the serving lease) and the membership operations
//! CLUSTER MEET / FORGET call.
//!
//! Generic over the cluster bus ([`Bus`]): the binary runs members over the authenticated TCP
//! bus ([`run_tcp`]); tests run several complete members in one process over
//! `cluster::mem::MemTransport`, whose filters inject faults ([`run`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cluster::auth::BusSecret;
use cluster::bus::{serve, TcpTransport};
use cluster::mem::MemTransport;
use cluster::raft::{Store, Transport};
use cluster::{ClusterNode, NodeSpec};
use server::cluster::{BoxFuture, ClusterState as View, Control, SlotChange};
use server::Config;
use tokio::net::TcpListener;

// The server waits `GRACE` before serving gained slots; it must be the cluster's wait, which
// is longer than any lease (the server crate cannot import it).
const _: () =
    assert!(server::cluster::GRACE.as_millis() == cluster::lease::GAINED_SLOT_WAIT.as_millis());

/// How a member is started.
pub struct MemberOptions {
    /// A member's client address (`host:port`) to join; none = bootstrap a new cluster
    /// (or resume, when `dir` holds the state of a previous run).
    pub join: Option<String>,
    /// Neither join nor bootstrap: wait for a CLUSTER MEET.
    pub standby: bool,
    /// Where the node id and Raft state are kept.
    pub dir: Option<PathBuf>,
    /// The host other nodes and clients reach this node at.
    pub announce_ip: Option<String>,
}

/// How a member's cluster bus is reached: bound before the member starts (so it knows its
/// bus port), then handed the running member to serve.
pub trait Bus: Transport + Sized {
    type Listener: Send + 'static;
    /// Binds the bus at `bind:port` (port 0: any) and answers the port it got.
    fn bind(&self, bind: &str, port: u16) -> std::io::Result<(Self::Listener, u16)>;
    /// Serves `node`'s bus on `listener` (in the background).
    fn serve(&self, listener: Self::Listener, node: Arc<ClusterNode<Self>>);
}

impl Bus for TcpTransport {
    type Listener = std::net::TcpListener;

    fn bind(&self, bind: &str, port: u16) -> std::io::Result<(Self::Listener, u16)> {
        let l = std::net::TcpListener::bind((bind, port))?;
        l.set_nonblocking(true)?;
        let port = l.local_addr()?.port();
        Ok((l, port))
    }

    fn serve(&self, listener: Self::Listener, node: Arc<ClusterNode<Self>>) {
        match TcpListener::from_std(listener) {
            Ok(l) => {
                tokio::spawn(serve(l, node));
            }
            Err(e) => tracing::error!(error = %e, "cluster bus listener unusable"),
        }
    }
}

/// In-process members: a member is "bound" by taking a port number no other member of this
/// transport has, and served by registering it with the transport.
impl Bus for MemTransport {
    type Listener = ();

    fn bind(&self, _bind: &str, port: u16) -> std::io::Result<(Self::Listener, u16)> {
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(40000);
        let port = if port == 0 {
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        } else {
            port
        };
        Ok(((), port))
    }

    fn serve(&self, _listener: (), node: Arc<ClusterNode<Self>>) {
        self.register(node);
    }
}

struct RaftControl<T: Transport>(Arc<ClusterNode<T>>);

impl<T: Transport> Control for RaftControl<T> {
    fn meet(&self, host: String, bus_port: u16) -> BoxFuture<Result<String, String>> {
        let node = self.0.clone();
        Box::pin(async move { node.meet(&host, bus_port).await.map(|s| s.id) })
    }

    fn forget(&self, id: String) -> BoxFuture<Result<(), String>> {
        let node = self.0.clone();
        Box::pin(async move { node.leave(&id).await })
    }

    fn failover(&self, id: String) -> BoxFuture<Result<(), String>> {
        let node = self.0.clone();
        // A requested failover: the old primary may be alive and serving, so the new one
        // waits a full grace period.
        let change = cluster::Change::Failover {
            id,
            handover_ms: None,
        };
        Box::pin(async move { node.change(change).await })
    }

    fn replicate(&self, id: String, of: String) -> BoxFuture<Result<(), String>> {
        let node = self.0.clone();
        Box::pin(async move { node.change(cluster::Change::Replicate { id, of }).await })
    }

    fn slots(&self, change: SlotChange) -> BoxFuture<Result<(), String>> {
        use cluster::Change;
        let node = self.0.clone();
        let change = match change {
            SlotChange::Move { slots, to } => Change::MoveSlots { slots, to },
            SlotChange::Rebalance => Change::Rebalance,
            SlotChange::Drain { id } => Change::Drain { id },
            SlotChange::Commit { slots, to } => Change::CommitMove { slots, to },
            SlotChange::Cancel { slots } => Change::CancelMoves { slots },
            SlotChange::Pause { paused } => Change::PauseMoves { paused },
        };
        Box::pin(async move { node.change(change).await })
    }
}

/// The node id kept in `dir/node-id` (made on first start), or a fresh one without a dir.
fn node_id(dir: Option<&Path>) -> std::io::Result<String> {
    let Some(dir) = dir else {
        return Ok(server::cluster::random_id());
    };
    std::fs::create_dir_all(dir)?;
    let file = dir.join("node-id");
    match std::fs::read_to_string(&file) {
        Ok(id) => {
            let id = id.trim().to_string();
            if id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(id)
            } else {
                Err(std::io::Error::other(format!(
                    "{}: not a node id",
                    file.display()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = server::cluster::random_id();
            std::fs::write(&file, format!("{id}\n"))?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// The bus secret: `--cluster-secret`, else one derived from `requirepass`, else none.
fn bus_secret(config: &Config) -> Option<BusSecret> {
    match (&config.cluster_secret, &config.requirepass) {
        (Some(s), _) if !s.is_empty() => Some(BusSecret::new(s.as_bytes())),
        (_, Some(p)) if !p.is_empty() => Some(BusSecret::from_password(p)),
        _ => None,
    }
}

fn is_loopback(bind: &str) -> bool {
    bind == "localhost"
        || bind
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs a cluster member over the authenticated TCP cluster bus until `shutdown`: binds
/// the client port from `config` (what the binary does).
pub async fn run_tcp(
    config: Config,
    options: MemberOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let bus_tls = server::tlsconf::cluster_bus(&config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
        .map(|(acceptor, connector)| cluster::bus::BusTls {
            acceptor,
            connector,
        });
    // `--port 0` with a TLS port: no plaintext client port (a TLS-only member).
    let listener = if config.port == 0 && config.tls_port != 0 {
        None
    } else {
        Some(TcpListener::bind((config.bind.as_str(), config.port)).await?)
    };
    let bus_bind = config
        .cluster_bind
        .clone()
        .unwrap_or_else(|| config.bind.clone());
    let secret = bus_secret(&config);
    if secret.is_none() && !is_loopback(&bus_bind) {
        tracing::warn!(
            bind = %bus_bind,
            "the cluster bus is unauthenticated and reachable beyond this machine: set \
             --cluster-secret (or --requirepass, from which it is derived)"
        );
    }
    run(
        listener,
        config,
        options,
        TcpTransport::new(secret, bus_tls),
        shutdown,
    )
    .await
}

/// Runs a cluster member on the client `listener` (none: TLS only, on `config.tls_port`)
/// with its bus on `bus` until `shutdown`.
pub async fn run<B: Bus>(
    listener: Option<TcpListener>,
    config: Config,
    options: MemberOptions,
    bus: B,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let mut config = config;
    if config.extra_commands.is_empty() {
        // A complete member runs scripts (EVAL, FUNCTION, ...).
        config.extra_commands = scripting::handlers();
    }
    // TLS clients are sent to the TLS port (MOVED, CLUSTER SLOTS/SHARDS/NODES).
    let tls_port = match &config.tls_listener {
        Some(l) => l.local_addr()?.port(),
        None => config.tls_port,
    };
    // A TLS-only member announces its TLS port as its port too, and its bus is that port
    // + 10000 (as Redis does when `port` is 0).
    let port = match &listener {
        Some(l) => l.local_addr()?.port(),
        None => tls_port,
    };
    let bus_port = if config.cluster_port != 0 {
        config.cluster_port
    } else if listener.is_some() && config.port == 0 {
        0 // any free port, like the client port (tests)
    } else {
        port.checked_add(10000)
            .ok_or_else(|| std::io::Error::other("port + 10000 is no port: give --cluster-port"))?
    };
    let bus_bind = config
        .cluster_bind
        .clone()
        .unwrap_or_else(|| config.bind.clone());
    let (bus_listener, bus_port) = bus.bind(&bus_bind, bus_port)?;
    let host = options
        .announce_ip
        .clone()
        .unwrap_or_else(|| match config.bind.as_str() {
            "0.0.0.0" | "::" | "" => "127.0.0.1".to_string(),
            b => b.to_string(),
        });
    let id = node_id(options.dir.as_deref())?;
    let store = match &options.dir {
        Some(dir) => Store::open(dir)?,
        None => Store::in_memory(),
    };
    let resumed = store.has_state().await;
    let spec = NodeSpec {
        id: id.clone(),
        host: host.clone(),
        port,
        bus_port,
        tls_port,
        zone: config.cluster_zone.clone(),
        weight: (config.cluster_weight > 1).then_some(config.cluster_weight),
    };
    let node = ClusterNode::start(spec, store, bus.clone())
        .await
        .map_err(std::io::Error::other)?;
    bus.serve(bus_listener, node.clone());
    let view = Arc::new(View::new(id.clone(), &host, port, bus_port));
    view.set_control(Arc::new(RaftControl(node.clone())));
    let offsets = view.clone();
    node.set_offset_source(Arc::new(move || offsets.repl_offset()));
    let policy = view.clone();
    node.set_replica_migration_source(Arc::new(move || policy.replica_migration()));
    if config.cluster_node_timeout != 0 {
        node.set_node_timeout(Duration::from_millis(config.cluster_node_timeout));
    }
    tokio::spawn(follow(node.clone(), view.clone()));
    tracing::info!(id = %id, bus_port, resumed, "cluster member starting");
    if !resumed && !options.standby {
        match options.join.clone() {
            Some(seed) => {
                let tls = server::tlsconf::member_connector(&config)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let password = config.requirepass.clone();
                tokio::spawn(join(seed, host, port, bus_port, password, tls));
            }
            None => {
                node.bootstrap().await.map_err(std::io::Error::other)?;
                if config.cluster_replicas > 0 {
                    node.change(cluster::Change::SetReplicas {
                        replicas: config.cluster_replicas,
                    })
                    .await
                    .map_err(std::io::Error::other)?;
                }
            }
        }
    }
    if resumed {
        // A primary that restarts must not make its replicas resync from its fresh keyspace.
        match node.hand_over_after_restart(Duration::from_secs(10)).await {
            Ok(Some(heir)) => {
                tracing::warn!(%heir, "restarted: this node's shard is served by its replica; this node follows it")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "restarted: could not check this node's role"),
        }
    }
    let admin = if config.admin_port != 0 {
        Some(TcpListener::bind((config.admin_bind(), config.admin_port)).await?)
    } else {
        None
    };
    let result = server::run_node(listener, admin, config, Some(view), shutdown).await;
    node.shutdown().await;
    result
}

/// Keeps the node's view current: every applied topology, the lease every 25 ms, and which
/// members answer on their bus (probed every second, for CLUSTER NODES/INFO).
async fn follow<T: Transport>(node: Arc<ClusterNode<T>>, view: Arc<View>) {
    let probing = node.clone();
    let probed = view.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let answers = probing.probe_members(Duration::from_millis(500)).await;
            let down = answers
                .iter()
                .filter(|(_, offset)| offset.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            probed.set_unreachable(down);
            probed.set_offsets(
                answers
                    .into_iter()
                    .filter_map(|(id, offset)| Some((id, offset?)))
                    .collect(),
            );
        }
    });
    let mut states = node.store.subscribe();
    view.set_topology(states.borrow_and_update().topology.clone());
    if states.borrow().topology.is_some() && !node.listed() {
        tracing::error!(
            id = %node.spec.id,
            "this node's saved state says it was removed from the cluster: it serves nothing; \
             to rejoin, restart it with an empty --dir and --join <member>"
        );
    }
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    return;
                }
                let t = states.borrow_and_update().topology.clone();
                view.set_topology(t);
            }
            _ = tick.tick() => {
                // The lease first, then the topology it was earned against: a renewal happens
                // only after the state it proves was applied, so installing the newest applied
                // topology before the lease never lets a lease outlive the topology it proves.
                let until = node.lease.valid_until();
                if states.has_changed().unwrap_or(false) {
                    view.set_topology(states.borrow_and_update().topology.clone());
                }
                view.set_lease(until);
                view.set_leader(node.leader_id());
                view.set_removed(node.was_removed() || (states.borrow().topology.is_some() && !node.listed()));
            }
        }
    }
}

/// Asks the member at `seed` (its TLS port, over TLS, when `tls` is given) to meet this
/// node, until it has (the seed may still be starting). Refusals that retrying cannot fix
/// are logged and end the attempt.
async fn join(
    seed: String,
    host: String,
    port: u16,
    bus_port: u16,
    password: Option<String>,
    tls: Option<tls::Connector>,
) {
    let args = [
        "CLUSTER".to_string(),
        "MEET".into(),
        host,
        port.to_string(),
        bus_port.to_string(),
    ];
    let mut delay = Duration::from_millis(100);
    loop {
        let asked = async {
            let mut peer =
                server::peer::Peer::connect_via(&seed, password.as_deref(), tls.as_ref()).await?;
            peer.call(&args).await
        };
        match asked.await {
            Ok(Ok(_)) => {
                tracing::info!(%seed, "joined the cluster");
                return;
            }
            Ok(Err(e)) if e.contains("already") || e.contains("Invalid") => {
                tracing::error!(%seed, error = %e, "the cluster refused to add this node");
                return;
            }
            Ok(Err(e)) => tracing::warn!(%seed, error = %e, "join refused; retrying"),
            Err(e) => tracing::warn!(%seed, error = %e, "cannot reach the seed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
