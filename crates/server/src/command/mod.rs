//! The command table and dispatch.
//!
//! Metadata comes from [`meta`] (Redis's own, generated); behaviour from the handlers in
//! [`crate::cmd`], joined by name in [`CommandTable::new`]. Dispatch checks, in Redis's
//! order: known command, subcommand, arity, authentication, memory; then runs the handler
//! and records statistics and the slow log.

pub mod meta;
pub mod spec;

/// Per-command timing reads the TSC (see the `quanta` dependency's note).
use quanta::Instant;
use std::sync::atomic::Ordering;

use resp::{Args, ReplyWriter};

use crate::error::{CmdError, CmdResult};
use crate::stats::{CommandStats, LocalStats};
use crate::{ClientState, ReplyMode, Shared};
pub use spec::CommandMeta;

/// A command implementation. It either writes one complete reply to `ctx.out` and returns
/// `Ok`, or writes nothing and returns the error to reply with.
pub type Handler = fn(&mut Ctx<'_>, Args<'_>) -> CmdResult;

/// Everything a handler may use.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut ClientState,
    pub out: &'a mut ReplyWriter,
    /// The command's time snapshot, ms since the epoch: one clock reading per command, so
    /// every key it touches sees the same "now" (as Redis's `commandTimeSnapshot`).
    pub now: u64,
    /// Set for a command that runs alone (a script): what running commands on its behalf
    /// needs (see [`crate::script_host`]).
    pub nested: Option<crate::script_host::Nested<'a>>,
}

impl Ctx<'_> {
    pub fn keyspace(&self) -> &store::Keyspace {
        &self.shared.keyspace
    }
}

pub struct Command {
    pub meta: &'static CommandMeta,
    pub handler: Option<Handler>,
    /// For containers (CLIENT, CONFIG, ...): indices of the subcommands.
    pub subcommands: Vec<usize>,
    pub write: bool,
    /// Propagated to replicas though not a write (PUBLISH): Redis's `may_replicate`.
    pub may_replicate: bool,
    pub deny_oom: bool,
    pub no_auth: bool,
    pub skip_slowlog: bool,
    /// Allowed while the node loads its snapshot (Redis's `loading` flag).
    pub while_loading: bool,
    /// A script command (EVAL, FCALL and their variants): runs with every other command
    /// held off, its effects replicated as one transaction (see [`crate::script_host`]).
    pub runs_alone: bool,
    /// May run while a script is busy (Redis's `allow_busy`: SCRIPT KILL, SHUTDOWN, ...).
    pub allow_busy: bool,
}

/// All commands, indexed; statistics live beside them.
pub struct CommandTable {
    pub commands: Vec<Command>,
    pub stats: Vec<CommandStats>,
    by_name: hashbrown::HashMap<Box<[u8]>, usize, foldhash::fast::FixedState>,
    /// The names of up to [`SHORT_NAME`] bytes (nearly every command a client sends) by
    /// [`short_key`]: one integer hash and compare per request instead of hashing and
    /// comparing a boxed slice (4% of the node's CPU at pipeline 16 went to this lookup).
    by_short_name: hashbrown::HashMap<u128, usize, foldhash::fast::FixedState>,
}

/// Longest name [`short_key`] packs: 15 bytes and a length byte fill a `u128`.
const SHORT_NAME: usize = 15;

/// `name` lowercased and packed with its length in the top byte (so `get` and `get\0` differ).
/// `None` if longer than [`SHORT_NAME`].
#[inline]
fn short_key(name: &[u8]) -> Option<u128> {
    if name.len() > SHORT_NAME {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name);
    bytes[..SHORT_NAME].make_ascii_lowercase();
    bytes[SHORT_NAME] = name.len() as u8;
    Some(u128::from_le_bytes(bytes))
}

/// Whether a command named `name` may give up its batch's shared hold of the EXEC gate to
/// take it exclusively (EXEC, scripts): a snapshot can be cut while it waits, so whatever
/// the batch owes the replication stream must be in it before such a command runs.
pub fn may_hold_the_gate_alone(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"exec")
        || SCRIPT_COMMANDS
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

/// The commands that run a script: they run alone (see [`Command::runs_alone`]).
pub const SCRIPT_COMMANDS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// Commands whose implementation is linked in only with a script engine
/// ([`crate::Config::extra_commands`]); without one they are unknown commands.
const OPTIONAL_COMMANDS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "script",
    "function",
];

/// Longest command name we look up without allocating.
const MAX_NAME: usize = 64;

