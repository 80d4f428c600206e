//! A node's scripting state: the Lua VM and the scripts EVAL and SCRIPT LOAD cached, by
//! SHA1. One per node, kept in `Shared::script_engine`; one mutex, never contended while a
//! script runs (scripts run alone), taken briefly by SCRIPT EXISTS/LOAD/FLUSH otherwise.

use hashbrown::HashMap;
use mlua::Function;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use server::command::Ctx;
use server::Shared;

use crate::rand48::Rand48;
use crate::vm::Vm;

/// Flags a script declares in its shebang (`#!lua flags=no-writes,allow-oom`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: Redis's "EVAL compatibility mode" (may write, no up-front checks).
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

pub struct Script {
    pub function: Function,
    pub flags: ScriptFlags,
}

pub struct State {
    pub vm: Vm,
    pub scripts: HashMap<String, Script>,
    pub libraries: crate::function::Libraries,
    /// The generation of `Shared::function_codes` the libraries match.
    pub seen: u64,
    /// Bytes the script cache holds (bodies, names, entries).
    pub scripts_bytes: usize,
}

pub struct Engine {
    state: Mutex<Option<State>>,
    /// The Redis version scripts see (`compat-version`).
    version: String,
    /// What runs now (name, command), for FUNCTION STATS, which answers while a busy script
    /// holds `state`.
    running: Mutex<Option<(String, Vec<Vec<u8>>)>>,
    /// Libraries and functions loaded, for the same reason.
    library_count: AtomicUsize,
    function_count: AtomicUsize,
}

impl Engine {
    /// This node's engine (made on first use).
    pub fn of(shared: &Shared) -> &Engine {
        shared.script_engine(|| Engine {
            state: Mutex::new(None),
            version: shared.live.compat_version.clone(),
            running: Mutex::new(None),
            library_count: AtomicUsize::new(0),
            function_count: AtomicUsize::new(0),
        })
    }

    pub fn set_running(&self, what: Option<(String, Vec<Vec<u8>>)>) {
        *self.running.lock() = what;
    }

    pub fn running(&self) -> Option<(String, Vec<Vec<u8>>)> {
        self.running.lock().clone()
    }

    /// (libraries, functions) loaded.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.library_count.load(Ordering::Relaxed),
            self.function_count.load(Ordering::Relaxed),
        )
    }

    /// Refreshes what INFO memory reports (after a script ran or the caches changed).
    pub fn report_memory(&self, shared: &Shared, state: &State) {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &shared.script_memory;
        m.vm.store(state.vm.lua().used_memory() as u64, Relaxed);
        m.cached_scripts.store(state.scripts.len() as u64, Relaxed);
        m.scripts_bytes.store(state.scripts_bytes as u64, Relaxed);
        let libs = &state.libraries.libraries;
        m.libraries.store(libs.len() as u64, Relaxed);
        m.functions
            .store(state.libraries.function_count() as u64, Relaxed);
        let fb: usize = libs
            .iter()
            .map(|l| {
                l.code.len()
                    + l.name.len()
                    + l.functions.iter().map(|f| f.name.len() + 64).sum::<usize>()
            })
            .sum();
        m.functions_bytes.store(fb as u64, Relaxed);
    }

    /// Updates [`Self::counts`] after the libraries changed.
    pub fn recount(&self, state: &State) {
        self.library_count
            .store(state.libraries.libraries.len(), Ordering::Relaxed);
        self.function_count
            .store(state.libraries.function_count(), Ordering::Relaxed);
    }

    /// The state, with the VM made on first use and the libraries matching the node's
    /// (a snapshot loaded since, at start or by a replica's full sync, replaced them).
    pub fn lock(&self, ctx: &mut Ctx<'_>) -> Result<StateGuard<'_>, String> {
        let mut state = self.lock_vm()?;
        let generation = ctx.shared.function_codes.generation();
        if state.seen != generation {
            crate::function::reload(ctx, &mut state, generation);
            self.recount(&state);
        }
        Ok(state)
    }

    /// `read` of the state when it exists and is free (`None` otherwise: never waits for
    /// a running script).
    pub fn peek<R>(&self, read: impl FnOnce(&State) -> R) -> Option<R> {
        let guard = self.state.try_lock()?;
        guard.as_ref().map(read)
    }

    /// The state, with the VM made on first use.
    fn lock_vm(&self) -> Result<StateGuard<'_>, String> {
        let mut guard = self.state.lock();
        if guard.is_none() {
            let vm = Vm::new(&self.version).map_err(|e| format!("could not start Lua: {e}"))?;
            *guard = Some(State {
                vm,
                scripts: HashMap::new(),
                libraries: Default::default(),
                seen: 0,
                scripts_bytes: 0,
            });
        }
        Ok(StateGuard(guard))
    }

    /// SCRIPT FLUSH: forgets every script. Without function libraries it also starts a
    /// new VM (which frees what scripts left in it; `math.random` goes on where it was, as
    /// on Redis); the libraries' functions live in the VM, so with some loaded it stays.
    pub fn flush(&self) {
        let mut guard = self.state.lock();
        let Some(state) = guard.as_mut() else {
            return;
        };
        state.scripts.clear();
        state.scripts_bytes = 0;
        if !state.libraries.libraries.is_empty() {
            let _ = state.vm.lua().gc_collect();
            return;
        }
        let rand = state.vm.lua().app_data_ref::<Rand48>().map(|r| *r);
        *guard = None;
        drop(guard);
        if let (Some(rand), Ok(state)) = (rand, self.lock_vm()) {
            state.vm.lua().set_app_data(rand);
        }
    }
}

pub struct StateGuard<'a>(MutexGuard<'a, Option<State>>);

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.0.as_ref().expect("made in lock")
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.0.as_mut().expect("made in lock")
    }
}

/// The SHA1 of a script body, in lower-case hex (the script's name).
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Reads a script's shebang line, if any: its flags, and the body to compile (the shebang
/// turned into a Lua comment, so line numbers stay the script's own). Errors are Redis's.
pub fn shebang(body: &[u8]) -> Result<(ScriptFlags, std::borrow::Cow<'_, [u8]>), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                compat: true,
                ..Default::default()
            },
            std::borrow::Cow::Borrowed(body),
        ));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                other => return Err(format!("Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut code = body.to_vec();
    code[0] = b'-';
    code[1] = b'-';
    Ok((flags, std::borrow::Cow::Owned(code)))
}
