//! What an embedded script engine (the `scripting` crate, the only one that links Lua) needs
//! from the node, without the node knowing the engine:
//!
//! - its commands (EVAL, FCALL, SCRIPT, FUNCTION, ...) are handed in with the configuration
//!   ([`crate::Config::extra_commands`]) and joined to Redis's metadata like every other;
//! - a script command runs *alone* ([`crate::command::Command::runs_alone`]): with every
//!   worker's EXEC lane held, so no other command runs anywhere meanwhile (Redis's single
//!   thread), its effects written to replicas as one MULTI/EXEC;
//! - inside, [`Ctx::call_from_script`] runs a command on the script's behalf with the checks
//!   Redis's `scriptCall` makes, and hands back the reply;
//! - [`ScriptState`] says whether a script runs and for how long: once it passes
//!   `busy-reply-threshold`, connections on other workers stop waiting for it and answer
//!   `-BUSY` to everything but the commands flagged `allow_busy` (SCRIPT KILL, FUNCTION KILL,
//!   SHUTDOWN NOSAVE, ...); a kill request is a flag the engine's instruction hook polls.
//! - the engine keeps its own state (script cache, functions, the Lua VM) in
//!   [`crate::Shared::script_engine`], one per node.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use resp::{Args, ReplyWriter};

use crate::command::Ctx;
use crate::error::CmdError;
use crate::stats::LocalStats;

/// Whether a script command (EVAL, EVALSHA, FCALL) may write, by the script's declared flags
/// (Redis's `evalGetCommandFlags`): what CLIENT PAUSE WRITE holds back. Set by the linked
/// engine when its commands are handed in; without one, every script counts as a writer.
static SCRIPT_MAY_WRITE: OnceLock<fn(&crate::Shared, Args<'_>) -> bool> = OnceLock::new();

/// Registers the engine's answer to [`script_may_write`] (once per process: it is code,
/// not state).
pub fn register_script_may_write(check: fn(&crate::Shared, Args<'_>) -> bool) {
    let _ = SCRIPT_MAY_WRITE.set(check);
}

/// See [`SCRIPT_MAY_WRITE`].
pub fn script_may_write(shared: &crate::Shared, args: Args<'_>) -> bool {
    SCRIPT_MAY_WRITE
        .get()
        .is_none_or(|check| check(shared, args))
}

/// The per-batch state a command run on a script's behalf needs (statistics and the
/// command clock of the connection that runs the script).
pub struct Nested<'a> {
    pub(crate) local: &'a mut LocalStats,
    pub(crate) clock: &'a mut crate::command::BatchClock,
}

/// How a script may call commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallPolicy {
    /// EVAL_RO, FCALL_RO, or a script declared `no-writes`: write commands are refused.
    pub read_only: bool,
    /// The protocol the script reads replies in (`redis.setresp`).
    pub resp3: bool,
    /// Declared `allow-oom`: commands that may add data run even over `maxmemory`.
    pub allow_oom: bool,
}

/// The script running now, if any (one at a time per node: scripts run alone).
#[derive(Debug, Default)]
pub struct ScriptState {
    running: AtomicBool,
    /// A function (FCALL) rather than an EVAL script: decides the BUSY text.
    function: AtomicBool,
    /// When it started, in ms since `epoch` (the node's start).
    started_ms: AtomicU64,
    /// It has run past `busy-reply-threshold`: other clients get `-BUSY`.
    busy: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked it to stop.
    kill: AtomicBool,
    /// It has written: it can no longer be killed (Redis's UNKILLABLE).
    wrote: AtomicBool,
    /// The worker running it.
    worker: std::sync::atomic::AtomicUsize,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1: scripts may call commands flagged `noscript`
    /// (Redis's test hook; scripting commands themselves stay refused).
    deny_disabled: AtomicBool,
    epoch: std::sync::OnceLock<Instant>,
}

