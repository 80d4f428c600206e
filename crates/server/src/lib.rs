//! A Shard-Cache node as a library: `run(listener, config, shutdown)`.
//!
//! Tests start nodes in-process on port 0; the `shardcache` binary is a thin wrapper.
//!
//! Concurrency model: a thread per core but one (`default_workers`). Each worker thread runs
//! its own single-threaded tokio runtime with its own epoll; accepted connections are handed
//! to workers round-robin and stay there. A connection reads a batch of bytes, executes every
//! complete command in it against the sharded keyspace (one short, almost always uncontended
//! lock per key), and writes all replies with one `write` call. No global lock and no
//! cross-thread wake-up sits on that path. (A work-stealing runtime was measured first: its workers parking and waking each
//! other cost ~20% of the CPU at pipeline depth 1.)

pub mod admin;
pub mod admin_monitor;
pub mod alerts;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod client_port;
pub mod cluster;
pub mod cmd;
pub mod command;
pub mod config;
mod conn;
pub mod digest;
pub mod error;
pub mod exec_gate;
pub mod fdlimit;
pub mod history;
pub mod info;
pub mod latency;
pub mod listops;
pub mod migration;
pub mod notify;
pub mod pause;
pub mod peer;
pub mod persist;
pub mod pubsub;
pub mod rdbconv;
pub mod redact;
pub mod replication;
pub mod script_host;
pub mod seam;
pub mod shedding;
pub mod slowlog;
pub mod stats;
pub mod tlsconf;
pub mod tracking;
pub mod transaction;
pub mod tunables;
pub mod users;
mod warm;
mod zsetpop;

/// The worker count `--threads 0` means: one per core but one, and at least one.
///
/// Why not one per core: about four fifths of a request's CPU at pipeline depth 1 is the
/// kernel's (receive, send, epoll, waking the peer; `perf record` in `docs/BENCHMARKS.md`),
/// and that work runs on whichever core takes the packet or wakes the thread. A worker on
/// every core competes with it, with the node's background threads and with any client on
/// the host: measured on 2 cores with redis-benchmark beside the node, two workers cost 10%
/// more CPU per request at pipeline 1 and 20-30% of the throughput at pipeline 16 compared
/// with one. Leaving a core to the kernel is what Redis (one thread) and KeyDB's advice
/// (threads below the core count) do too. With n > 2 cores the workers still scale to n - 1.
pub fn default_workers(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

use client::{ClientInfo, Clients};
use command::CommandTable;
use config::Live;
use slowlog::SlowLog;
use stats::ServerStats;

// jemalloc: fast with many threads, low fragmentation, and it can report the bytes really
// allocated, which is what `used_memory` and `maxmemory` must be measured against.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc options: return freed pages to the OS after ~1 s instead of the default 10 s, so
/// resident memory follows `maxmemory` (eviction frees continuously) rather than lagging;
/// purge them outright (`muzzy_decay_ms:0`: MADV_FREE'd pages stay in RSS until the kernel
/// wants them), and from a background thread, so an idle node gives back a burst's pages
/// too (decay otherwise only runs when the arena is used).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Version reported as `redis_version` (the Redis feature level we implement) and our own.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Keys one command may evict before it runs: enough for a 512 MB value over 1 KB keys; a
/// bound on the latency eviction can add to one command in a pathological keyspace.
const MAX_EVICTIONS_PER_COMMAND: usize = 1 << 20;

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// CLIENT REPLY state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by CLIENT REPLY SKIP; becomes `Skip` after that command.
    SkipNext,
    /// Suppresses the replies of the current command.
    Skip,
}

/// Per-connection state that only the connection's own task touches.
#[derive(Debug)]
pub struct ClientState {
    pub info: Arc<ClientInfo>,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    pub last_command: &'static str,
    /// Inside MULTI: the queue.
    pub multi: Option<transaction::Multi>,
    /// WATCHed keys, if any.
    pub watching: Option<transaction::Watching>,
    /// Running EXEC's commands (blocking commands do not block there).
    pub in_exec: bool,
    /// Set by a blocking command that found no data: the connection waits on it.
    pub blocked: Option<blocking::Blocked>,
    /// Keys written inside EXEC, whose blocked clients are served once EXEC is done.
    pub ready_keys: Vec<Vec<u8>>,
    /// Channel and pattern subscriptions, once the client has subscribed.
    pub pubsub: Option<pubsub::ClientSubs>,
    /// Set by a command whose outcome the connection must await (holding no lock).
    pub pending: Option<Pending>,
    /// Failed AUTH/HELLO AUTH attempts on this connection (each one past a few is slowed).
    pub auth_failures: u32,
    /// The primary's link on a replica: its writes are applied even though the node is
    /// read-only, it is never paused or refused for memory, and it sees keys as the
    /// primary does ([`store::expiry::ExpiryMode::Keep`]).
    pub is_master: bool,
    /// What a would-be replica said with REPLCONF (before its PSYNC).
    pub replconf: replication::primary::ReplicaConf,
    /// The replication offset after this client's last write (WAIT waits for it).
    pub repl_offset: u64,
    /// Inside EXEC: the effects of the commands run so far, written to the stream as one
    /// MULTI/EXEC block when EXEC ends.
    pub exec_propagated: Vec<u8>,
    /// CLIENT TRACKING settings while tracking is on.
    pub tracking: Option<tracking::Options>,
    /// CLIENT CACHING yes|no: applies to the next command only.
    pub caching: Option<bool>,
    /// A script this client runs has called a read-only command (its declared keys are
    /// tracked when it ends: see `command::run_script`).
    pub script_read: bool,
    /// READONLY: this cluster client reads from replicas (READWRITE ends it).
    pub readonly: bool,
    /// ASKING: the next command may use a slot this node is importing.
    pub asking: bool,
    /// When the command waiting to run again first met its slot switching (see
    /// [`cluster::SWITCH_WAIT`]); `None` when no command waits for a switch.
    pub switch_wait_since: Option<std::time::Instant>,
    /// Running a command on a script's behalf (not slow-logged on its own).
    pub in_script: bool,
    /// The changes the running write command made, when it counts them itself (Redis's
    /// `server.dirty` delta, `rdb_changes_since_last_save`: a SETBIT of the bit already
    /// there is 0); `None` counts 1 per write command that succeeded.
    pub dirty: Option<u64>,
    /// The script said `redis.set_repl(REPL_NONE)`: its writes stay off the replication
    /// stream.
    pub script_no_replicate: bool,
    /// Replaying the append-only file: runs while the node is loading.
    pub loading_aof: bool,
    /// The ACL user this connection runs as (see [`users::ClientAcl`]).
    pub acl: users::ClientAcl,
    /// The connection came in over TLS: cluster redirections name TLS ports.
    pub tls: bool,
}