impl CommandTable {
    /// Joins the metadata with the handlers (by full command name: `crate::cmd::handlers`,
    /// handed in by the node, so dispatch does not depend on the commands). Panics on a
    /// mismatch: a build error, caught by the table test.
    pub fn new(handlers: Vec<(&'static str, Handler)>) -> Self {
        let mut table = CommandTable {
            commands: Vec::new(),
            stats: Vec::new(),
            by_name: Default::default(),
            by_short_name: Default::default(),
        };
        let find = |name: &str| -> Option<Handler> {
            handlers.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
        };
        for meta in meta::COMMANDS {
            if OPTIONAL_COMMANDS.contains(&meta.name)
                && find(meta.name).is_none()
                && find(&format!("{}|help", meta.name)).is_none()
            {
                continue;
            }
            let mut subs: Vec<&'static CommandMeta> = meta.subcommands.iter().collect();
            if meta.name == "client" {
                subs.push(&spec::CLIENT_SETINFO);
                subs.push(&spec::CLIENT_NO_TOUCH);
            }
            if meta.name == "cluster" {
                subs.push(&spec::CLUSTER_MYSHARDID);
                subs.extend([
                    &spec::CLUSTER_MOVESLOTS,
                    &spec::CLUSTER_REBALANCE,
                    &spec::CLUSTER_DRAIN,
                    &spec::CLUSTER_CANCELMOVES,
                    &spec::CLUSTER_PAUSEMOVES,
                    &spec::CLUSTER_RESUMEMOVES,
                    &spec::CLUSTER_MIGRATIONS,
                    &spec::CLUSTER_DIGESTS,
                ]);
            }
            let mut sub_indices = Vec::new();
            for sub in subs {
                let handler = find(sub.name)
                    .unwrap_or_else(|| panic!("no handler for subcommand {}", sub.name));
                sub_indices.push(table.add(sub, Some(handler), Vec::new()));
            }
            // A container may also run on its own (plain COMMAND); others need a subcommand.
            let handler = find(meta.name);
            assert!(
                handler.is_some() || !sub_indices.is_empty(),
                "no handler for {}",
                meta.name
            );
            table.add(meta, handler, sub_indices);
        }
        for (name, _) in handlers {
            assert!(
                table.by_name.contains_key(name.as_bytes()),
                "handler {name} has no metadata"
            );
        }
        table
    }

    fn add(
        &mut self,
        meta: &'static CommandMeta,
        handler: Option<Handler>,
        subcommands: Vec<usize>,
    ) -> usize {
        let index = self.commands.len();
        self.commands.push(Command {
            meta,
            handler,
            subcommands,
            write: meta.has_flag("write"),
            // Redis propagates PUBLISH by hand (`forceCommandPropagation`).
            may_replicate: meta.has_flag("may_replicate")
                || matches!(meta.name, "publish" | "spublish"),
            deny_oom: meta.has_flag("denyoom"),
            no_auth: meta.has_flag("no_auth"),
            skip_slowlog: meta.has_flag("skip_slowlog"),
            while_loading: meta.has_flag("loading"),
            runs_alone: SCRIPT_COMMANDS.contains(&meta.name),
            allow_busy: meta.has_flag("allow_busy"),
        });
        self.stats.push(CommandStats::default());
        self.by_name.insert(meta.name.as_bytes().into(), index);
        if let Some(key) = short_key(meta.name.as_bytes()) {
            self.by_short_name.insert(key, index);
        }
        index
    }

    /// Finds a command by name, case-insensitively, without allocating.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        if let Some(key) = short_key(name) {
            return self.by_short_name.get(&key).copied();
        }
        if name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// A command as a client names it in a request: `container|sub` is no such name (Redis
    /// answers it as an unknown command), though COMMAND INFO, ACL rules and LATENCY take
    /// it ([`Self::lookup`]).
    pub fn lookup_request(&self, name: &[u8]) -> Option<usize> {
        if name.contains(&b'|') {
            return None;
        }
        self.lookup(name)
    }

    /// The command `args` invoke (Redis's `lookupCommand`): a container's subcommand when
    /// there is a second argument, else the command itself.
    pub fn resolve_args(&self, args: Args<'_>) -> Option<usize> {
        if args.is_empty() {
            return None;
        }
        let index = self.lookup_request(args.get(0))?;
        let cmd = self.get(index);
        if cmd.subcommands.is_empty() || args.len() == 1 {
            return Some(index);
        }
        self.lookup_sub(cmd.meta.name, args.get(1))
    }

    /// Finds `container|sub`.
    pub fn lookup_sub(&self, container: &str, sub: &[u8]) -> Option<usize> {
        let mut name = Vec::with_capacity(container.len() + 1 + sub.len());
        name.extend_from_slice(container.as_bytes());
        name.push(b'|');
        name.extend_from_slice(sub);
        self.lookup(&name)
    }

    pub fn get(&self, index: usize) -> &Command {
        &self.commands[index]
    }

    /// Top-level commands (not subcommands).
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(|c| !c.meta.name.contains('|'))
    }
}

/// Time for a batch of pipelined commands: one wall-clock reading per batch (the commands'
/// time snapshot, as Redis takes one per command) and one monotonic reading per command,
/// each command's end being the next one's start.
#[derive(Debug, Clone, Copy)]
pub struct BatchClock {
    pub unix_ms: u64,
    pub last: Instant,
}

impl BatchClock {
    pub fn now() -> Self {
        BatchClock {
            unix_ms: crate::unix_ms(),
            last: Instant::now(),
        }
    }
}

/// What the connection should do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Nothing ran and nothing was written: await `client.pending`, then run the same
    /// command again.
    Retry,
    /// Flush the replies, then close (QUIT, protocol errors, CLIENT KILL of self).
    Close,
}

fn reply_error(shared: &Shared, out: &mut ReplyWriter, e: &CmdError) {
    if !matches!(e, CmdError::Counted(_)) {
        shared.stats.count_error(&e.code());
    }
    out.error(&e.to_string());
}

/// An upper bound of the bytes a write adds: its arguments plus an entry header and table
/// slot per argument (a key, at most).
fn incoming_bytes(args: Args<'_>) -> u64 {
    args.iter().map(|a| a.len() as u64 + 32).sum()
}

/// `min-replicas-to-write N` with `min-replicas-max-lag S`: fewer than N replicas have
/// acknowledged within S seconds, so writes are refused (as Redis's `checkGoodReplicasStatus`).
pub(crate) fn too_few_good_replicas(shared: &Shared) -> bool {
    let t = &shared.live.tunables;
    let wanted = t.min_replicas_to_write.load(Ordering::Relaxed);
    let max_lag = t.min_replicas_max_lag.load(Ordering::Relaxed);
    if wanted == 0 || max_lag == 0 || shared.replication.is_replica() {
        return false;
    }
    shared.replicas.good(max_lag as u64) < wanted
}

/// A replica that refuses its clients' writes (`replica-read-only yes`, the default).
pub(crate) fn replica_read_only(shared: &Shared) -> bool {
    shared.replication.is_replica()
        && shared
            .live
            .tunables
            .replica_read_only
            .load(Ordering::Relaxed)
}

