//! Functions, as Redis 7.0 has them: FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP /
//! RESTORE / STATS / KILL / HELP, FCALL and FCALL_RO.
//!
//! A library is Lua code that starts with `#!lua name=<library>` and, when loaded, calls
//! `redis.register_function` for each function it offers (the only API it has then, with
//! `redis.log`; see `crate::vm`). A function is called with its keys and arguments as two
//! tables. FUNCTION LOAD, DELETE, FLUSH and RESTORE reach replicas as themselves.

use std::cell::RefCell;

use hashbrown::HashMap;
use mlua::{Function, Lua, Table, Value, Variadic};
use resp::Args;
use server::command::{Ctx, Handler};
use server::error::{CmdError, CmdResult};
use server::script_host::CallPolicy;

use crate::convert::error_table;
use crate::engine::{Engine, ScriptFlags, State};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("fcall", |ctx, args| fcall_generic(ctx, args, false)),
    ("fcall_ro", |ctx, args| fcall_generic(ctx, args, true)),
    ("function|load", load),
    ("function|delete", delete),
    ("function|flush", flush),
    ("function|list", list),
    ("function|dump", dump),
    ("function|restore", restore),
    ("function|stats", stats),
    ("function|kill", |ctx, _| {
        crate::script_cmd::kill_generic(ctx, true)
    }),
    ("function|help", help),
];

pub struct FunctionDef {
    pub name: String,
    pub callback: Function,
    pub flags: ScriptFlags,
    pub description: Option<Vec<u8>>,
}

pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<FunctionDef>,
}

/// The libraries, in load order, and their functions by lower-cased name (function names
/// are case-insensitive in Redis; library names are not).
#[derive(Default)]
pub struct Libraries {
    pub libraries: Vec<Library>,
    index: HashMap<String, (usize, usize)>,
}

impl Libraries {
    fn reindex(&mut self) {
        self.index.clear();
        for (l, lib) in self.libraries.iter().enumerate() {
            for (f, def) in lib.functions.iter().enumerate() {
                self.index
                    .entry(def.name.to_ascii_lowercase())
                    .or_insert((l, f));
            }
        }
    }

    pub fn function(&self, name: &[u8]) -> Option<&FunctionDef> {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let &(l, f) = self.index.get(&name)?;
        Some(&self.libraries[l].functions[f])
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.libraries.iter().position(|l| l.name == name)
    }

    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// Adds libraries (replacing those named in `replacing`), refusing a function name
    /// another library has; nothing changes on error.
    fn commit(&mut self, new: Vec<Library>, replacing: &[String]) -> CmdResult {
        let mut taken: HashMap<String, String> = HashMap::new();
        for lib in self
            .libraries
            .iter()
            .filter(|l| !replacing.contains(&l.name))
        {
            for f in &lib.functions {
                taken.insert(f.name.to_ascii_lowercase(), lib.name.clone());
            }
        }
        for lib in &new {
            for f in &lib.functions {
                // Names differing in case within one library are allowed (Redis checks
                // a library's own names case-sensitively); FCALL finds the first.
                match taken.get(&f.name.to_ascii_lowercase()) {
                    Some(owner) if *owner != lib.name => {
                        return Err(CmdError::err(format!("Function {} already exists", f.name)))
                    }
                    _ => {}
                }
            }
            for f in &lib.functions {
                taken.insert(f.name.to_ascii_lowercase(), lib.name.clone());
            }
        }
        self.libraries.retain(|l| !replacing.contains(&l.name));
        self.libraries.extend(new);
        self.reindex();
        Ok(())
    }
}

thread_local! {
    /// The functions the library being loaded has registered so far.
    static LOADING: RefCell<Option<Vec<FunctionDef>>> = const { RefCell::new(None) };
}

/// Letters, digits and underscores, at least one (Redis's `functionsVerifyName`).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// A string, or a number as Lua prints it (Lua's `lua_isstring`).
fn lua_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(crate::libs::format_number(*n)),
        _ => None,
    }
}