impl ClientState {
    pub fn new(info: Arc<ClientInfo>) -> ClientState {
        ClientState {
            info,
            authenticated: false,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            last_command: "NULL",
            multi: None,
            watching: None,
            in_exec: false,
            blocked: None,
            ready_keys: Vec::new(),
            pubsub: None,
            pending: None,
            auth_failures: 0,
            is_master: false,
            replconf: Default::default(),
            repl_offset: 0,
            exec_propagated: Vec::new(),
            tracking: None,
            caching: None,
            script_read: false,
            readonly: false,
            asking: false,
            switch_wait_since: None,
            in_script: false,
            dirty: None,
            script_no_replicate: false,
            loading_aof: false,
            acl: Default::default(),
            tls: false,
        }
    }
}

/// What a connection awaits before going on with its input.
pub enum Pending {
    /// Nothing ran: run the same command again at this instant (see [`error::CmdError::SlotWait`]).
    RetryAt(std::time::Instant),
    /// Held back by CLIENT PAUSE: run the same command again at this instant; counted as
    /// a blocked client meanwhile (INFO `blocked_clients`, flag `b`), as Redis postpones it.
    Paused(std::time::Instant),
    /// The command's reply: `+OK`, or the error message (a cluster membership change).
    Reply(cluster::BoxFuture<Result<(), String>>),
    /// The command ran and replied; read nothing more from this client until then (a
    /// password guesser is slowed down).
    PauseUntil(std::time::Instant),
    /// Work done away from the worker (MIGRATE's transfer); what it resolves to finishes the
    /// command on the connection: it may change the keyspace and writes the reply.
    Then(cluster::BoxFuture<Finish>),
    /// PSYNC/SYNC: the connection becomes a replica's link (its replies so far are sent
    /// first).
    BecomeReplica(replication::primary::SyncRequest),
}

/// The last step of a [`Pending::Then`] command.
pub type Finish = Box<dyn FnOnce(&Shared, &mut resp::ReplyWriter) + Send>;

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::RetryAt(at) => write!(f, "RetryAt({at:?})"),
            Pending::Paused(at) => write!(f, "Paused({at:?})"),
            Pending::Reply(_) => f.write_str("Reply(..)"),
            Pending::PauseUntil(at) => write!(f, "PauseUntil({at:?})"),
            Pending::Then(_) => f.write_str("Then(..)"),
            Pending::BecomeReplica(r) => write!(f, "BecomeReplica({r:?})"),
        }
    }
}