/// A replica whose link is down and that must not serve its stale data
/// (`replica-serve-stale-data no`): only commands flagged `stale` run.
fn master_down_and_stale(shared: &Shared) -> bool {
    shared.replication.is_replica()
        && !shared
            .live
            .tunables
            .replica_serve_stale_data
            .load(Ordering::Relaxed)
        && shared.replication.state().link != crate::replication::LinkState::Connected
}

/// Looks a command up and runs the checks Redis runs before executing it: known command,
/// subcommand, arity, authentication, memory. The command's index, or the refusal.
fn resolve(
    shared: &Shared,
    client: &ClientState,
    args: Args<'_>,
    local: &mut LocalStats,
    clock: &BatchClock,
) -> Result<usize, CmdError> {
    let table = &shared.table;
    let name = args.get(0);
    let Some(mut index) = table.lookup_request(name) else {
        shared
            .stats
            .unknown_commands
            .fetch_add(1, Ordering::Relaxed);
        return Err(CmdError::unknown_command(name, args.tail(1)));
    };
    let mut cmd = table.get(index);
    // A container needs a subcommand, unless it also runs on its own (plain COMMAND).
    let runs_alone = args.len() == 1 && cmd.handler.is_some();
    if !cmd.subcommands.is_empty() && !runs_alone {
        if args.len() < 2 {
            local.reject(index);
            return Err(CmdError::WrongArity(cmd.meta.name.into()));
        }
        match table.lookup_sub(cmd.meta.name, args.get(1)) {
            Some(sub) => {
                index = sub;
                cmd = table.get(sub);
            }
            None => {
                local.reject(index);
                return Err(CmdError::UnknownSubcommand {
                    sub: String::from_utf8_lossy(args.get(1))
                        .chars()
                        .take(128)
                        .collect(),
                    container: cmd.meta.name.to_ascii_uppercase(),
                });
            }
        }
    }
    let meta = cmd.meta;
    // EXEC writes (and may need memory) when what it queued does, as Redis's processCommand
    // reads the transaction's flags: refused then, it aborts the transaction.
    let queued_any = |f: fn(&Command) -> bool| {
        meta.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(i, _)| f(table.get(*i))))
    };
    let writes = cmd.write || queued_any(|c| c.write);
    let rejection = if !arity_ok(shared, meta, args.len()) {
        Some(CmdError::WrongArity(meta.name.into()))
    } else if let Some(e) = (meta.name.starts_with("debug"))
        .then(|| crate::cmd::server::debug::allowed(shared, client).err())
        .flatten()
    {
        Some(e)
    } else if !client.authenticated && !cmd.no_auth && shared.users.auth_required() {
        Some(CmdError::NoAuth)
    } else if let Err(denied) = crate::users::check(shared, client, index, args) {
        let context = if client.multi.is_some() {
            crate::users::Context::Multi
        } else {
            crate::users::Context::Toplevel
        };
        Some(crate::users::refuse(
            shared, client, index, args, denied, context,
        ))
    } else if !cmd.while_loading
        && !client.loading_aof
        && shared.persistence.loading.load(Ordering::Relaxed)
    {
        Some(CmdError::Loading)
    } else if crate::pubsub::subscribed(client)
        && client.info.resp.load(Ordering::Relaxed) == 2
        && !SUBSCRIPTION_COMMANDS.contains(&meta.name)
        && !matches!(meta.name, "ping" | "quit" | "reset")
    {
        Some(CmdError::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            meta.name
        )))
    } else if let Some(e) = (!client.is_master)
        .then(|| {
            cluster_redirect(
                shared,
                meta,
                args,
                client.readonly && !cmd.write,
                client.tls,
                client.asking || meta.has_flag("asking"),
            )
        })
        .flatten()
    {
        Some(e)
    } else if cmd.deny_oom
        && client.multi.is_none()
        && !shared.make_room(clock.unix_ms, incoming_bytes(args))
    {
        Some(CmdError::Oom)
    } else if client.multi.is_some()
        && !matches!(meta.name, "exec" | "discard" | "quit" | "reset")
        && !shared.make_room(clock.unix_ms, 0)
    {
        // As Redis: while over maxmemory, nothing is queued (a queue may grow without
        // bound), and the refusal makes EXEC abort the transaction.
        Some(CmdError::Oom)
    } else if queued_any(|c| c.deny_oom) && !shared.make_room(clock.unix_ms, 0) {
        Some(CmdError::Oom)
    } else if let Some(e) = (writes && !client.is_master)
        .then(|| shared.aof.write_refusal())
        .flatten()
    {
        Some(e)
    } else if writes && !client.is_master && too_few_good_replicas(shared) {
        Some(CmdError::NoReplicas)
    } else if writes && !client.is_master && replica_read_only(shared) {
        Some(CmdError::ReadOnly)
    } else if !client.is_master
        && master_down_and_stale(shared)
        && (!meta.has_flag("stale") || queued_any(|c| !c.meta.has_flag("stale")))
    {
        Some(CmdError::MasterDown)
    } else {
        None
    };
    match rejection {
        Some(e) => {
            local.reject(index);
            Err(e)
        }
        None => Ok(index),
    }
}

/// Whether a command may run while a script is busy: Redis's `allow_busy` commands (for a
/// container, its subcommand's flag), except inside MULTI, where nothing is queued then.
pub fn allowed_while_busy(shared: &Shared, args: Args<'_>) -> bool {
    let table = &shared.table;
    let Some(index) = table.lookup_request(args.get(0)) else {
        return false;
    };
    let cmd = table.get(index);
    if cmd.subcommands.is_empty() || args.len() < 2 {
        return cmd.allow_busy;
    }
    table
        .lookup_sub(cmd.meta.name, args.get(1))
        .is_some_and(|i| table.get(i).allow_busy)
}