/// Reads a `flags` table: every entry a known flag name (any case).
fn read_flags(t: &Table) -> Option<ScriptFlags> {
    let mut flags = ScriptFlags::default();
    for i in 1.. {
        let v: Value = t.raw_get(i).ok()?;
        if matches!(v, Value::Nil) {
            break;
        }
        match lua_text(&v)?.to_ascii_lowercase().as_str() {
            "no-writes" => flags.no_writes = true,
            "allow-oom" => flags.allow_oom = true,
            "allow-stale" => flags.allow_stale = true,
            "no-cluster" => flags.no_cluster = true,
            "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
            _ => return None,
        }
    }
    Some(flags)
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=,
/// callback=, flags=, description=}`, while a library loads. Errors are raised as Redis's.
pub fn register_function(lua: &Lua, args: Variadic<Value>) -> mlua::Result<(Value, bool)> {
    let fail = |msg: &str| -> mlua::Result<(Value, bool)> {
        Ok((error_table(lua, &format!("-ERR {msg}"))?, true))
    };
    if LOADING.with(|l| l.borrow().is_none()) {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let (name, callback, flags, description) = match args.len() {
        1 => {
            let Value::Table(t) = &args[0] else {
                return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            let (mut name, mut callback, mut flags, mut description) =
                (None, None, ScriptFlags::default(), None);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let Some(key) = lua_text(&k) else {
                    return fail(
                        "named argument key given to redis.register_function is not a string",
                    );
                };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => match lua_text(&v) {
                        Some(n) => name = Some(n),
                        None => return fail("function_name argument given to redis.register_function must be a string"),
                    },
                    "description" => match lua_text(&v) {
                        Some(d) => description = Some(d.into_bytes()),
                        None => return fail("description argument given to redis.register_function must be a string"),
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return fail("callback argument given to redis.register_function must be a function"),
                    },
                    "flags" => match &v {
                        Value::Table(ft) => match read_flags(ft) {
                            Some(f) => flags = f,
                            None => return fail("unknown flag given"),
                        },
                        _ => return fail("flags argument to redis.register_function must be a table representing function flags"),
                    },
                    _ => return fail("unknown argument given to redis.register_function"),
                }
            }
            let Some(name) = name else {
                return fail("redis.register_function must get a function name argument");
            };
            let Some(callback) = callback else {
                return fail("redis.register_function must get a callback argument");
            };
            (name, callback, flags, description)
        }
        2 => {
            let Some(name) = lua_text(&args[0]) else {
                return fail("first argument to redis.register_function must be a string");
            };
            let Value::Function(callback) = &args[1] else {
                return fail("second argument to redis.register_function must be a function");
            };
            (name, callback.clone(), ScriptFlags::default(), None)
        }
        _ => return fail("wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        return fail(BAD_NAME);
    }
    let duplicate = LOADING.with(|l| {
        l.borrow()
            .as_ref()
            .is_some_and(|fs| fs.iter().any(|f| f.name == name))
    });
    if duplicate {
        return fail("Function already exists in the library");
    }
    LOADING.with(|l| {
        if let Some(fs) = l.borrow_mut().as_mut() {
            fs.push(FunctionDef {
                name,
                callback,
                flags,
                description,
            });
        }
    });
    Ok((Value::Nil, false))
}

/// Reads a library's first line (`#!lua name=<name>`): its name, or Redis's error.
fn metadata(code: &[u8]) -> Result<String, CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::err("Missing library metadata"));
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err(CmdError::err("Invalid library metadata"));
    };
    // Split as Redis does (sdssplitargs: `name="foo"` is `name=foo`).
    let (mut buf, mut ranges) = (Vec::new(), Vec::new());
    resp::request::split_args(&code[..end], &mut buf, &mut ranges)
        .map_err(|_| CmdError::err("Invalid library metadata"))?;
    let words: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| String::from_utf8_lossy(&buf[a..b]).into_owned())
        .collect();
    let mut parts = words.iter().map(String::as_str);
    let engine = parts
        .next()
        .ok_or_else(|| CmdError::err("Invalid library metadata"))?;
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(CmdError::err(
                    "Invalid metadata value, name argument was given multiple times",
                ));
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(CmdError::err(format!(
            "Invalid metadata value given: {part}"
        )));
    }
    let name = name.ok_or_else(|| CmdError::err("Library name was not given"))?;
    let engine = &engine[2..];
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::err(format!("Engine '{engine}' not found")));
    }
    if !valid_name(&name) {
        return Err(CmdError::err(BAD_NAME));
    }
    Ok(name)
}

