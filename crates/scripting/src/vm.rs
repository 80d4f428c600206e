//! The Lua state scripts run in: Lua 5.1 with Redis 7.0's libraries and sandbox.
//!
//! What a script sees (the environment every script function is compiled with) is a
//! read-only proxy of the real globals: reading a global that does not exist raises
//! "Script attempted to access nonexistent global variable", writing one raises "Attempt
//! to modify a readonly table", and so do writes to the library tables (`string`, `redis`,
//! `cjson`, ...), which are read-only proxies too. `rawset`, `rawget`, `setmetatable`,
//! `next` and `pairs` see through the proxies (and refuse to modify them), `loadstring`
//! compiles into the same environment, and `os`, `io`, `debug`, `require`, `dofile`,
//! `loadfile`, `print`, `getfenv`, `setfenv` and `newproxy` are absent, as on Redis.
//!
//! Errors: Redis's error handler (`__redis__err__handler`) turns whatever a script raises
//! into a table `{err=..., source=..., line=...}`; `redis.call` raises its errors as such
//! tables, and the global `pcall` gives back their `err` text (Redis's `luaRedisPcall`).
//! The Rust functions behind the libraries return their failures as values (`raising`),
//! and the handler turns mlua's error objects back into Lua's message text.
//!
//! One VM per node, behind the engine's mutex; scripts run alone (see
//! `server::script_host`), so it is never contended while a script runs. While one runs,
//! [`RUNNING`] points at the command context of the connection that runs it: the callbacks
//! (`redis.call`, the instruction hook) reach the node through it.

use std::cell::RefCell;

use mlua::{
    chunk::ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value,
    Variadic, VmState,
};
use resp::Args;
use server::command::Ctx;
use server::script_host::CallPolicy;

use crate::libs::LibResult;
use crate::rand48::Rand48;

/// Instructions between two checks of the script's running time and of a kill request
/// (Redis's `LUA_MASKCOUNT` hook runs every 100,000).
const HOOK_EVERY: u32 = 100_000;

/// Memory a script's Lua state may hold; past it, allocation fails with Lua's "not enough
/// memory" error instead of taking the node's memory.
pub const MEMORY_LIMIT: usize = 1 << 30;

/// The script being run on this thread.
pub struct Running {
    /// The context of the command that runs it (a `&mut Ctx`, type and lifetime erased).
    ctx: *mut (),
    pub policy: CallPolicy,
    pub threshold_ms: u64,
    /// The hook raised "killed": the reply says so whatever the script did with the error.
    pub killed: bool,
    /// `redis.set_repl(REPL_NONE)` (or REPL_AOF) stopped the effects from reaching replicas.
    pub replicate: bool,
    /// Loading a function library: it must finish by then (Redis's 500 ms load timeout).
    load_deadline: Option<std::time::Instant>,
    timed_out: bool,
    /// The script's name and command (`&str`, `&Args`), reported to FUNCTION STATS once it
    /// turns busy (copying them for every script would cost more than most scripts).
    described: Option<(*const str, *const ())>,
    reported: bool,
}

/// What a script is called with: KEYS and ARGV as globals (EVAL), as the function's two
/// parameters (FCALL), or nothing (a library loading).
pub struct Invocation<'a> {
    pub keys: &'a [&'a [u8]],
    pub argv: &'a [&'a [u8]],
    pub as_parameters: bool,
    pub globals: bool,
    /// Name and command, for FUNCTION STATS while the script is busy.
    pub described: Option<(&'a str, &'a Args<'a>)>,
}