/// State shared by every connection of a node.
pub struct Shared {
    /// This node's own `Arc`, for work that outlives a command (BGSAVE's thread).
    me: OnceLock<std::sync::Weak<Shared>>,
    pub keyspace: store::Keyspace,
    pub live: Live,
    /// The configuration file the node started from, if any.
    pub config_file: Option<std::path::PathBuf>,
    /// The admin API's bearer token (`admin_token`).
    pub admin_token: Option<String>,
    pub table: CommandTable,
    /// ACL users and the ACL log.
    pub users: users::Users,
    pub stats: ServerStats,
    /// Snapshots to disk (SAVE, BGSAVE, LASTSAVE, INFO persistence).
    pub persistence: persist::Persistence,
    /// The append-only file (`appendonly yes`).
    pub aof: aof::Aof,
    pub clients: Clients,
    pub slowlog: Mutex<SlowLog>,
    pub started: Instant,
    pub run_id: String,
    pub local_addr: SocketAddr,
    /// The TLS client port's acceptor (reloaded on SIGHUP and CONFIG SET tls-*).
    pub tls: Option<Arc<tls::Acceptor>>,
    /// How this node dials other members' client ports when links between members use
    /// TLS (`tls-cluster yes`; see `peer::member_addr`); reloaded on SIGHUP.
    pub member_tls: Option<Arc<tls::Connector>>,
    pub admin_addr: Mutex<Option<SocketAddr>>,
    /// Cancelled to shut the node down (signal, SHUTDOWN, the caller's future).
    pub shutdown: CancellationToken,
    /// Bytes allocated, refreshed by the housekeeping task (reading jemalloc's counters
    /// costs a few microseconds, too much per command).
    pub used_memory: AtomicU64,
    pub peak_memory: AtomicU64,
    /// Allocated bytes outside the keyspace at the last housekeeping pass.
    pub memory_overhead: AtomicU64,
    /// Memory in use right after start-up (MEMORY STATS startup.allocated).
    pub startup_memory: AtomicU64,
    /// ops/s and kbps for INFO and the stats API.
    pub rates: Mutex<info::Rates>,
    /// Command latency over the last seconds (the dashboard, INFO shardcache).
    pub recent_latency: stats::RecentLatency,
    /// Key figures over the last 24 hours, and the alerts evaluated on them.
    pub history: history::History,
    pub alerts: alerts::Alerts,
    pub alert_thresholds: alerts::Thresholds,
    workers: Workers,
    /// Cluster mode state (`--cluster-enabled`).
    pub cluster: Option<Arc<cluster::ClusterState>>,
    /// Clients blocked on lists.
    pub blocking: blocking::Blocking,
    /// CLIENT PAUSE state.
    pub pause: pause::ClientPause,
    /// Channel and pattern subscriptions of every client.
    pub pubsub: pubsub::PubSub,
    /// Makes EXEC atomic: see [`exec_gate`].
    pub exec_gate: exec_gate::ExecGate,
    /// Slots moving from this node to others (cluster mode).
    pub migrations: migration::Migrations,
    /// Following a primary (REPLICAOF), and this node's replication history.
    pub replication: replication::Replication,
    /// The stream this node's replicas follow (off until the first one connects).
    pub repl_log: Arc<replication::log::Log>,
    pub replicas: replication::primary::Replicas,
    /// Keyspace notifications in force (`notify-keyspace-events`).
    pub notify: notify::Notifications,
    /// Client-side caching: who tracks which keys.
    pub tracking: tracking::Tracking,
    /// The latency monitor (LATENCY, `latency-monitor-threshold`).
    pub latency: latency::Monitor,
    /// Active expiry on (DEBUG SET-ACTIVE-EXPIRE 0 turns it off; lazy expiry stays).
    pub active_expire: AtomicBool,
    /// DEBUG PAUSE-CRON: the housekeeping tick does nothing while set.
    pub cron_paused: AtomicBool,
    /// The script running now (see [`script_host`]).
    pub script: script_host::ScriptState,
    /// Scripting's memory, for INFO.
    pub script_memory: script_host::ScriptMemory,
    /// Function libraries' code, as snapshots hold it (see [`script_host::LibraryCodes`]).
    pub function_codes: script_host::LibraryCodes,
    /// The script engine's own state (cache, functions, VM), when one is linked in.
    pub script_engine: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// Load shedding of client commands (`max-concurrent-requests`, `cpu-shed-threshold`).
    pub shedder: Arc<shed::Shedder>,
    /// A client listener CONFIG SET port bound, for the accept loop to take over.
    pub client_port: client_port::PortChange,
}

/// Stack of a worker thread.
const WORKER_STACK: usize = 32 << 20;