/// What INFO memory reports of scripting, kept up to date by the engine.
#[derive(Debug, Default)]
pub struct ScriptMemory {
    /// Bytes the Lua VM holds (scripts and functions share one VM).
    pub vm: AtomicU64,
    /// The EVAL script cache: scripts and their bodies.
    pub cached_scripts: AtomicU64,
    pub scripts_bytes: AtomicU64,
    pub functions: AtomicU64,
    pub libraries: AtomicU64,
    /// Library code and function names.
    pub functions_bytes: AtomicU64,
}

/// The code of the function libraries (FUNCTION LOAD's arguments), as the node persists
/// and replicates them: snapshots write them, a loaded snapshot (at start, or a replica's
/// full sync) replaces them. The engine keeps the live libraries and follows `generation`.
#[derive(Debug, Default)]
pub struct LibraryCodes {
    codes: parking_lot::Mutex<Vec<Vec<u8>>>,
    generation: AtomicU64,
}

impl LibraryCodes {
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.codes.lock().clone()
    }

    /// Bumped on every replacement.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the libraries; the new generation.
    pub fn replace(&self, codes: Vec<Vec<u8>>) -> u64 {
        let mut guard = self.codes.lock();
        *guard = codes;
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}

/// What SCRIPT KILL / FUNCTION KILL found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    Killed,
    NotBusy,
    Unkillable,
    /// A script of the other kind runs (FUNCTION KILL while an EVAL runs, or the reverse).
    OtherKind,
}

impl ScriptState {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    pub(crate) fn enter(&self, function: bool) {
        self.function.store(function, Ordering::Relaxed);
        self.worker
            .store(crate::exec_gate::current_lane(), Ordering::Relaxed);
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
    }

    pub(crate) fn leave(&self) {
        self.running.store(false, Ordering::Release);
        self.busy.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Past `busy-reply-threshold`: other clients are answered `-BUSY`.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Called by the engine's instruction hook: marks the script busy once it has run
    /// `threshold_ms`, and says whether it was asked to stop.
    pub fn tick(&self, threshold_ms: u64) -> bool {
        if !self.busy.load(Ordering::Relaxed)
            && self
                .now_ms()
                .saturating_sub(self.started_ms.load(Ordering::Relaxed))
                >= threshold_ms
        {
            self.busy.store(true, Ordering::Release);
            hand_off_worker();
        }
        self.kill.load(Ordering::Acquire)
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL (true).
    pub fn request_kill(&self, function: bool) -> KillOutcome {
        if !self.running() || !self.busy() {
            return KillOutcome::NotBusy;
        }
        if self.wrote.load(Ordering::Acquire) {
            return KillOutcome::Unkillable;
        }
        if self.function.load(Ordering::Relaxed) != function {
            return KillOutcome::OtherKind;
        }
        self.kill.store(true, Ordering::Release);
        KillOutcome::Killed
    }

    pub fn set_deny_disabled(&self, disabled: bool) {
        self.deny_disabled.store(disabled, Ordering::Relaxed);
    }

    /// Stops the running script whatever it did (SHUTDOWN NOSAVE).
    pub fn force_kill(&self) {
        if self.running() {
            self.kill.store(true, Ordering::Release);
        }
    }

    /// The error other clients get while the script is busy.
    pub fn busy_error(&self) -> CmdError {
        CmdError::Busy {
            function: self.function.load(Ordering::Relaxed),
        }
    }

    /// The worker a busy script holds (new connections are given to the others).
    pub fn busy_worker(&self) -> Option<usize> {
        self.busy().then(|| self.worker.load(Ordering::Relaxed))
    }

    /// Milliseconds the running script has run.
    pub fn elapsed_ms(&self) -> u64 {
        self.now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Relaxed))
    }
}