/// Pushes a Lua array of strings.
///
/// # Safety
/// `state` is a Lua state with room for two more values.
unsafe fn push_array(state: *mut mlua::ffi::lua_State, items: &[&[u8]]) {
    use mlua::ffi;
    ffi::lua_createtable(state, items.len() as std::ffi::c_int, 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, item.as_ptr() as *const std::ffi::c_char, item.len());
        ffi::lua_rawseti(state, -2, (i + 1) as _);
    }
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// The hook every script runs under: every [`HOOK_EVERY`] instructions it checks the busy
/// threshold, SCRIPT KILL / FUNCTION KILL, and FUNCTION LOAD's time limit.
fn install_count_hook(lua: &Lua) -> mlua::Result<()> {
    lua.remove_app_data::<LineHook>();
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        |lua, _| {
            let (kill, timed_out) = with_running(|ctx, running| {
                if running
                    .load_deadline
                    .is_some_and(|d| std::time::Instant::now() >= d)
                {
                    running.timed_out = true;
                    return (false, true);
                }
                let threshold = running.threshold_ms;
                let kill = ctx.shared.script.tick(threshold);
                if ctx.shared.script.busy() && !running.reported {
                    running.reported = true;
                    if let Some((name, args)) = running.described {
                        // SAFETY: both outlive the script's run (see `Invocation`).
                        let (name, args) = unsafe { (&*name, &*(args as *const Args<'static>)) };
                        crate::engine::Engine::of(ctx.shared).set_running(Some((
                            name.to_string(),
                            args.iter().map(<[u8]>::to_vec).collect(),
                        )));
                    }
                }
                if kill {
                    running.killed = true;
                }
                (kill, false)
            })
            .unwrap_or((false, false));
            if timed_out {
                Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()))
            } else if kill {
                // From now on every line raises the kill (Redis switches its hook to
                // LUA_MASKLINE): a script that catches the error with pcall and goes on
                // hits it again outside the pcall.
                lua.set_global_hook(HookTriggers::EVERY_LINE, |lua, _| {
                    if with_running(|_, r| r.killed).unwrap_or(false) {
                        Err(killed_error())
                    } else {
                        let _ = install_count_hook(lua);
                        Ok(VmState::Continue)
                    }
                })?;
                lua.set_app_data(LineHook);
                Err(killed_error())
            } else {
                Ok(VmState::Continue)
            }
        },
    )
}

/// Set while the kill's every-line hook is installed (the next script gets the count hook
/// back).
struct LineHook;

fn killed_error() -> mlua::Error {
    mlua::Error::RuntimeError("Script killed by user with SCRIPT KILL...".into())
}