/// The connection-serving threads, one single-threaded runtime each.
struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: std::sync::atomic::AtomicUsize,
    /// Cancelled once every connection has finished, to let the threads exit.
    exit: CancellationToken,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Workers {
    fn start(count: usize, busy_poll_us: u64) -> std::io::Result<Workers> {
        let exit = CancellationToken::new();
        let mut handles = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let (tx, rx) = std::sync::mpsc::channel();
            let exit = exit.clone();
            let thread = std::thread::Builder::new()
                .name(format!("shardcache-worker-{i}"))
                // Scripts' replies nest as deep as Lua's stack allows (8000 levels, as
                // Redis converts them); reserved address space, touched only if used.
                .stack_size(WORKER_STACK)
                .spawn(move || {
                    exec_gate::set_lane(i);
                    // A runtime of one worker thread, multi-threaded in kind only so that a
                    // script running past `busy-reply-threshold` can hand this worker's
                    // other connections to a fresh thread (`block_in_place`): they answer
                    // -BUSY and take SCRIPT KILL meanwhile, as Redis serves its clients
                    // from inside a long script. Every thread it starts is on this lane.
                    let runtime = match tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        // Connections run in the order they became readable, as in Redis's
                        // event loop: the LIFO slot would run the last one woken first, so
                        // an EXEC sent before another client's write could run after it.
                        .disable_lifo_slot()
                        .thread_name(format!("shardcache-worker-{i}"))
                        .thread_stack_size(WORKER_STACK)
                        .on_thread_start(move || exec_gate::set_lane(i))
                        .enable_all()
                        .on_thread_park(move || {
                            // Busy-poll: a worker about to sleep spins briefly first. A
                            // request arriving meanwhile finds it awake, so the sender's
                            // kernel does not have to wake it; on loopback at pipeline depth 1
                            // that wake-up is most of the client's cost per request.
                            if busy_poll_us > 0 {
                                let until = Instant::now() + Duration::from_micros(busy_poll_us);
                                while Instant::now() < until {
                                    std::hint::spin_loop();
                                }
                            }
                        })
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(exit.cancelled());
                })?;
            handles.push(rx.recv().map_err(std::io::Error::other)??);
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            next: 0.into(),
            exit,
            threads: Mutex::new(threads),
        })
    }

    /// The runtime the next connection goes to: round-robin, passing over `avoid` (the
    /// worker a busy script holds, whose connections wait until it ends).
    fn pick(&self, avoid: Option<usize>) -> &tokio::runtime::Handle {
        let mut i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        if avoid == Some(i) && self.handles.len() > 1 {
            i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        }
        &self.handles[i]
    }

    async fn stop(&self) {
        self.exit.cancel();
        let threads = std::mem::take(&mut *self.threads.lock());
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

impl Shared {
    /// This node's `Arc` (it exists for as long as the node runs).
    pub fn arc(&self) -> Arc<Shared> {
        self.me
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("the node is running")
    }

    /// Memory counted against `maxmemory`: the keyspace's exact byte count (updated by every
    /// write) plus everything else the allocator holds (connections, buffers), as measured
    /// by the last housekeeping pass. Like Redis's `used_memory`, and current to the write.
    pub fn memory_in_use(&self) -> u64 {
        self.keyspace.used_bytes() + self.memory_overhead.load(Ordering::Relaxed)
    }

    /// Called before a command that adds no data: evicts by the policy while memory is over
    /// `maxmemory` (never refuses); says whether it had to. One atomic load when no limit
    /// is set.
    pub fn evict_if_over(&self, now: u64) -> bool {
        let max = self.live.maxmemory.load(Ordering::Relaxed);
        if max == 0
            || self.replication.is_replica()
            || self.live.policy() == store::Policy::NoEviction
            || self.memory_in_use() <= max
        {
            return false;
        }
        self.make_room(now, 0);
        true
    }

    /// Called before a command that may add data (`denyoom`): admits it only if memory plus
    /// `incoming` (an upper bound of what the command adds) fits under `maxmemory`, evicting
    /// by the policy first. Returns false — the command is refused with `-OOM` — when the
    /// command alone is larger than `maxmemory`, or when it does not fit and nothing more
    /// can be evicted (`noeviction`, or a `volatile-*` policy without keys that have a TTL).
    ///
    /// Invariant: a write that returns leaves memory at most `maxmemory` plus the error of
    /// the estimate (and of the non-keyspace overhead, sampled each housekeeping pass). Each
    /// command of a pipeline is admitted on its own, against memory as its predecessors left
    /// it, so a pipeline of big values stays bounded as a whole. Evicting for one big value
    /// may take many small keys; the work is proportional to the bytes the command brings.
    pub fn make_room(&self, now: u64, incoming: u64) -> bool {
        let max = self.live.maxmemory.load(Ordering::Relaxed);
        // A replica holds what its primary holds (Redis's replica-ignore-maxmemory yes).
        if max == 0 || self.replication.is_replica() {
            return true;
        }
        if incoming > max {
            return false;
        }
        let policy = self.live.policy();
        let target = max - incoming;
        let mut evicted = 0usize;
        loop {
            if self.memory_in_use() <= target {
                return true;
            }
            // A safety stop for a pathological keyspace (millions of tiny keys to clear for
            // one value): refuse rather than stall every other client behind this one.
            if evicted >= MAX_EVICTIONS_PER_COMMAND {
                return self.memory_in_use() <= max;
            }
            if policy == store::Policy::NoEviction || !self.keyspace.evict_one(policy, now) {
                // Before refusing, measure the non-keyspace part again: the sample from the
                // last housekeeping pass may hold buffers that are gone by now.
                self.refresh_memory();
                return self.memory_in_use() <= target;
            }
            evicted += 1;
        }
    }

    /// Reads the allocator's counters: refreshes the non-keyspace overhead and the peak.
    pub fn refresh_memory(&self) {
        let (allocated, _) = allocator_stats();
        let keyspace = self.keyspace.used_bytes();
        self.memory_overhead
            .store(allocated.saturating_sub(keyspace), Ordering::Relaxed);
        self.used_memory.store(allocated, Ordering::Relaxed);
        self.peak_memory.fetch_max(allocated, Ordering::Relaxed);
    }

    /// The worker runtime for a new connection (round-robin).
    pub(crate) fn workers_pick(&self) -> &tokio::runtime::Handle {
        self.workers.pick(self.script.busy_worker())
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// (allocated, active, resident) bytes according to jemalloc, for MEMORY STATS.
pub fn allocator_detail() -> (u64, u64, u64) {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let allocated = allocator_stats().0;
    let active = stats::active::read().unwrap_or(0) as u64;
    let resident = stats::resident::read().unwrap_or(0) as u64;
    (allocated, active, resident)
}

/// Returns every arena's dirty pages to the system (MEMORY PURGE); false on failure.
pub fn allocator_purge() -> bool {
    // SAFETY: a NUL-terminated mallctl name of a void control (4096 = all arenas), called
    // with no old or new value, as jemalloc requires for it.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        ) == 0
    }
}

/// jemalloc's statistics report (MEMORY MALLOC-STATS), as `malloc_stats_print` writes it.
pub fn allocator_report() -> String {
    unsafe extern "C" fn append(out: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `out` is the `String` passed below; `text` a NUL-terminated string jemalloc
        // hands its write callback.
        unsafe {
            let out = &mut *(out as *mut String);
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut report = String::new();
    // SAFETY: the callback only appends to `report`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            &mut report as *mut String as *mut std::ffi::c_void,
            std::ptr::null(),
        );
    }
    report
}

/// (allocated, resident) bytes according to jemalloc. "Allocated" excludes the freed
/// objects jemalloc keeps in per-thread caches: its arena statistics count those as
/// allocated, which would charge several MB of reusable cache against `maxmemory`.
pub fn allocator_stats() -> (u64, u64) {
    use tikv_jemalloc_ctl::{epoch, raw, stats};
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    let resident = stats::resident::read().unwrap_or(0) as u64;
    // SAFETY: a NUL-terminated mallctl name of a size_t statistic (4096 = all arenas).
    let cached =
        unsafe { raw::read::<usize>(b"stats.arenas.4096.tcache_bytes\0") }.unwrap_or(0) as u64;
    (allocated.saturating_sub(cached), resident)
}

/// Resident set size of the process, from /proc (what the OS charges us).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn random_run_id() -> String {
    (0..40)
        .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).expect("hex digit"))
        .collect()
}