impl crate::Shared {
    /// The script engine's state for this node, made on first use.
    pub fn script_engine<T: std::any::Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> &T {
        self.script_engine
            .get_or_init(|| Box::new(make()))
            .downcast_ref::<T>()
            .expect("one script engine per node")
    }
}

/// Redis's messages for a command a script may not call.
fn script_call_error(text: &str) -> CmdError {
    CmdError::err(text)
}

impl Ctx<'_> {
    /// `redis.acl_check_cmd`: whether the script's caller may run `args`; `None` for an
    /// unknown command.
    pub fn acl_allows(&self, args: Args<'_>) -> Option<bool> {
        let index = self.shared.table.resolve_args(args)?;
        Some(crate::users::check(self.shared, self.client, index, args).is_ok())
    }

    /// Runs `args` on behalf of the running script, writing the reply (or the command's
    /// error reply) to `reply`. `Err` is a refusal before the command ran, in the words
    /// Redis's `scriptCall` uses; the engine raises it as a Lua error.
    pub fn call_from_script(
        &mut self,
        args: Args<'_>,
        policy: &CallPolicy,
        reply: &mut ReplyWriter,
    ) -> Result<(), CmdError> {
        let shared = self.shared;
        let table = &shared.table;
        let Some(nested) = self.nested.as_mut() else {
            return Err(CmdError::err(
                "scripts can call commands only from EVAL or FCALL",
            ));
        };
        let name = args.get(0);
        let unknown = || script_call_error("Unknown Redis command called from script");
        let mut index = table.lookup_request(name).ok_or_else(unknown)?;
        let mut cmd = table.get(index);
        let runs_alone = args.len() == 1 && cmd.handler.is_some();
        if !cmd.subcommands.is_empty() && !runs_alone {
            if args.len() < 2 {
                return Err(script_call_error(
                    "Wrong number of args calling Redis command from script",
                ));
            }
            index = table
                .lookup_sub(cmd.meta.name, args.get(1))
                .ok_or_else(unknown)?;
            cmd = table.get(index);
        }
        let meta = cmd.meta;
        // A refusal from here on counts as a rejected call of the command (Redis's
        // scriptCall: `incrCommandStatsOnError(cmd, ERROR_COMMAND_REJECTED)`).
        let checked: Result<(), CmdError> = 'checks: {
            if !crate::command::arity_ok(shared, meta, args.len()) {
                break 'checks Err(script_call_error(
                    "Wrong number of args calling Redis command from script",
                ));
            }
            // Script and function commands would wait for the engine the running script holds:
            // never from a script, whatever DEBUG SET-DISABLE-DENY-SCRIPTS says.
            let scripting = cmd.runs_alone
                || meta.name.starts_with("script|")
                || meta.name.starts_with("function|");
            if scripting
                || (meta.has_flag("noscript")
                    && !shared.script.deny_disabled.load(Ordering::Relaxed))
            {
                break 'checks Err(script_call_error(
                    "This Redis command is not allowed from script",
                ));
            }
            if let Err(denied) = crate::users::check(shared, self.client, index, args) {
                let (reason, at) = crate::users::denied_reason(denied);
                let object = at.map_or(meta.name.as_bytes(), |i| args.get(i));
                crate::users::log_denial(
                    shared,
                    self.client,
                    reason,
                    crate::users::Context::Lua,
                    object,
                    None,
                );
                break 'checks Err(script_call_error(match denied {
                    acl::Denied::Command => {
                        "The user executing the script can't run this command or subcommand"
                    }
                    acl::Denied::Key(_) => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
                    acl::Denied::Channel(_) => "The user executing the script can't publish to the channel mentioned in the command",
                }));
            }
            // Commands that may replicate count as writes here, as in Redis's scriptCall.
            if policy.read_only && (cmd.write || crate::command::may_replicate(cmd.meta.name)) {
                break 'checks Err(script_call_error(
                    "Write commands are not allowed from read-only scripts.",
                ));
            }
            if cmd.write {
                if !self.client.is_master && crate::command::replica_read_only(shared) {
                    break 'checks Err(CmdError::ReadOnly);
                }
                if !self.client.is_master && crate::command::too_few_good_replicas(shared) {
                    break 'checks Err(CmdError::NoReplicas);
                }
            }
            if cmd.deny_oom
                && !policy.allow_oom
                && !self.client.is_master
                && !shared.script.wrote.load(Ordering::Relaxed)
                && !shared.make_room(nested.clock.unix_ms, 0)
            {
                break 'checks Err(CmdError::Oom);
            }
            if let Some(cluster) = shared.cluster.as_ref().filter(|_| !self.client.is_master) {
                let positions = meta.key_positions(args);
                if !positions.is_empty() {
                    match cluster.route(positions.iter().map(|&i| args.get(i)), false, false, false)
                    {
                        crate::cluster::Route::Here => {}
                        crate::cluster::Route::CrossSlot => {
                            break 'checks Err(script_call_error(
                                "Script attempted to access keys that do not hash to the same slot",
                            ))
                        }
                        crate::cluster::Route::Down => break 'checks Err(CmdError::ClusterDown),
                        _ => {
                            break 'checks Err(script_call_error(
                                "Script attempted to access a non local key in a cluster node",
                            ))
                        }
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = checked {
            nested.local.reject(index);
            return Err(e);
        }
        reply.set_resp3(policy.resp3);
        let in_script = std::mem::replace(&mut self.client.in_script, true);
        let failed = crate::command::run(
            shared,
            self.client,
            reply,
            index,
            args,
            nested.local,
            nested.clock,
        );
        self.client.in_script = in_script;
        if cmd.write && !failed {
            shared.script.wrote.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// A replica that refuses its clients' writes (`replica-read-only yes`): scripts that
    /// may write do not start there.
    pub fn on_read_only_replica(&self) -> bool {
        !self.client.is_master && crate::command::replica_read_only(self.shared)
    }

    /// Writes would be refused now for want of good replicas (`min-replicas-to-write`):
    /// scripts that may write do not start (Redis's `scriptPrepareForRun`).
    pub fn too_few_good_replicas(&self) -> bool {
        !self.client.is_master && crate::command::too_few_good_replicas(self.shared)
    }

    /// Writes would be refused now because the append-only file cannot be written (the
    /// MISCONF error every write gets then).
    pub fn disk_write_refusal(&self) -> Option<CmdError> {
        if self.client.is_master {
            return None;
        }
        self.shared.aof.write_refusal()
    }

    /// `busy-reply-threshold` (alias `lua-time-limit`), in ms.
    pub fn busy_reply_threshold(&self) -> u64 {
        self.shared
            .live
            .tunables
            .busy_reply_threshold
            .load(Ordering::Relaxed) as u64
    }
}

/// Gives the worker's other connections to a fresh thread while this one stays in a script
/// that has run past `busy-reply-threshold`: they answer `-BUSY` and take SCRIPT KILL
/// meanwhile, as Redis serves its clients from inside a long script.
///
/// Done once a script is busy, not before every script: handing a worker over costs a
/// thread wake-up each way (~10 µs, more than a short script's own work). A worker's
/// runtime is multi-threaded in kind only for this (see `Workers::start`); anywhere else
/// (a current-thread runtime, no runtime) there is nothing to hand over.
fn hand_off_worker() {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    tokio::task::block_in_place(|| {
        // `block_in_place` has put the worker's scheduler up for a new thread to take; on
        // return it would take it back if that thread has not yet. Wait until the new thread
        // runs a marker task, so the scheduler stays there and this thread goes on with the
        // script alone (tokio lets a thread that lost its scheduler finish its task).
        let taken = std::sync::Arc::new(AtomicBool::new(false));
        let marker = taken.clone();
        handle.spawn(async move { marker.store(true, Ordering::Release) });
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while !taken.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    });
}