/// Compiles and runs a library's code, collecting the functions it registers.
fn build(ctx: &mut Ctx<'_>, state: &State, code: &[u8], name: String) -> Result<Library, CmdError> {
    let vm = &state.vm;
    let mut body = code.to_vec();
    body[0] = b'-';
    body[1] = b'-';
    let chunk = vm
        .compile_library(&body)
        .map_err(|m| CmdError::err(format!("Error compiling function: {m}")))?;
    vm.set_loading(true)
        .map_err(|e| CmdError::err(e.to_string()))?;
    LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
    let outcome = vm.run_load(ctx, &chunk);
    let functions = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
    vm.set_loading(false)
        .map_err(|e| CmdError::err(e.to_string()))?;
    if let Err(e) = outcome {
        return Err(CmdError::err(format!(
            "Error registering functions: {}",
            e.message
        )));
    }
    if functions.is_empty() {
        return Err(CmdError::err("No functions registered"));
    }
    Ok(Library {
        name,
        code: code.to_vec(),
        functions,
    })
}

fn load(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut replace = false;
    for i in 2..args.len() - 1 {
        if args.get(i).eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(args.get(i))
            )));
        }
    }
    let code = args.get(args.len() - 1);
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    let name = metadata(code)?;
    if !replace && state.libraries.position(&name).is_some() {
        return Err(CmdError::err(format!("Library '{name}' already exists")));
    }
    let library = build(ctx, &state, code, name.clone())?;
    state
        .libraries
        .commit(vec![library], std::slice::from_ref(&name))?;
    changed(ctx, engine, &mut state, args);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// After a change to the libraries: the command goes to replicas as it is (it changed no
/// key), the node's snapshot copy of the codes follows, and so do the counts.
fn changed(ctx: &Ctx<'_>, engine: &Engine, state: &mut State, args: Args<'_>) {
    let parts: Vec<&[u8]> = args.iter().collect();
    server::replication::log::rewrite_parts(&parts);
    let codes = state
        .libraries
        .libraries
        .iter()
        .map(|l| l.code.clone())
        .collect();
    state.seen = ctx.shared.function_codes.replace(codes);
    engine.recount(state);
    engine.report_memory(ctx.shared, state);
}

/// Rebuilds the libraries from the node's codes (a snapshot replaced them). A library that
/// no longer loads (it cannot on a node that saved it) is reported and left out.
pub fn reload(ctx: &mut Ctx<'_>, state: &mut State, generation: u64) {
    let mut libraries = Vec::new();
    for code in ctx.shared.function_codes.codes() {
        let built = metadata(&code).and_then(|name| build(ctx, state, &code, name));
        match built {
            Ok(lib) => libraries.push(lib),
            Err(e) => tracing::warn!(error = %e, "function library from the snapshot not loaded"),
        }
    }
    state.libraries = Libraries::default();
    if let Err(e) = state.libraries.commit(libraries, &[]) {
        tracing::warn!(error = %e, "function libraries from the snapshot not loaded");
    }
    state.seen = generation;
}

fn delete(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    let name = String::from_utf8_lossy(args.get(2)).into_owned();
    if state.libraries.position(&name).is_none() {
        return Err(CmdError::err("Library not found"));
    }
    state.libraries.commit(Vec::new(), &[name])?;
    changed(ctx, engine, &mut state, args);
    ctx.out.ok();
    Ok(())
}

/// Redis's reply to extra arguments of FUNCTION FLUSH and RESTORE.
fn wrong_arguments(args: Args<'_>) -> CmdError {
    let sub = String::from_utf8_lossy(args.get(1));
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
    ))
}