/// Descriptors kept for everything but clients: the admin listener's budget, and the
/// cluster bus (its handshake budget and a connection per peer each way).
fn reserved_fds(config: &Config, admin: &Option<TcpListener>) -> usize {
    let admin = if admin.is_some() {
        config.admin_max_connections + 1
    } else {
        0
    };
    let cluster = if config.cluster_enabled { 128 } else { 0 };
    admin + cluster
}

/// Runs a node on `listener` (none: TLS only, `--port 0`) until `shutdown` completes, a SHUTDOWN command arrives, or the
/// admin API asks. Then it stops accepting, lets every connection finish the commands it has
/// read and flush their replies, and returns.
pub async fn run(
    listener: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let admin = if config.admin_port != 0 {
        Some(TcpListener::bind((config.admin_bind(), config.admin_port)).await?)
    } else {
        None
    };
    run_with_admin(listener, admin, config, shutdown).await
}

/// Like [`run`], with the admin HTTP listener supplied by the caller (tests bind port 0).
pub async fn run_with_admin(
    listener: Option<TcpListener>,
    admin: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_node(listener, admin, config, None, shutdown).await
}

/// Like [`run_with_admin`], as a member of a cluster whose layer (Raft, in the binary)
/// keeps `cluster` up to date. Without it, `cluster_enabled` makes a cluster of one.
pub async fn run_node(
    mut listener: Option<TcpListener>,
    admin: Option<TcpListener>,
    config: Config,
    cluster: Option<Arc<cluster::ClusterState>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut config = config;
    config.maxclients = fdlimit::fit_maxclients(config.maxclients, reserved_fds(&config, &admin));
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let live = Live::new(&config).map_err(invalid)?;
    // The TLS client port: `tls_port`, or a listener the caller bound.
    let tls_wanted = config.tls_port != 0 || config.tls_listener.is_some();
    let tls = tlsconf::acceptor(&live, tls_wanted).map_err(invalid)?;
    let member_tls = if tlsconf::for_cluster(&live) {
        if !tls_wanted {
            return Err(invalid("tls-cluster needs a TLS port (--tls-port)".into()));
        }
        Some(Arc::new(tlsconf::connector(&live).map_err(invalid)?))
    } else {
        None
    };
    let tls_listener = match (&tls, &config.tls_listener) {
        (None, _) => None,
        (Some(_), Some(l)) => Some(TcpListener::from_std(l.try_clone()?)?),
        (Some(_), None) => Some(TcpListener::bind((config.bind.as_str(), config.tls_port)).await?),
    };
    if listener.is_none() && tls_listener.is_none() {
        return Err(invalid("no client port: --port 0 needs --tls-port".into()));
    }
    let tls_port = match &tls_listener {
        Some(l) => l.local_addr()?.port(),
        None => 0,
    };
    let local_addr = match (&listener, &tls_listener) {
        (Some(l), _) | (None, Some(l)) => l.local_addr()?,
        (None, None) => unreachable!("checked above"),
    };
    // CONFIG GET port and INFO answer the port in use (a caller may have bound port 0).
    let plain_port = match &listener {
        Some(l) => l.local_addr()?.port(),
        None => 0,
    };
    live.port.store(plain_port, Ordering::Relaxed);
    let threads = if config.threads > 0 {
        config.threads
    } else {
        default_workers(std::thread::available_parallelism().map_or(1, |n| n.get()))
    };
    let workers = Workers::start(threads, config.busy_poll_us)?;
    // A cluster node indexes its keys by slot (COUNTKEYSINSLOT, GETKEYSINSLOT, dropping or
    // moving a slot's keys); a standalone node skips the CRC16 per key.
    let keyspace = if cluster.is_some() || config.cluster_enabled {
        store::Keyspace::with_slots(placement::slot::key_slot)
    } else {
        store::Keyspace::new()
    };
    let table = CommandTable::new(
        cmd::handlers()
            .into_iter()
            .chain(config.extra_commands.iter().copied())
            .collect(),
    );
    let users = users::Users::new(
        &table,
        live.requirepass().as_deref(),
        &config.users,
        config.aclfile.clone(),
        users::options(&live),
    )
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let shared = Arc::new(Shared {
        me: OnceLock::new(),
        keyspace,
        live,
        config_file: config.config_file.clone(),
        admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
        table,
        users,
        stats: ServerStats::default(),
        persistence: persist::Persistence::new(),
        aof: Default::default(),
        clients: Clients::default(),
        slowlog: Mutex::new(SlowLog::default()),
        started: Instant::now(),
        run_id: random_run_id(),
        local_addr,
        tls: tls.clone(),
        member_tls: member_tls.clone(),
        admin_addr: Mutex::new(None),
        shutdown: CancellationToken::new(),
        used_memory: AtomicU64::new(0),
        peak_memory: AtomicU64::new(0),
        memory_overhead: AtomicU64::new(0),
        startup_memory: AtomicU64::new(0),
        rates: Mutex::new(info::Rates::default()),
        recent_latency: Default::default(),
        history: Default::default(),
        alerts: Default::default(),
        alert_thresholds: config.alerts,
        workers,
        cluster: cluster.or_else(|| {
            if !config.cluster_enabled {
                return None;
            }
            let (host, port) = (local_addr.ip().to_string(), local_addr.port());
            let bus = if config.cluster_port != 0 {
                config.cluster_port
            } else {
                port.wrapping_add(10000)
            };
            Some(Arc::new(cluster::ClusterState::bootstrap(
                &host, port, bus, tls_port,
            )))
        }),
        blocking: blocking::Blocking::default(),
        pause: pause::ClientPause::default(),
        pubsub: pubsub::PubSub::default(),
        exec_gate: exec_gate::ExecGate::new(threads),
        migrations: migration::Migrations::new(config.migration_max_bandwidth),
        replication: replication::Replication::new(replication::random_replid()),
        repl_log: Arc::new(replication::log::Log::new(0)),
        replicas: Default::default(),
        notify: Default::default(),
        tracking: Default::default(),
        latency: Default::default(),
        active_expire: AtomicBool::new(true),
        cron_paused: AtomicBool::new(false),
        script: Default::default(),
        function_codes: Default::default(),
        script_memory: Default::default(),
        script_engine: OnceLock::new(),
        shedder: shed::Shedder::new(
            shed::Door::Resp,
            config.max_concurrent_requests,
            config.cpu_shed_threshold,
            Duration::from_millis(config.cpu_shed_window_ms),
        ),
        client_port: Default::default(),
    });
    let _ = shared.me.set(Arc::downgrade(&shared));
    if let Some(c) = &shared.cluster {
        c.set_cross_slot_same_node(match config.allow_cross_slot.as_str() {
            "no" => false,
            "same-node" => true,
            other => {
                return Err(invalid(format!(
                    "allow-cross-slot: '{other}' is not no or same-node"
                )))
            }
        });
    }
    shared.keyspace.set_policy(shared.live.policy());
    for (name, given) in &config.redis_params {
        if let Some(t) = tunables::find(name) {
            let value = shared.live.tunables.get(t);
            cmd::server::config::take_effect(&shared, t, &value, given);
        }
    }
    shared.refresh_memory();
    shared
        .startup_memory
        .store(shared.memory_in_use(), Ordering::Relaxed);
    // A node restarts with its data (a cluster node keeps it only if its slots did not
    // move meanwhile: `persist::settle_cluster_load`). The file is checked (header) before
    // the port opens, then loaded while clients already connect and get -LOADING (as from
    // Redis); a file that turns out corrupt stops the node.
    let loading = if aof::configured(&shared) {
        // `appendonly yes`: the append-only file is the data (the snapshot is not read, as
        // in Redis), replayed while clients get -LOADING.
        if shared.cluster.is_some() {
            return Err(invalid(aof::CLUSTER_REFUSAL.to_string()));
        }
        let manifest = aof::read_manifest(&shared)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        shared.aof.set_manifest(manifest.clone());
        // No file yet but a snapshot: it is loaded and becomes the file's first base
        // (Redis would start empty here, which loses the data of anyone who switches
        // `appendonly` on in the configuration and restarts).
        let snapshot = persist::Persistence::path(&shared.live);
        let from_snapshot = manifest.is_empty() && snapshot.exists();
        if from_snapshot {
            persist::check_header(&snapshot)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        shared.persistence.loading.store(true, Ordering::SeqCst);
        let s = shared.clone();
        Some(tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            if from_snapshot {
                tracing::warn!(file = %snapshot.display(), "no append-only file yet: loading the snapshot, which becomes its first base");
                if let Err(e) = persist::load(&s, &snapshot) {
                    s.persistence.loading.store(false, Ordering::SeqCst);
                    return Err(e);
                }
            }
            let r = aof::load::load(&s, &manifest, aof::load::Hold::Shared)
                .and_then(|loaded| {
                    if loaded.files > 0 {
                        tracing::info!(
                            files = loaded.files,
                            commands = loaded.commands,
                            keys = s.keyspace.len(),
                            seconds = started.elapsed().as_secs_f64(),
                            "DB loaded from append only file"
                        );
                    }
                    aof::open_at_start(&s)
                })
                .map(|()| None);
            s.persistence.loading.store(false, Ordering::SeqCst);
            r
        }))
    } else {
        let path = persist::Persistence::path(&shared.live);
        persist::check_header(&path)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        path.exists().then(|| {
            shared.persistence.loading.store(true, Ordering::SeqCst);
            let s = shared.clone();
            tokio::task::spawn_blocking(move || {
                let r = persist::load(&s, &path);
                // A cluster node stays loading until it has settled what it loaded.
                if s.cluster.is_none() || !matches!(r, Ok(Some(_))) {
                    s.persistence.loading.store(false, Ordering::SeqCst);
                }
                r
            })
        })
    };
    tracing::info!(addr = %shared.local_addr, "Ready to accept connections");
    if let Some(target) = &config.replicaof {
        let (host, port) = config::parse_replicaof(target)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        if let Some(generation) = shared.replication.follow(&host, port) {
            // After our own snapshot is in: a full sync replaces the keyspace.
            let s = shared.clone();
            tokio::spawn(async move {
                while s.persistence.loading.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                replication::primary::relay_upstream(&s);
                replication::link::start(&s, generation);
            });
        }
    }

    let tasks = TaskTracker::new();
    tasks.spawn(housekeeping(shared.clone()));
    tasks.spawn(history::run(
        shared.clone(),
        Duration::from_millis(config.metrics_interval_ms.max(10)),
    ));
    if let Some(url) = config.alert_webhook.clone().filter(|u| !u.is_empty()) {
        alerts::webhook(&shared, url);
    }
    if let Some(cluster) = &shared.cluster {
        let me = Arc::downgrade(&shared);
        cluster.set_offset_source(Box::new(move || {
            me.upgrade().map_or(0, |s| replication::master_offset(&s))
        }));
        let me = Arc::downgrade(&shared);
        cluster.set_replica_migration_source(Box::new(move || {
            let s = me.upgrade()?;
            let setting = |name| {
                tunables::find(name)
                    .map(|t| s.live.tunables.get(t))
                    .unwrap_or_default()
            };
            (setting("cluster-allow-replica-migration") == "yes")
                .then(|| setting("cluster-migration-barrier").parse().unwrap_or(1))
        }));
        tasks.spawn(replication::follow_cluster_role(shared.clone()));
        if config.replica_digest_interval > 0 {
            tasks.spawn(replication::audit::run(
                shared.clone(),
                Duration::from_secs(config.replica_digest_interval),
            ));
        }
    }
    if let Some(admin) = admin {
        *shared.admin_addr.lock() = admin.local_addr().ok();
        tracing::info!(addr = ?admin.local_addr().ok(), "admin HTTP listening");
        // With TLS on, the admin port serves HTTPS with the same certificate.
        let options = adminhttp::Options {
            tls: shared.tls.clone(),
            ..config.admin_options()
        };
        tasks.spawn(admin::serve(admin, shared.clone(), options));
    }

    let stop = shared.shutdown.clone();
    let mut hangup = Hangup::new();
    if let Some(l) = &tls_listener {
        tracing::info!(addr = ?l.local_addr().ok(), "TLS client port listening");
    }
    tokio::pin!(shutdown);
    let mut loading = loading;
    let mut failed_load = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = stop.cancelled() => break,
            loaded = async { loading.as_mut().expect("checked").await }, if loading.is_some() => {
                loading = None;
                match loaded {
                    Ok(Ok(Some(loaded))) if shared.cluster.is_some() => {
                        tasks.spawn(persist::settle_cluster_load(shared.clone(), loaded));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the snapshot cannot be loaded; stopping");
                        failed_load = Some(e);
                        break;
                    }
                    Err(e) => {
                        failed_load = Some(format!("loading the snapshot failed: {e}"));
                        break;
                    }
                }
            }
            moved = shared.client_port.next() => {
                // CONFIG SET port: the old listener closes, open connections stay.
                listener = match moved.map(TcpListener::from_std).transpose() {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "the new client port cannot be served");
                        None
                    }
                };
                match &listener {
                    Some(l) => tracing::info!(addr = ?l.local_addr().ok(), "client port moved"),
                    None => tracing::info!("client port closed (port 0)"),
                }
            }
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, addr)) => conn::accept(&shared, &tasks, stream, addr, None),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            accepted = accept(tls_listener.as_ref()) => match accepted {
                Ok((stream, addr)) => conn::accept(&shared, &tasks, stream, addr, tls.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed (TLS port)");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = hangup.recv() => {
                // SIGHUP: rotated certificates are read again; connections keep theirs.
                if let Some(t) = &tls {
                    match t.reload() {
                        Ok(()) => tracing::info!("TLS certificates reloaded"),
                        Err(e) => tracing::warn!(error = %e, "TLS reload failed; the old certificates stay in use"),
                    }
                }
                if let Some(c) = &member_tls {
                    if let Err(e) = c.reload() {
                        tracing::warn!(error = %e, "TLS reload failed for links to members; the old certificates stay in use");
                    }
                }
            }
        }
    }
    tracing::info!("shutting down: no new connections, finishing in-flight commands");
    drop(listener);
    drop(tls_listener);
    shared.shutdown.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within 10s");
    }
    // Everything acknowledged is in the append-only file, fsynced.
    let s = shared.clone();
    let _ = tokio::task::spawn_blocking(move || aof::turn_off(&s)).await;
    shared.workers.stop().await;
    if let Some(e) = failed_load {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    }
    tracing::info!("bye");
    Ok(())
}