/// Runs `f` with the running script's context. `None` outside a script.
///
/// # Safety of the pointer
/// [`Vm::run`] stores the pointer right before calling into Lua and clears it before it
/// touches its own `&mut Ctx` again; callbacks run only inside that call, on this thread,
/// and never nest (a script cannot run a script), so the reference made here is the only
/// live one while `f` runs.
pub fn with_running<R>(f: impl FnOnce(&mut Ctx<'_>, &mut Running) -> R) -> Option<R> {
    RUNNING.with(|r| {
        let mut slot = r.borrow_mut();
        let running = slot.as_mut()?;
        // SAFETY: see above.
        let ctx = unsafe { &mut *(running.ctx as *mut Ctx<'static>) };
        Some(f(ctx, running))
    })
}

/// A Rust function for Lua whose failure is a message: raised as a Lua error (mlua's error
/// object, which the error handler and `pcall` turn back into the message).
pub fn raising<A, R, F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    A: mlua::FromLuaMulti,
    R: mlua::IntoLuaMulti,
    F: Fn(&Lua, A) -> LibResult<R> + Send + 'static,
{
    lua.create_function(move |lua, a: A| f(lua, a).map_err(mlua::Error::RuntimeError))
}

/// Wraps `f`, a function returning `(value, raise)`, in a C function that returns the value
/// or raises it (a table, as Redis raises its errors) when `raise` is true; `first`, if
/// given, is passed to `f` before the caller's arguments.
///
/// Why C: a Lua wrapper would be *tail-called* by `return redis.call(...)`, and Lua 5.1
/// drops the caller's frame for a tail call, so the error would not say which script line
/// raised it. A C function keeps the frame, as Redis's own `redis.call` does.
fn raising_c(lua: &Lua, f: Function, first: Option<bool>) -> mlua::Result<Function> {
    // SAFETY: the closure only pushes a C closure over the two values exec_raw pushed.
    unsafe {
        lua.exec_raw((f, first), |state| {
            mlua::ffi::lua_pushcclosure(state, trampoline, 2);
        })
    }
}

/// The C function [`raising_c`] makes. Upvalue 1 is the function to call, upvalue 2 the
/// argument to put first (nil: none).
///
/// It holds no Rust values with destructors: `lua_error` unwinds (longjmp) through it.
unsafe extern "C-unwind" fn trampoline(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let mut nargs = ffi::lua_gettop(state);
    if ffi::lua_type(state, ffi::lua_upvalueindex(2)) != ffi::LUA_TNIL {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_insert(state, 1);
        nargs += 1;
    }
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, 2);
    let raise = ffi::lua_toboolean(state, -1) != 0;
    ffi::lua_settop(state, -2);
    if raise {
        ffi::lua_error(state);
    }
    1
}

/// The message inside one of mlua's error objects.
pub fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

/// What a script raised, as Redis reports it.
pub struct ScriptError {
    pub message: String,
    /// `(source, line)` of the script code that raised it.
    pub at: Option<(String, i64)>,
    /// Raised by `redis.call` for an error already counted in errorstats (see
    /// `raw_call::error_result`): the script's error reply must not count it again.
    pub counted: bool,
}

pub struct Vm {
    lua: Lua,
    globals: Table,
    /// What scripts see as their globals (the read-only proxy).
    env: Table,
    handler: Function,
    /// What function libraries see as their globals, and its metatable, whose `__index`
    /// is `load_api` while a library loads and the globals afterwards.
    function_env: Table,
    function_env_meta: Table,
    load_api: Table,
    /// Scripts run since the last collection step (see [`GC_PERIOD`]).
    since_gc: std::cell::Cell<u32>,
}

/// Every this many scripts the collector takes a step of this many kilobytes (Redis's
/// `LUA_GC_CYCLE_PERIOD`): memory stays near what scripts keep alive, without a step (or a
/// full cycle) on every call.
const GC_PERIOD: u32 = 50;

/// Lua code run once at start-up: builds the sandbox described in the module docs. Its
/// chunk is named `=redis`, which the error handler skips when it looks for the script
/// line that raised.
const BOOTSTRAP: &str = r#"
local G, prim, dbg = ...
local error, type, tostring, rawget, rawset, setmetatable, next, pairs, pcall, loadstring, load, setfenv =
      error, type, tostring, rawget, rawset, setmetatable, next, pairs, pcall, loadstring, load, setfenv
local errmsg = prim.errmsg
local getinfo = dbg.getinfo

local real_of = setmetatable({}, {__mode = 'k'})
local function deny() error('Attempt to modify a readonly table', 2) end
-- What getmetatable answers for a read-only table: itself read-only (Redis's readonly
-- tables cover the globals' metatable too).
local sealed = setmetatable({}, {__newindex = deny, __metatable = false})
real_of[sealed] = {}
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = deny, __metatable = sealed})
  real_of[p] = t
  return p
end

local redis = prim.redis
G.redis = redis

G.__redis__err__handler = function(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.source == '=redis') do
    level = level + 1
    i = getinfo(level, 'nSl')
  end
  if type(err) == 'userdata' then
    local m = errmsg(err)
    if type(m) == 'string' then
      if i and i.currentline and i.currentline > 0 then
        m = i.short_src .. ':' .. i.currentline .. ': ' .. m
      end
      err = m
    end
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' then
    local m = rawget(e, 'err')
    if type(m) == 'string' or type(m) == 'number' then e = m end
  elseif type(e) == 'userdata' then
    local m = errmsg(e)
    if m ~= nil then e = m end
  end
  return false, e
end
G.pcall = function(...) return pcall_result(pcall(...)) end

local ENV
G.rawset = function(t, k, v)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, mt)
end
G.rawget = function(t, k) return rawget(real_of[t] or t, k) end
G.next = function(t, k) return next(real_of[t] or t, k) end
G.pairs = function(t) return pairs(real_of[t] or t) end
G.loadstring = function(s, name)
  -- Binary chunks (string.dump's output) are refused, as Redis 7.0 refuses them.
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'attempt to load a binary chunk'
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, ENV) end
  return f, e
