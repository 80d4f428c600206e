//! Connected clients: what CLIENT LIST/INFO/KILL and INFO clients see of each connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;

/// The shared, observable part of a connection. The connection task owns the rest.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    pub name: RwLock<String>,
    pub lib_name: RwLock<String>,
    pub lib_ver: RwLock<String>,
    /// Last interaction, ms since the server started.
    pub last_active_ms: AtomicU64,
    /// Full name (`client|list`) of the last command.
    pub last_cmd: RwLock<&'static str>,
    pub resp: AtomicU8,
    pub query_buffer: AtomicUsize,
    pub output_memory: AtomicUsize,
    pub no_evict: AtomicBool,
    /// CLIENT NO-TOUCH: this client's commands leave keys' LRU/LFU data alone.
    pub no_touch: AtomicBool,
    /// Channel and pattern subscriptions (CLIENT LIST `sub`, `psub`).
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    /// Commands queued in MULTI; -1 outside a transaction (CLIENT LIST `multi`).
    pub multi: AtomicI64,
    /// Waiting in a blocking command.
    pub blocked: AtomicBool,
    pub authenticated: AtomicBool,
    /// The ACL user the connection runs as (CLIENT LIST `user`, CLIENT KILL USER).
    pub user: RwLock<String>,
    /// Cancelled by CLIENT KILL or server shutdown.
    pub kill: CancellationToken,
    /// CLIENT UNBLOCK's request for this client's blocked command: 0 none, 1 as if timed
    /// out, 2 with an error; `unblocked` wakes the waiting connection.
    pub unblock: std::sync::atomic::AtomicU8,
    pub unblocked: tokio::sync::Notify,
    /// A replication link: [`ROLE_REPLICA`] (a replica of this node), [`ROLE_MASTER`] (the
    /// primary this node follows), or 0.
    pub role: AtomicU8,
    /// CLIENT TRACKING: the redirect (-1 while tracking is off, 0 for none), BCAST mode, and
    /// whether the redirect target went away (CLIENT LIST `redir`, flags t, B, R).
    pub tracking_redirect: AtomicI64,
    pub tracking_bcast: AtomicBool,
    pub tracking_broken: AtomicBool,
}

pub const ROLE_REPLICA: u8 = 1;
pub const ROLE_MASTER: u8 = 2;

impl ClientInfo {
    /// A client that has just connected (nothing run yet, not authenticated).
    pub fn new(
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i32,
        uptime_ms: u64,
        kill: CancellationToken,
    ) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: RwLock::new(String::new()),
            lib_name: RwLock::new(String::new()),
            lib_ver: RwLock::new(String::new()),
            last_active_ms: uptime_ms.into(),
            last_cmd: RwLock::new("NULL"),
            resp: 2.into(),
            query_buffer: 0.into(),
            output_memory: 0.into(),
            no_evict: false.into(),
            no_touch: false.into(),
            sub: 0.into(),
            psub: 0.into(),
            multi: (-1).into(),
            blocked: false.into(),
            authenticated: false.into(),
            user: RwLock::new("default".into()),
            kill,
            unblock: Default::default(),
            unblocked: Default::default(),
            role: AtomicU8::new(0),
            tracking_redirect: AtomicI64::new(-1),
            tracking_bcast: AtomicBool::new(false),
            tracking_broken: AtomicBool::new(false),
        }
    }

    /// Subscribed to something (CLIENT LIST TYPE pubsub).
    pub fn is_pubsub(&self) -> bool {
        self.sub.load(Ordering::Relaxed) + self.psub.load(Ordering::Relaxed) > 0
    }

    /// Whether this connection is a replica's link (after its PSYNC).
    pub fn is_replica(&self) -> bool {
        self.role.load(Ordering::Relaxed) == ROLE_REPLICA
    }

    /// One line of CLIENT LIST, in Redis 7's field order.
    pub fn render(&self, server_start: Instant) -> String {
        let now = server_start.elapsed().as_millis() as u64;
        let idle = now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000;
        let qbuf = self.query_buffer.load(Ordering::Relaxed);
        let omem = self.output_memory.load(Ordering::Relaxed);
        let (sub, psub) = (
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
        );
        let multi = self.multi.load(Ordering::Relaxed);
        // Redis's flag letters, in its order: S replica, M master, P pubsub, x in MULTI,
        // b blocked, t tracking (R broken redirect, B broadcast), e no-evict, T no-touch.
        let mut flags = String::new();
        match self.role.load(Ordering::Relaxed) {
            ROLE_REPLICA => flags.push('S'),
            ROLE_MASTER => flags.push('M'),
            _ => {}
        }
        if sub + psub > 0 {
            flags.push('P');
        }
        if multi >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let redirect = self.tracking_redirect.load(Ordering::Relaxed);
        if redirect >= 0 {
            flags.push('t');
            if self.tracking_broken.load(Ordering::Relaxed) {
                flags.push('R');
            }
            if self.tracking_bcast.load(Ordering::Relaxed) {
                flags.push('B');
            }
        }
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            self.name.read(),
            self.created.elapsed().as_secs(),
            idle,
            flags,
            sub,
            psub,
            multi,
            qbuf,
            qbuf,
            omem,
            qbuf + omem,
            self.last_cmd.read(),
            self.user.read(),
            redirect,
            self.resp.load(Ordering::Relaxed),
            self.lib_name.read(),
            self.lib_ver.read(),
        )
    }
}

/// All connected clients, by id (CLIENT LIST lists them in id order).
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    connected: AtomicUsize,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a client unless `max` are already connected.
    pub fn try_add(&self, info: Arc<ClientInfo>, max: usize) -> bool {
        let mut map = self.map.lock();
        if map.len() >= max {
            return false;
        }
        map.insert(info.id, info);
        self.connected.store(map.len(), Ordering::Relaxed);
        true
    }

    pub fn remove(&self, id: u64) {
        let mut map = self.map.lock();
        map.remove(&id);
        self.connected.store(map.len(), Ordering::Relaxed);
    }

    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }
}