fn flush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(wrong_arguments(args));
    }
    if args.len() == 3
        && !args.get(2).eq_ignore_ascii_case(b"sync")
        && !args.get(2).eq_ignore_ascii_case(b"async")
    {
        return Err(CmdError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    state.libraries = Libraries::default();
    changed(ctx, engine, &mut state, args);
    ctx.out.ok();
    Ok(())
}

fn list(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (mut with_code, mut pattern): (bool, Option<&[u8]>) = (false, None);
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            i += 1;
            if i >= args.len() {
                return Err(CmdError::err("library name argument was not given"));
            }
            pattern = Some(args.get(i));
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let engine = Engine::of(ctx.shared);
    let state = engine.lock(ctx).map_err(CmdError::err)?;
    let chosen: Vec<&Library> = state
        .libraries
        .libraries
        .iter()
        .filter(|l| pattern.is_none_or(|p| store::glob::matches(p, l.name.as_bytes(), true)))
        .collect();
    let out = &mut *ctx.out;
    out.array(chosen.len());
    for lib in chosen {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = flag_names(f.flags);
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn flag_names(f: ScriptFlags) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (on, name) in [
        (f.no_writes, "no-writes"),
        (f.allow_oom, "allow-oom"),
        (f.allow_stale, "allow-stale"),
        (f.no_cluster, "no-cluster"),
        (f.allow_cross_slot_keys, "allow-cross-slot-keys"),
    ] {
        if on {
            names.push(name);
        }
    }
    names
}

fn dump(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let state = engine.lock(ctx).map_err(CmdError::err)?;
    let codes: Vec<&[u8]> = state
        .libraries
        .libraries
        .iter()
        .map(|l| l.code.as_slice())
        .collect();
    ctx.out.bulk(&rdb::functions::encode(&codes));
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all the payload's libraries, or none.
fn restore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy =
        match args.len() {
            3 => Policy::Append,
            4 => match args.get(3).to_ascii_lowercase().as_slice() {
                b"flush" => Policy::Flush,
                b"append" => Policy::Append,
                b"replace" => Policy::Replace,
                _ => return Err(CmdError::err(
                    "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                )),
            },
            _ => return Err(wrong_arguments(args)),
        };
    let codes = rdb::functions::decode(args.get(2)).map_err(|e| CmdError::err(e.to_string()))?;
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    let mut new = Vec::new();
    for code in &codes {
        let name = metadata(code)?;
        if new.iter().any(|l: &Library| l.name == name) {
            return Err(CmdError::err(format!("Library {name} already exists")));
        }
        new.push(build(ctx, &state, code, name)?);
    }
    let replacing: Vec<String> = match policy {
        Policy::Flush => state
            .libraries
            .libraries
            .iter()
            .map(|l| l.name.clone())
            .collect(),
        Policy::Replace => new.iter().map(|l| l.name.clone()).collect(),
        Policy::Append => {
            if let Some(l) = new
                .iter()
                .find(|l| state.libraries.position(&l.name).is_some())
            {
                return Err(CmdError::err(format!("Library {} already exists", l.name)));
            }
            Vec::new()
        }
    };
    state.libraries.commit(new, &replacing)?;
    changed(ctx, engine, &mut state, args);
    ctx.out.ok();
    Ok(())
}

fn stats(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let running = engine.running();
    let script = &ctx.shared.script;
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running.filter(|_| script.running()) {
        None => out.null(),
        Some((name, command)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for a in &command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(script.elapsed_ms() as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    // The counts are read without the VM's lock when a script holds it (busy): FUNCTION
    // STATS must answer then.
    let (libraries, functions) = engine.counts();
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
    Ok(())
}

fn fcall_generic(ctx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let state = engine.lock(ctx).map_err(CmdError::err)?;
    let name = args.get(1);
    let f = state
        .libraries
        .function(name)
        .ok_or_else(|| CmdError::err("Function not found"))?;
    let numkeys = resp::number::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::err("Bad number of keys provided"))?;
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if read_only && !f.flags.no_writes {
        return Err(CmdError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    crate::eval::check_flags(ctx, f.flags)?;
    let (callback, fname, no_writes) = (f.callback.clone(), f.name.clone(), f.flags.no_writes);
    let keys: Vec<&[u8]> = (3..3 + numkeys).map(|i| args.get(i)).collect();
    let argv: Vec<&[u8]> = (3 + numkeys..args.len()).map(|i| args.get(i)).collect();
    let policy = CallPolicy {
        read_only: read_only || no_writes,
        resp3: false,
        allow_oom: f.flags.allow_oom,
    };
    let call = crate::vm::Invocation {
        keys: &keys,
        argv: &argv,
        as_parameters: true,
        globals: false,
        described: Some((&fname, &args)),
    };
    let result = state.vm.run(ctx, &callback, call, policy);
    engine.report_memory(ctx.shared, &state);
    result.map_err(|e| crate::eval::raised(e, &fname))
}

fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    const LINES: &[&str] = &[
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
    ];
    server::cmd::help(ctx.out, "FUNCTION", LINES);
    Ok(())
}