end
G.load = function(fn, name)
  local f, e = load(fn, name)
  if f then setfenv(f, ENV) end
  return f, e
end

for _, name in ipairs({'dofile', 'loadfile', 'print', 'getfenv', 'setfenv', 'newproxy',
                       'module', 'require', 'package', 'os', 'io', 'debug'}) do
  G[name] = nil
end
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'bit', 'cjson', 'cmsgpack',
                       'struct', 'redis'}) do
  G[name] = readonly(G[name])
end
ENV = readonly(G)
G._G = ENV
-- Functions (FUNCTION LOAD) see the globals through FE, whose lookups go to LOAD_API while
-- a library loads (only redis.register_function, redis.log and the constants) and to the
-- globals scripts see once it has loaded (Redis swaps the globals' __index the same way).
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local load_redis = setmetatable({}, {__index = missing})
load_redis.register_function = prim.register_function
load_redis.log = redis.log
for _, name in ipairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING', 'REDIS_VERSION',
                       'REDIS_VERSION_NUM'}) do
  load_redis[name] = redis[name]
end
local LOAD_API = setmetatable({redis = readonly(load_redis)}, {__index = missing})
local FE_META = {__index = G, __newindex = deny, __metatable = {}}
local FE = setmetatable({}, FE_META)
real_of[FE] = G