/// The EXEC guard a connection holds while it runs a batch of commands (see
/// [`crate::exec_gate`]); EXEC and scripts trade it for the exclusive one, kept for the
/// rest of the batch.
pub type GateGuard<'a> = crate::exec_gate::BatchGate<'a>;

/// In cluster mode, Redis Cluster's checks for a command with keys: all in one slot
/// (CROSSSLOT), served here (MOVED otherwise), and a topology agreed (CLUSTERDOWN).
/// A read from a READONLY client (`replica_read`) is served by a replica of the slot's shard.
fn cluster_redirect(
    shared: &Shared,
    meta: &CommandMeta,
    args: Args<'_>,
    replica_read: bool,
    tls: bool,
    asking: bool,
) -> Option<CmdError> {
    let cluster = shared.cluster.as_ref()?;
    let positions = meta.key_positions(args);
    if positions.is_empty() {
        return None;
    }
    match cluster.route(
        positions.iter().map(|&i| args.get(i)),
        replica_read,
        tls,
        asking,
    ) {
        crate::cluster::Route::Here => None,
        crate::cluster::Route::Moved(slot, addr) => Some(CmdError::Moved { slot, addr }),
        crate::cluster::Route::CrossSlot => Some(CmdError::CrossSlot),
        crate::cluster::Route::Down => Some(CmdError::ClusterDown),
        crate::cluster::Route::Wait(until) => Some(CmdError::SlotWait(until)),
        crate::cluster::Route::Switching => Some(CmdError::SlotMoving),
    }
}

/// Whether CLIENT PAUSE WRITE holds command `index` back: a write, or a command that may
/// replicate (Redis's `CMD_MAY_REPLICATE`: PFCOUNT, PUBLISH, SPUBLISH, and scripts unless
/// they declare `no-writes`).
fn paused_as_write(shared: &Shared, index: usize, args: Args<'_>) -> bool {
    let cmd = shared.table.get(index);
    cmd.write
        || may_replicate(cmd.meta.name)
        || (matches!(cmd.meta.name, "eval" | "evalsha" | "fcall")
            && crate::script_host::script_may_write(shared, args))
}

/// Redis's `CMD_MAY_REPLICATE` commands a script can call (its command table does not show
/// the flag): refused in read-only scripts, held back by CLIENT PAUSE WRITE.
pub(crate) fn may_replicate(name: &str) -> bool {
    matches!(name, "pfcount" | "publish" | "spublish")
}