/// Accepts on a listener that may be absent (then never).
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// SIGHUP, where the platform has it (several nodes in one process each get it).
struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    fn new() -> Hangup {
        Hangup(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
    }

    async fn recv(&mut self) {
        match &mut self.0 {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Drops the keys of slots this node no longer owns, one slot (one shard lock) at a time;
/// each costs a pass over one shard thanks to the slot index (see `store::hashing`).
/// Clients blocked (BLPOP, ...) on keys whose slots this node no longer serves get Redis's
/// redirection (`-MOVED` to the new owner, or `-CLUSTERDOWN`) instead of waiting there.
fn redirect_blocked(shared: &Shared, c: &cluster::ClusterState) {
    // From the topology itself: a slot still pausing for its switch is moved already.
    let Some(t) = c.topology() else {
        return;
    };
    shared.blocking.redirect(|key| {
        let slot = placement::slot::key_slot(key);
        match t.owner(slot) {
            Some(n) if n.id == c.myid => None,
            Some(n) => Some(
                error::CmdError::Moved {
                    slot,
                    addr: format!("{}:{}", n.host, n.port),
                }
                .to_string(),
            ),
            None => Some(error::CmdError::ClusterDown.to_string()),
        }
    });
}

async fn drop_lost_slots(shared: Arc<Shared>, lost: Vec<u16>) {
    let Some(cluster) = shared.cluster.clone() else {
        return;
    };
    let mut dropped = 0;
    for &slot in &lost {
        // A slot held here again by now (moved back, or this replica now follows the shard
        // that owns it) keeps its keys.
        dropped += shared
            .keyspace
            .remove_slot(slot, unix_ms(), || !cluster.holds(slot));
        tokio::task::yield_now().await;
    }
    tracing::info!(
        slots = lost.len(),
        keys = dropped,
        "dropped the keys of slots now owned elsewhere"
    );
}

/// Periodic work: active expiry (with a CPU budget) and memory statistics.
async fn housekeeping(shared: Arc<Shared>) {
    let mut last_memory = Instant::now();
    let mut last_replica_ping = Instant::now();
    let mut last_latency = Instant::now();
    loop {
        let hz = shared.live.hz.load(Ordering::Relaxed).max(1);
        let period = Duration::from_millis(1000 / hz);
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        if shared.cron_paused.load(Ordering::Relaxed) {
            continue;
        }
        // Background eviction while over maxmemory (after CONFIG SET lowered it, or when
        // writes outpaced their own bounded eviction), as Redis's eviction time proc.
        let max = shared.live.maxmemory.load(Ordering::Relaxed);
        // A replica neither evicts nor expires on its own: its primary's DELs do both.
        let replica = shared.replication.is_replica();
        if max != 0 && !replica {
            let policy = shared.live.policy();
            let started = Instant::now();
            while shared.memory_in_use() > max && started.elapsed() < period / 4 {
                if !shared.keyspace.evict_one(policy, unix_ms()) {
                    break;
                }
            }
            shared
                .latency
                .add_if_needed("eviction-cycle", started.elapsed().as_millis() as u64);
        }
        // The tracking table back within `tracking-table-max-keys` (after CONFIG SET lowered
        // it), as Redis's serverCron.
        let max_tracked = shared
            .live
            .tunables
            .tracking_table_max_keys
            .load(Ordering::Relaxed);
        shared.tracking.enforce_limit(&shared, max_tracked);
        // Automatic snapshots at the configured save points, as Redis's serverCron.
        persist::maybe_save(&shared);
        aof::cron(&shared);
        // Active expiry: up to 25% of one core per cycle (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC),
        // in slices of a few thousand keys so no shard lock is held for long.
        let budget = period / 4;
        let started = Instant::now();
        let active = shared.active_expire.load(Ordering::Relaxed) && !shared.pause.in_force();
        // Not while a script runs: time stands still for a script (its commands see the
        // instant it started), as it does in Redis where nothing else runs meanwhile.
        while active && !replica && started.elapsed() < budget && !shared.script.running() {
            let slice = Instant::now();
            let expired = shared.keyspace.expire_cycle(unix_ms(), 2048);
            shared
                .stats
                .expire_cycle_micros
                .fetch_add(slice.elapsed().as_micros() as u64, Ordering::Relaxed);
            if expired == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        shared
            .latency
            .add_if_needed("expire-cycle", started.elapsed().as_millis() as u64);
        if let Some(c) = &shared.cluster {
            let lost = c.take_lost();
            if !lost.is_empty() {
                redirect_blocked(&shared, c);
                tokio::spawn(drop_lost_slots(shared.clone(), lost));
            }
            migration::schedule(&shared);
        }
        // Replicas hear from this node at least every repl-ping-replica-period, so their
        // repl-timeout does not cut a quiet link (a PING in the stream, as Redis).
        let ping_every = tunables::find("repl-ping-replica-period")
            .and_then(|t| shared.live.tunables.get(t).parse().ok())
            .unwrap_or(10u64);
        // Not during a FAILOVER: the stream must stand still for a replica to catch up.
        if shared.replicas.count() > 0
            && !replication::failover::active(&shared)
            && last_replica_ping.elapsed() >= Duration::from_secs(ping_every.max(1))
        {
            shared.repl_log.append_control(&[b"PING"]);
            last_replica_ping = Instant::now();
        }
        // Expired and evicted keys' DELs from this tick (and anything written outside a
        // batch of commands) leave for the replicas.
        shared.repl_log.flush();
        shared.tracking.broadcast(&shared);
        if last_latency.elapsed() >= Duration::from_secs(1) {
            shared.recent_latency.sample(&shared.table.stats);
            last_latency = Instant::now();
        }
        if last_memory.elapsed() >= Duration::from_millis(100) {
            shared.refresh_memory();
            shared.rates.lock().sample(
                info::total_commands(&shared),
                shared.stats.net_input_bytes.load(Ordering::Relaxed),
                shared.stats.net_output_bytes.load(Ordering::Relaxed),
            );
            last_memory = Instant::now();
        }
    }
}

#[cfg(test)]
mod memory_tests {
    /// The keyspace's own byte count must match what the allocator really handed out for
    /// it, or `maxmemory` would be enforced against the wrong number. Measured with this
    /// thread's own jemalloc counters, so tests running beside it cannot blur the figure.
    #[test]
    fn keyspace_accounting_matches_the_allocator() {
        use tikv_jemalloc_ctl::thread::{allocatedp, deallocatedp};
        let (alloc, dealloc) = (allocatedp::read().unwrap(), deallocatedp::read().unwrap());
        let net = || alloc.get() - dealloc.get();
        let before = net();
        let ks = store::Keyspace::new();
        for i in 0..100_000u32 {
            let key = format!("obj:{i:07}");
            let h = ks.hash(key.as_bytes());
            ks.lock(h)
                .set_str(h, key.as_bytes(), &[b'x'; 100], store::Ttl::Clear, 0);
        }
        let allocated = net() - before;
        let counted = ks.used_bytes();
        let diff = allocated as f64 / counted as f64;
        assert!(
            (0.97..1.03).contains(&diff),
            "allocator {allocated} vs counted {counted}"
        );
    }
}

#[cfg(test)]
mod worker_count_tests {
    /// The default leaves one core free but never runs without a worker.
    #[test]
    fn default_workers_leave_a_core_but_keep_one() {
        assert_eq!(super::default_workers(1), 1);
        assert_eq!(super::default_workers(2), 1);
        assert_eq!(super::default_workers(8), 7);
    }
}