setmetatable(G, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
return ENV, FE, FE_META, LOAD_API
"#;

impl Vm {
    /// A VM whose scripts see `version` as `redis.REDIS_VERSION`.
    pub fn new(version: &str) -> mlua::Result<Vm> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is loaded only for the error handler (it keeps
        // `debug.getinfo` in a local); the bootstrap removes it from the globals before any
        // script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        lua.set_memory_limit(MEMORY_LIMIT)?;
        lua.set_app_data(Rand48::default());
        let globals = lua.globals();
        let debug: Table = globals.get("debug")?;
        globals.set("bit", crate::libs::bit::open(&lua)?)?;
        globals.set("cjson", crate::libs::cjson::open(&lua)?)?;
        globals.set("cmsgpack", crate::libs::cmsgpack::open(&lua)?)?;
        globals.set("struct", crate::libs::structlib::open(&lua)?)?;
        let math: Table = globals.get("math")?;
        math.set("random", lua.create_function(math_random)?)?;
        math.set(
            "randomseed",
            crate::vm::raising(&lua, |lua, seed: Value| {
                let n = crate::libs::check_number(&seed, 1, "randomseed")?;
                if let Some(mut r) = lua.app_data_mut::<Rand48>() {
                    r.seed(n as i64 as i32);
                }
                Ok(())
            })?,
        )?;
        let prim = lua.create_table()?;
        prim.set(
            "errmsg",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => Some(error_message(&e)),
                    _ => None,
                })
            })?,
        )?;
        let redis = crate::redis_lib::open(&lua, version)?;
        // SAFETY: plain C functions over the Lua stack (see `raw_call`).
        unsafe {
            redis.set("call", lua.create_c_function(crate::raw_call::redis_call)?)?;
            redis.set(
                "pcall",
                lua.create_c_function(crate::raw_call::redis_pcall)?,
            )?;
        }
        for name in ["log", "setresp", "sha1hex", "set_repl", "acl_check_cmd"] {
            let f: Function = redis.get(name)?;
            redis.set(name, raising_c(&lua, f, None)?)?;
        }
        prim.set("redis", redis)?;
        prim.set(
            "register_function",
            raising_c(
                &lua,
                lua.create_function(crate::function::register_function)?,
                None,
            )?,
        )?;
        type Made = (Table, Table, Table, Table);
        let (env, function_env, function_env_meta, load_api): Made = lua
            .load(BOOTSTRAP)
            .set_name("=redis")
            .call((globals.clone(), prim, debug))?;
        let handler: Function = globals.raw_get("__redis__err__handler")?;
        install_count_hook(&lua)?;
        Ok(Vm {
            lua,
            globals,
            env,
            handler,
            function_env,
            function_env_meta,
            load_api,
            since_gc: std::cell::Cell::new(0),
        })
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Compiles a script body (text only, no bytecode) under `name` (`@user_script` for
    /// EVAL) with the sandboxed environment. The error is Lua's message.
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.compile_in(body, name, self.env.clone())
    }

    /// Compiles a function library's code (`@user_function`) in the functions' environment.
    pub fn compile_library(&self, body: &[u8]) -> Result<Function, String> {
        self.compile_in(body, "@user_function", self.function_env.clone())
    }

    /// Points the functions' environment at the load-time API (`loading`) or back at the
    /// globals.
    pub fn set_loading(&self, loading: bool) -> mlua::Result<()> {
        let target = if loading {
            self.load_api.clone()
        } else {
            self.globals.clone()
        };
        self.function_env_meta.raw_set("__index", target)
    }

    fn compile_in(&self, body: &[u8], name: &str, env: Table) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(name)
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => error_message(&other),
            })
    }

    /// Runs `f` for the command in `ctx` with `call`'s keys and arguments, and writes the
    /// first value it returns as the command's reply (`crate::convert`). `Err` is what it
    /// raised.
    pub fn run(
        &self,
        ctx: &mut Ctx<'_>,
        f: &Function,
        call: Invocation<'_>,
        policy: CallPolicy,
    ) -> Result<(), ScriptError> {
        self.run_inner(ctx, f, call, policy, None, true)
    }

    /// Runs a function library's code (FUNCTION LOAD): at most 500 ms, as Redis allows.
    pub fn run_load(&self, ctx: &mut Ctx<'_>, f: &Function) -> Result<(), ScriptError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        let call = Invocation {
            keys: &[],
            argv: &[],
            as_parameters: false,
            globals: false,
            described: None,
        };
        self.run_inner(ctx, f, call, CallPolicy::default(), Some(deadline), false)
    }

    fn run_inner(
        &self,
        ctx: &mut Ctx<'_>,
        f: &Function,
        call: Invocation<'_>,
        policy: CallPolicy,
        load_deadline: Option<std::time::Instant>,
        write_reply: bool,
    ) -> Result<(), ScriptError> {
        let threshold_ms = ctx.busy_reply_threshold();
        if self.lua.app_data_ref::<LineHook>().is_some() {
            install_count_hook(&self.lua).map_err(|e| ScriptError {
                message: format!("ERR {e}"),
                at: None,
                counted: false,
            })?;
        }
        let ptr = ctx as *mut Ctx<'_> as *mut ();
        RUNNING.with(|r| {
            *r.borrow_mut() = Some(Running {
                ctx: ptr,
                policy,
                threshold_ms,
                killed: false,
                replicate: true,
                load_deadline,
                timed_out: false,
                described: call
                    .described
                    .map(|(name, args)| (name as *const str, args as *const Args<'_> as *const ())),
                reported: false,
            })
        });
        let (keys, argv, as_parameters, globals) =
            (call.keys, call.argv, call.as_parameters, call.globals);
        // SAFETY: the closure only pushes strings and tables and calls the function in
        // protected mode; it owns nothing that a Lua error could skip (see `raw_call`).
        let outcome: mlua::Result<(bool, Value)> = unsafe {
            self.lua
                .exec_raw((self.handler.clone(), f.clone()), |state| {
                    use mlua::ffi;
                    // Stack: 1 the error handler, 2 the function.
                    let status = if as_parameters {
                        push_array(state, keys);
                        push_array(state, argv);
                        ffi::lua_pcall(state, 2, 1, 1)
                    } else {
                        if globals {
                            push_array(state, keys);
                            ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"KEYS".as_ptr());
                            push_array(state, argv);
                            ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"ARGV".as_ptr());
                        }
                        ffi::lua_pcall(state, 0, 1, 1)
                    };
                    // A value it returned becomes the reply here, read off the stack
                    // (unless the script was killed: the kill is the reply then).
                    let killed = with_running(|_, r| r.killed).unwrap_or(false);
                    if status == 0 && write_reply && !killed {
                        let (resp3, out) = with_running(|ctx, r| {
                            (r.policy.resp3, &mut *ctx.out as *mut resp::ReplyWriter)
                        })
                        .expect("a script runs");
                        crate::convert::write_top(state, &mut *out, resp3);
                        ffi::lua_pushnil(state);
                    }
                    ffi::lua_pushboolean(state, (status == 0) as std::ffi::c_int);
                    ffi::lua_replace(state, 1);
                })
        };
        let outcome = outcome.map(|(ok, v)| {
            let mut m = MultiValue::new();
            m.push_back(Value::Boolean(ok));
            m.push_back(v);
            m
        });
        let running = RUNNING.with(|r| r.borrow_mut().take()).expect("set above");
        let runs = self.since_gc.get() + 1;
        if runs >= GC_PERIOD {
            // SAFETY: a collection step, nothing else.
            let _: mlua::Result<()> = unsafe {
                self.lua.exec_raw((), |state| {
                    mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSTEP, GC_PERIOD as _);
                })
            };
            self.since_gc.set(0);
        } else {
            self.since_gc.set(runs);
        }
        if running.reported {
            crate::engine::Engine::of(ctx.shared).set_running(None);
        }
        let result = match outcome {
            Err(e) => Err(ScriptError {
                message: format!("ERR {}", error_message(&e)),
                at: None,
                counted: false,
            }),
            Ok(values) => {
                let mut it = values.into_iter();
                let ok = matches!(it.next(), Some(Value::Boolean(true)));
                let value = it.next().unwrap_or(Value::Nil);
                if ok {
                    Ok(())
                } else {
                    Err(script_error(&value))
                }
            }
        };
        // A killed script reports the kill, whatever it did with the error it was given.
        match result {
            Err(mut e) if running.timed_out => {
                e.message = "ERR FUNCTION LOAD timeout".into();
                Err(e)
            }
            Err(mut e) if running.killed => {
                e.message = "ERR Script killed by user with SCRIPT KILL...".into();
                Err(e)
            }
            Ok(_) if running.killed => Err(ScriptError {
                message: "ERR Script killed by user with SCRIPT KILL...".into(),
                at: None,
                counted: false,
            }),
            other => other,
        }
    }
}