/// [`execute`] for a client with no connection to wait on (a replica's primary link, the
/// append-only file's replay): a command that must wait (a slot changing owner in cluster
/// mode) runs again shortly, on this thread; what it left pending is dropped.
#[allow(clippy::too_many_arguments)]
pub fn execute_until_done<'s>(
    shared: &'s Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    args: Args<'_>,
    local: &mut LocalStats,
    clock: &mut BatchClock,
    gate: &mut GateGuard<'s>,
) {
    loop {
        let flow = execute(shared, client, out, args, local, clock, gate);
        client.pending = None;
        if flow != Flow::Retry {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Resolves, checks and runs one command; inside MULTI, queues it instead. The caller holds
/// `gate` (the shared EXEC guard) around its batch.
pub fn execute<'s>(
    shared: &'s Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    args: Args<'_>,
    local: &mut LocalStats,
    clock: &mut BatchClock,
    gate: &mut GateGuard<'s>,
) -> Flow {
    let mark = out.len();
    crate::users::refresh(shared, client);
    let resolved = resolve(shared, client, args, local, clock);
    // As Redis's processCommand: while over maxmemory every command, not only one that adds
    // data, first evicts by the policy, and the tracking table is brought back within
    // `tracking-table-max-keys`; the invalidations either sent (this client's own tracked
    // keys included) go out before the reply.
    if let Ok(index) = &resolved {
        let evicted = !shared.table.get(*index).deny_oom && shared.evict_if_over(clock.unix_ms);
        // Only while someone tracks, as Redis (`server.tracking_clients`).
        let forgotten = shared.tracking.active() && {
            let max = shared
                .live
                .tunables
                .tracking_table_max_keys
                .load(Ordering::Relaxed);
            let over = shared.tracking.over_limit(max);
            if over {
                shared.tracking.enforce_limit(shared, max);
            }
            over
        };
        if evicted || forgotten {
            crate::pubsub::drain_queued(client, out, usize::MAX);
        }
    }
    // A command on a switching slot waits for the switch, polling, until it has waited
    // `SWITCH_WAIT` since it first met it.
    let can_wait = client.multi.is_none() && !client.in_exec;
    let retry_at = match &resolved {
        Err(CmdError::SlotWait(until)) if can_wait => Some(*until),
        Err(CmdError::SlotMoving) if can_wait => {
            let now = std::time::Instant::now();
            let since = *client.switch_wait_since.get_or_insert(now);
            (now - since < crate::cluster::SWITCH_WAIT)
                .then(|| now + std::time::Duration::from_millis(1))
        }
        _ => None,
    };
    if retry_at.is_none() {
        client.switch_wait_since = None;
    }
    // ASKING lasts for one command (not for one that waits to run again).
    if client.asking && retry_at.is_none() && !args.get(0).eq_ignore_ascii_case(b"asking") {
        client.asking = false;
    }
    if let Some(until) = retry_at {
        client.pending = Some(crate::Pending::RetryAt(until));
        return Flow::Retry;
    }
    match resolved {
        Err(e) => refuse(shared, client, out, args, &e),
        Ok(index) => {
            let cmd = shared.table.get(index);
            let name = cmd.meta.name;
            // CLIENT PAUSE holds commands back (writes only, or all): the connection waits
            // and runs this one again later.
            let writes = paused_as_write(shared, index, args)
                || (name == "exec"
                    && client.multi.as_ref().is_some_and(|m| {
                        m.queued
                            .iter()
                            .any(|(i, a)| paused_as_write(shared, *i, a.as_args()))
                    }));
            if let Some(until) = (!client.is_master)
                .then(|| shared.pause.hold(writes))
                .flatten()
            {
                out.truncate(mark);
                client.pending = Some(crate::Pending::Paused(until));
                return Flow::Retry;
            }
            match (&mut client.multi, name) {
                (Some(_), "exec") => {
                    exec_transaction(shared, client, out, index, args, local, clock, gate)
                }
                (None, _) if cmd.runs_alone => {
                    gate.make_exclusive(&shared.exec_gate);
                    run_script(shared, client, out, index, args, local, clock);
                    serve_ready_keys(shared, client, clock.unix_ms);
                }
                (Some(_), "multi" | "discard" | "watch" | "quit" | "reset") | (None, _) => {
                    run(shared, client, out, index, args, local, clock);
                }
                // SAVE, SHUTDOWN, SYNC, PSYNC (Redis's CMD_NO_MULTI).
                (Some(_), _) if cmd.meta.has_flag("no_multi") => {
                    let e = CmdError::err("Command not allowed inside a transaction");
                    refuse(shared, client, out, args, &e);
                }
                (Some(multi), _) => {
                    multi.queued.push((index, args.to_owned()));
                    client
                        .info
                        .multi
                        .store(multi.queued.len() as i64, Ordering::Relaxed);
                    out.simple("QUEUED");
                }
            }
        }
    }
    finish(client, out, mark, args)
}

/// The commands whose confirmations Redis sends as pushes.
const SUBSCRIPTION_COMMANDS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
];

/// Applies CLIENT REPLY to the replies written since `mark`; says whether to close.
fn finish(client: &mut ClientState, out: &mut ReplyWriter, mark: usize, args: Args<'_>) -> Flow {
    // (Un)subscribing confirmations are pushes, not replies: CLIENT REPLY OFF/SKIP leaves
    // them (in RESP2 too), as Redis writes them with CLIENT_PUSHING; an error is a reply.
    // Looked at only when replies are silenced (not on every command).
    let pushes = || {
        SUBSCRIPTION_COMMANDS
            .iter()
            .any(|c| args.get(0).eq_ignore_ascii_case(c.as_bytes()))
            && out.buffer().get(mark) != Some(&b'-')
    };
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => {
            if !pushes() {
                out.truncate(mark);
            }
        }
        ReplyMode::Skip => {
            if !pushes() {
                out.truncate(mark);
            }
            client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
    }
    if client.close_after_reply {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// Answers a command refused before it ran (Redis's rejectCommand): a refused EXEC
/// discards the transaction (Redis 7.0 answers EXECABORT naming why, even outside MULTI);
/// any other refusal inside MULTI makes EXEC refuse the queue (Redis's flagTransaction).
pub(crate) fn refuse(
    shared: &Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    args: Args<'_>,
    e: &CmdError,
) {
    if args.get(0).eq_ignore_ascii_case(b"exec") {
        abort_transaction(shared, client, out, &e.to_string());
        return;
    }
    if let Some(multi) = client.multi.as_mut() {
        multi.dirty = true;
    }
    reply_error(shared, out, e);
}

/// Ends a transaction that cannot run, with EXECABORT naming why.
fn abort_transaction(shared: &Shared, client: &mut ClientState, out: &mut ReplyWriter, why: &str) {
    client.multi = None;
    client.info.multi.store(-1, Ordering::Relaxed);
    crate::transaction::unwatch_all(shared, client);
    let why = why.strip_prefix("ERR ").unwrap_or(why);
    let e = CmdError::ExecAbort(why.to_string());
    reply_error(shared, out, &e);
}

/// EXEC: runs the queue with every other command on the node held off, unless a queued
/// command was refused or a watched key changed.
#[allow(clippy::too_many_arguments)]
fn exec_transaction<'s>(
    shared: &'s Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    exec_index: usize,
    exec_args: Args<'_>,
    local: &mut LocalStats,
    clock: &mut BatchClock,
    gate: &mut GateGuard<'s>,
) {
    use crate::transaction::{unwatch_all, watch_broken};
    let multi = client.multi.take().expect("in MULTI");
    client.info.multi.store(-1, Ordering::Relaxed);
    // MONITOR shows EXEC after what it ran, aborted or not (Redis feeds it once the
    // command returns).
    let feed_exec = |client: &ClientState| {
        if shared.pubsub.has_monitors() {
            feed_monitors(shared, &client.info.addr, exec_args);
        }
    };
    if multi.dirty {
        unwatch_all(shared, client);
        reply_error(shared, out, &CmdError::ExecAbortPrevious);
        feed_exec(client);
        return;
    }
    let table = &shared.table;
    let room: u64 = multi
        .queued
        .iter()
        .filter(|(i, _)| table.get(*i).deny_oom)
        .map(|(_, a)| incoming_bytes(a.as_args()))
        .sum();
    if room > 0 && !shared.make_room(clock.unix_ms, room) {
        abort_transaction(shared, client, out, &CmdError::Oom.to_string());
        return;
    }
    let start = clock.last;
    gate.make_exclusive(&shared.exec_gate);
    let broken = client
        .watching
        .as_ref()
        .is_some_and(|w| watch_broken(shared, w, clock.unix_ms));
    unwatch_all(shared, client);
    if broken {
        out.null_array();
    } else {
        out.array(multi.queued.len());
        client.in_exec = true;
        client.exec_propagated.clear();
        for (index, args) in &multi.queued {
            // Permissions are checked again: they may have changed since queueing.
            crate::users::refresh(shared, client);
            if let Err(denied) = crate::users::check(shared, client, *index, args.as_args()) {
                let why = crate::users::refuse(
                    shared,
                    client,
                    *index,
                    args.as_args(),
                    denied,
                    crate::users::Context::Multi,
                );
                reply_error(shared, out, &exec_denial(&why));
                continue;
            }
            if table.get(*index).runs_alone {
                run_script(shared, client, out, *index, args.as_args(), local, clock);
            } else {
                run(shared, client, out, *index, args.as_args(), local, clock);
            }
        }
        client.in_exec = false;
        // Replicas apply the transaction's effects as one transaction too (a single
        // effect goes alone: it is atomic by itself, as Redis 7.0 propagates it).
        propagate_effects(shared, client);
    }
    feed_exec(client);
    serve_ready_keys(shared, client, clock.unix_ms);
    client.last_command = table.get(exec_index).meta.name;
    local.record(
        exec_index,
        clock.last.saturating_duration_since(start),
        false,
    );
}

/// The refusal of a queued command whose permission was taken away before EXEC.
fn exec_denial(denied: &CmdError) -> CmdError {
    let reason = match denied {
        CmdError::NoPerm(text) if text.contains("keys") => {
            "no permission to touch the specified keys"
        }
        CmdError::NoPerm(text) if text.contains("channels") => {
            "no permission to access one of the channels used as arguments"
        }
        _ => "no permission to execute the command or subcommand",
    };
    CmdError::NoPerm(format!(
        "ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"
    ))
}

/// Sends MONITOR clients the line for a command `client` ran.
fn feed_monitors(shared: &Shared, client: &dyn std::fmt::Display, args: Args<'_>) {
    let line = crate::pubsub::monitor_line(client, args);
    shared.pubsub.feed_monitors(
        line,
        shared.live.output_limit("normal"),
        &shared.stats.client_output_buffer_limit_disconnections,
    );
}

/// Writes the effects a transaction or script collected (`client.exec_propagated`) to the
/// replication stream as one MULTI/EXEC block; a single effect goes alone, as in Redis
/// 7.0's propagatePendingCommands (one command is atomic by itself).
fn propagate_effects(shared: &Shared, client: &mut ClientState) {
    let effects = std::mem::take(&mut client.exec_propagated);
    if effects.is_empty() || !shared.repl_log.records_local() {
        return;
    }
    let several = || {
        let mut at = 0;
        let mut count = 0;
        while let Ok(Some(n)) = resp::frame::frame_len(&effects[at..]) {
            count += 1;
            at += n;
        }
        count > 1
    };
    if several() {
        let mut block = Vec::with_capacity(effects.len() + 32);
        crate::replication::log::encode(&[b"MULTI"], &mut block);
        block.extend_from_slice(&effects);
        crate::replication::log::encode(&[b"EXEC"], &mut block);
        client.repl_offset = shared.repl_log.append(&block);
    } else {
        client.repl_offset = shared.repl_log.append(&effects);
    }
}

/// Serves the clients blocked on keys a transaction or script wrote; their pops go to
/// replicas too.
fn serve_ready_keys(shared: &Shared, client: &mut ClientState, now: u64) {
    let ready = std::mem::take(&mut client.ready_keys);
    if !ready.is_empty() {
        outside_command(shared, || {
            for key in ready {
                shared.blocking.serve(shared, &key, now);
            }
        });
    }
}

/// Runs a script command (see [`crate::script_host`]); the caller holds every EXEC lane.
/// Inside EXEC its effects join the transaction's; otherwise they go to replicas as one
/// MULTI/EXEC (a single effect goes alone, as in Redis).
fn run_script(
    shared: &Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    index: usize,
    args: Args<'_>,
    local: &mut LocalStats,
    clock: &mut BatchClock,
) {
    let cmd = shared.table.get(index);
    let start = clock.last;
    let inside_exec = client.in_exec;
    if !inside_exec {
        client.in_exec = true;
        client.exec_propagated.clear();
    }
    // Script commands skip MONITOR's after-the-fact feed; Redis shows them before what they
    // run (whatever the outcome), their commands then as `lua`.
    if shared.pubsub.has_monitors() {
        feed_monitors(shared, &client.info.addr, args);
    }
    shared.script.enter(cmd.meta.name.starts_with("fcall"));
    let reply_at = out.len();
    let result = {
        let mut ctx = Ctx {
            shared,
            client: &mut *client,
            out: &mut *out,
            now: clock.unix_ms,
            nested: Some(crate::script_host::Nested {
                local: &mut *local,
                clock: &mut *clock,
            }),
        };
        let handler = cmd.handler.expect("leaf command has a handler");
        // Past `busy-reply-threshold` the worker's other connections move to another
        // thread (`ScriptState::tick`); until then they wait, as Redis's clients do.
        handler(&mut ctx, args)
    };
    // A script that returned an error reply (`redis.error_reply`, a raised error table)
    // counts in errorstats and as a failed call, as any error reply.
    let replied_error = result.is_ok() && out.buffer().get(reply_at) == Some(&b'-');
    if replied_error {
        let reply = &out.buffer()[reply_at + 1..];
        let end = reply
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(reply.len());
        let code = String::from_utf8_lossy(&reply[..end]).into_owned();
        shared.stats.count_error(&code);
    }
    shared.script.leave();
    if std::mem::take(&mut client.script_read) && tracking_wants(client) {
        let keys = cmd.meta.key_positions(args);
        remember_read(shared, client.info.id, keys.iter().map(|&i| args.get(i)));
    }
    if client.tracking.is_some() && client.multi.is_none() {
        client.caching = None;
    }
    let failed = result.is_err() || replied_error;
    if let Err(e) = &result {
        reply_error(shared, out, e);
    }
    if !inside_exec {
        client.in_exec = false;
        propagate_effects(shared, client);
    }
    let end = Instant::now();
    clock.last = end;
    let elapsed = end.saturating_duration_since(start);
    client.last_command = cmd.meta.name;
    local.record(index, elapsed, failed);
    slowlog_if_slow(shared, client, cmd, args, clock.unix_ms, elapsed);
}

/// Whether a tracking client's reads are remembered now: not in BCAST mode (prefixes), and
/// in OPTIN mode only after CLIENT CACHING YES, in OPTOUT mode unless CLIENT CACHING NO.
fn tracking_wants(client: &ClientState) -> bool {
    client.tracking.as_ref().is_some_and(|opts| {
        !opts.bcast
            && if opts.optin {
                client.caching == Some(true)
            } else if opts.optout {
                client.caching != Some(false)
            } else {
                true
            }
    })
}

/// Runs `f`, a change made on a command's behalf after it ended (serving blocked clients
/// after EXEC, giving an element back when its blocked client went away), with what a
/// command gets: its effects go to the replication stream, its keyspace events out.
pub fn outside_command(shared: &Shared, f: impl FnOnce()) {
    let log = &shared.repl_log;
    let writer = log.writer();
    let propagating = writer.is_some();
    if propagating {
        crate::replication::log::begin();
    }
    let notifying = shared.notify.enabled();
    if notifying {
        crate::notify::begin(false);
    }
    f();
    if notifying {
        crate::notify::finish(shared);
    }
    if propagating {
        let mut entry = Vec::new();
        crate::replication::log::finish(None, &mut entry);
        log.append(&entry);
    }
}

/// Whether `argc` arguments suit `meta` at the Redis version the node reports: Redis 7.2
/// widened ZRANK/ZREVRANK (WITHSCORE; metadata arity -3), which take exactly three again at
/// a 7.0 level — refused when queued in MULTI and in scripts, as 7.0 refuses them.
pub(crate) fn arity_ok(shared: &Shared, meta: &CommandMeta, argc: usize) -> bool {
    if !shared.live.redis_7_2 && matches!(meta.name, "zrank" | "zrevrank") {
        return argc == 3;
    }
    meta.arity_ok(argc)
}

/// Runs a resolved command's handler, then records statistics and the slow log. Whether
/// it failed.
pub(crate) fn run(
    shared: &Shared,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    index: usize,
    args: Args<'_>,
    local: &mut LocalStats,
    clock: &mut BatchClock,
) -> bool {
    let cmd = shared.table.get(index);
    let meta = cmd.meta;
    client.last_command = meta.name;
    // Values choose their encodings by this node's thresholds (CONFIG SET *-max-*).
    store::limits::set_current(shared.live.tunables.limits());
    // On a replica, expiry is the primary's call (see `store::expiry`); during CLIENT PAUSE
    // nothing expires (keys read as gone and stay), as in Redis 7.
    store::expiry::set_mode(if client.is_master {
        store::expiry::ExpiryMode::Keep
    } else if (!cmd.write && shared.replication.is_replica()) || shared.pause.in_force() {
        store::expiry::ExpiryMode::Hide
    } else {
        store::expiry::ExpiryMode::Reclaim
    });
    // CLIENT NO-TOUCH: reads leave access data alone, but for TOUCH itself (called by the
    // client, not from its script), as in Redis 7.2.
    store::access::set_records(
        !client.info.no_touch.load(Ordering::Relaxed)
            || (meta.name == "touch" && !client.in_script),
    );
    let start = clock.last;
    let now = clock.unix_ms;
    // While replicas follow this node, a write runs alone among writes and its effect goes
    // to the replication stream (see `replication::log`).
    let log = &shared.repl_log;
    let propagating =
        log.records_local() && (cmd.write || cmd.may_replicate) && !client.script_no_replicate;
    let writer = if propagating && cmd.write {
        log.writer()
    } else {
        None
    };
    if propagating {
        crate::replication::log::begin();
    }
    let notifying = shared.notify.enabled();
    if notifying {
        crate::notify::begin(!cmd.write);
    }
    if shared.tracking.active() {
        crate::tracking::set_current(client.info.id);
    }
    let result = {
        let mut ctx = Ctx {
            shared,
            client: &mut *client,
            out: &mut *out,
            now,
            nested: None,
        };
        (cmd.handler.expect("leaf command has a handler"))(&mut ctx, args)
    };
    let end = Instant::now();
    clock.last = end;
    let elapsed = end - start;
    let failed = result.is_err();
    if let Err(e) = &result {
        reply_error(shared, out, e);
    }
    // MONITOR sees every command that ran (errors included), except administrative ones.
    if shared.pubsub.has_monitors()
        && !cmd.meta.has_flag("admin")
        && !cmd.meta.has_flag("skip_monitor")
    {
        if client.in_script {
            feed_monitors(shared, &"lua", args);
        } else {
            feed_monitors(shared, &client.info.addr, args);
        }
    }
    local.record(index, elapsed, failed);
    let dirty = client.dirty.take().unwrap_or(1);
    if cmd.write && !failed {
        local.writes += dirty;
    }
    if client.blocked.is_none() && shared.latency.threshold() != 0 {
        let event = if meta.has_flag("fast") {
            "fast-command"
        } else {
            "command"
        };
        shared
            .latency
            .add_if_needed(event, elapsed.as_millis() as u64);
    }
    if client.tracking.is_some() {
        // Client-side caching remembers what read-only commands read (Redis's
        // trackingRememberKeys). A read-only script command is not tracked itself: a read
        // made inside a script tracks the script's declared keys once it ends (Redis 7.0's
        // call()). CLIENT CACHING covers the next command only (a script, whole).
        let tracked_read = meta.has_flag("readonly")
            && !matches!(meta.name, "eval_ro" | "evalsha_ro" | "fcall_ro");
        if tracked_read && client.in_script {
            client.script_read = true;
        } else if tracked_read && tracking_wants(client) {
            let keys = meta.key_positions(args);
            remember_read(shared, client.info.id, keys.iter().map(|&i| args.get(i)));
        }
        // Any CLIENT subcommand keeps it (Redis checks for its `clientCommand`).
        if !meta.name.starts_with("client|") && client.multi.is_none() && !client.in_script {
            client.caching = None;
        }
    }
    if notifying && !failed {
        crate::notify::command_events(shared, meta.name, args);
    }
    if cmd.write && shared.blocking.count() > 0 {
        // A write may have given a blocked client its data (Redis's "ready keys").
        for i in meta.key_positions(args) {
            if client.in_exec {
                client.ready_keys.push(args.get(i).to_vec());
            } else {
                shared.blocking.serve(shared, args.get(i), now);
            }
        }
    }
    if notifying {
        crate::notify::finish(shared);
    }
    if propagating {
        crate::replication::log::finish_with(Some(args), |entry| {
            if !entry.is_empty() {
                if client.in_exec {
                    client.exec_propagated.extend_from_slice(entry);
                } else {
                    client.repl_offset = log.append(entry);
                }
            }
        });
    }
    drop(writer);
    if let Some(blocked) = client.blocked.as_mut() {
        blocked.command = Some(index);
        // Logged if and when it is served (see `Blocked::slowlog`).
        if !cmd.skip_slowlog {
            blocked.slowlog = Some(Box::new(crate::slowlog::SlowEntry::new(
                args,
                0,
                elapsed.as_micros() as u64,
                client.info.addr.to_string(),
                client.info.name.read().clone(),
            )));
        }
    } else if !client.in_script {
        slowlog_if_slow(shared, client, cmd, args, now, elapsed);
    }
    failed
}

/// Tracks a read of `keys` by client `id`, keeping the table within
/// `tracking-table-max-keys`.
fn remember_read<'a>(shared: &Shared, id: u64, keys: impl Iterator<Item = &'a [u8]>) {
    shared.tracking.remember(id, keys);
    let max = shared
        .live
        .tunables
        .tracking_table_max_keys
        .load(Ordering::Relaxed);
    if shared.tracking.over_limit(max) {
        shared.tracking.enforce_limit(shared, max);
    }
}

/// Logs a command that ran past `slowlog-log-slower-than`.
fn slowlog_if_slow(
    shared: &Shared,
    client: &ClientState,
    cmd: &Command,
    args: Args<'_>,
    now: u64,
    elapsed: std::time::Duration,
) {
    let micros = elapsed.as_micros() as i64;
    let threshold = shared.live.slowlog_log_slower_than.load(Ordering::Relaxed);
    if threshold >= 0 && micros >= threshold && !cmd.skip_slowlog {
        let max_len = shared.live.slowlog_max_len.load(Ordering::Relaxed) as usize;
        shared.slowlog.lock().push(
            args,
            now / 1000,
            micros as u64,
            client.info.addr.to_string(),
            client.info.name.read().clone(),
            max_len,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_metadata_and_a_handler() {
        let t = CommandTable::new(crate::cmd::handlers());
        assert!(t.lookup(b"GET").is_some());
        assert!(t.lookup(b"get").is_some());
        assert!(t.lookup_sub("client", b"SETINFO").is_some());
        assert!(t.lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn every_name_is_found_in_any_case_and_nothing_else_is() {
        let t = CommandTable::new(crate::cmd::handlers());
        for (index, cmd) in t.commands.iter().enumerate() {
            let name = cmd.meta.name;
            assert_eq!(t.lookup(name.as_bytes()), Some(index), "{name}");
            assert_eq!(
                t.lookup(name.to_uppercase().as_bytes()),
                Some(index),
                "{name}"
            );
            // Near misses: a trailing NUL (same packed bytes but the length), a byte more
            // that no name has, one byte less.
            assert_eq!(t.lookup(format!("{name}\0").as_bytes()), None, "{name}");
            assert_eq!(t.lookup(format!("{name}#").as_bytes()), None, "{name}");
            let shorter = &name.as_bytes()[..name.len() - 1];
            assert_ne!(t.lookup(shorter), Some(index), "{name}");
        }
        assert_eq!(t.lookup(b""), None);
        assert_eq!(t.lookup(&[0u8; 15]), None);
    }

    #[test]
    fn key_positions_follow_first_last_step_or_the_key_specs() {
        let t = CommandTable::new(crate::cmd::handlers());
        let positions = |line: &str| {
            let mut args = resp::request::OwnedArgs::default();
            line.split(' ')
                .for_each(|a| args.push(if a == "<empty>" { b"" } else { a.as_bytes() }));
            let name = line.split(' ').next().unwrap().as_bytes();
            t.get(t.lookup(name).unwrap())
                .meta
                .key_positions(args.as_args())
        };
        assert_eq!(positions("mset a 1 b 2"), vec![1, 3]);
        assert_eq!(positions("del a b c"), vec![1, 2, 3]);
        assert_eq!(positions("get a"), vec![1]);
        // numkeys (keynum spec), a destination plus numkeys, a keyword searched backwards.
        assert_eq!(positions("zunion 2 a b withscores"), vec![2, 3]);
        assert_eq!(positions("zunionstore d 2 a b"), vec![1, 3, 4]);
        assert_eq!(positions("sintercard 1 a limit 5"), vec![2]);
        assert_eq!(positions("migrate h 1 <empty> 0 5 keys a b"), vec![7, 8]);
        assert_eq!(positions("migrate h 1 k 0 5 keys a b"), Vec::<usize>::new());
        assert_eq!(positions("migrate h 1 k 0 5"), vec![3]);
        // A count beyond the arguments is the command's syntax error: no keys.
        assert_eq!(positions("zunion 5 a b"), Vec::<usize>::new());
    }
}