/// Reads the table the error handler made (`{err=, source=, line=}`).
fn script_error(v: &Value) -> ScriptError {
    match v {
        Value::Table(t) => {
            let message = match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy().to_string(),
                Ok(Value::Integer(i)) => i.to_string(),
                Ok(Value::Number(n)) => crate::libs::format_number(n),
                _ => "ERR unknown error".into(),
            };
            let source = t.raw_get::<Option<String>>("source").ok().flatten();
            let line = t.raw_get::<Option<i64>>("line").ok().flatten();
            ScriptError {
                message,
                at: source.zip(line),
                counted: t
                    .raw_get::<Option<bool>>("ignore_error_stats_update")
                    .ok()
                    .flatten()
                    .unwrap_or(false),
            }
        }
        Value::String(s) => ScriptError {
            message: format!("ERR {}", s.to_string_lossy()),
            at: None,
            counted: false,
        },
        _ => ScriptError {
            message: "ERR execution failure".into(),
            at: None,
            counted: false,
        },
    }
}

/// Redis's `redis_math_random`: `math.random([m [, n]])` over `redisLrand48`.
fn math_random(lua: &Lua, args: Variadic<Value>) -> mlua::Result<f64> {
    let r = match lua.app_data_mut::<Rand48>() {
        Some(mut g) => g.unit(),
        None => 0.0,
    };
    let int = |i: usize| -> mlua::Result<i64> {
        crate::libs::check_number(&args[i], i + 1, "random")
            .map(|n| n as i64)
            .map_err(mlua::Error::RuntimeError)
    };
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int(0)?;
            if u < 1 {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #1 to 'random' (interval is empty)".into(),
                ));
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let (l, u) = (int(0)?, int(1)?);
            if l > u {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #2 to 'random' (interval is empty)".into(),
                ));
            }
            Ok((r * (u - l + 1) as f64).floor() + l as f64)
        }
        _ => Err(mlua::Error::RuntimeError(
            "wrong number of arguments".into(),
        )),
    }
}
