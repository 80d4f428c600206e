//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO.

use resp::Args;
use server::command::{Ctx, Handler};
use server::error::{CmdError, CmdResult};
use server::script_host::CallPolicy;

use crate::engine::{sha1_hex, shebang, Engine, Script, ScriptFlags, State};
use crate::vm::Invocation;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("eval", |ctx, args| eval_generic(ctx, args, false, false)),
    ("evalsha", |ctx, args| eval_generic(ctx, args, true, false)),
    ("eval_ro", |ctx, args| eval_generic(ctx, args, false, true)),
    ("evalsha_ro", |ctx, args| {
        eval_generic(ctx, args, true, true)
    }),
];

/// `numkeys` of EVAL or FCALL (`args[2]`), checked against the arguments that follow.
pub fn numkeys(args: Args<'_>) -> Result<usize, CmdError> {
    let n = resp::number::parse_i64(args.get(2)).ok_or(CmdError::NotInteger)?;
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    if n as usize > args.len() - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(n as usize)
}

/// Compiles `body` into the cache (EVAL, SCRIPT LOAD); its SHA1.
pub fn load(state: &mut State, body: &[u8]) -> Result<String, CmdError> {
    let sha = sha1_hex(body);
    if !state.scripts.contains_key(&sha) {
        let (flags, code) = shebang(body).map_err(CmdError::err)?;
        let function = state
            .vm
            .compile(&code, "@user_script")
            .map_err(|m| CmdError::err(format!("Error compiling script (new function): {m}")))?;
        state.scripts_bytes += body.len() + sha.len() + 64;
        state
            .scripts
            .insert(sha.clone(), Script { function, flags });
    }
    Ok(sha)
}

/// Whether EVAL / EVALSHA / FCALL `args` may write, by the script's declared flags (what
/// CLIENT PAUSE WRITE holds back): no shebang (Redis's compatibility mode) may; a script or
/// function declared `no-writes` may not; one not found (yet) counts as a writer, as Redis
/// keeps the command's own flags then.
pub fn may_write(shared: &server::Shared, args: Args<'_>) -> bool {
    if args.len() < 2 {
        return true;
    }
    let name = args.get(0);
    if name.eq_ignore_ascii_case(b"eval") {
        return shebang(args.get(1)).map_or(true, |(flags, _)| !flags.no_writes);
    }
    let flags = Engine::of(shared).peek(|state| {
        if name.eq_ignore_ascii_case(b"evalsha") {
            let sha = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
            state.scripts.get(&sha).map(|s| s.flags)
        } else {
            state.libraries.function(args.get(1)).map(|f| f.flags)
        }
    });
    flags.flatten().is_none_or(|f| !f.no_writes)
}

/// The checks a script's shebang flags ask for before it runs (Redis's
/// `scriptPrepareForRun`; scripts without a shebang skip them).
pub fn check_flags(ctx: &Ctx<'_>, flags: ScriptFlags) -> CmdResult {
    if flags.compat {
        return Ok(());
    }
    // A script that may write counts as a write command, one without `allow-oom` as one
    // that may use memory: processCommand's refusals, in its order (OOM, MISCONF,
    // NOREPLICAS, READONLY), with its texts.
    if !flags.no_writes
        && !flags.allow_oom
        && !ctx.client.is_master
        && !ctx.shared.make_room(ctx.now, 0)
    {
        return Err(CmdError::Oom);
    }
    if !flags.no_writes {
        if let Some(misconf) = ctx.disk_write_refusal() {
            return Err(misconf);
        }
        if ctx.too_few_good_replicas() {
            return Err(CmdError::NoReplicas);
        }
        if ctx.on_read_only_replica() {
            return Err(CmdError::ReadOnly);
        }
    }
    if flags.no_cluster && ctx.shared.cluster.is_some() {
        return Err(CmdError::err(
            "Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    Ok(())
}

/// The reply for what a script raised: Redis's text plus where (`script: <name>, on
/// <source>:<line>.`).
pub fn raised(e: crate::vm::ScriptError, name: &str) -> CmdError {
    let mut msg = e.message;
    if let Some((source, line)) = e.at {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    if e.counted {
        CmdError::Counted(msg)
    } else {
        CmdError::Raw(msg)
    }
}

fn eval_generic(ctx: &mut Ctx<'_>, args: Args<'_>, by_sha: bool, read_only: bool) -> CmdResult {
    let numkeys = numkeys(args)?;
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    let sha = if by_sha {
        let sha = args.get(1).to_ascii_lowercase();
        let sha = String::from_utf8(sha).map_err(|_| CmdError::NoScript)?;
        if !state.scripts.contains_key(&sha) {
            return Err(CmdError::NoScript);
        }
        sha
    } else {
        load(&mut state, args.get(1))?
    };
    let script = &state.scripts[&sha];
    let (function, flags) = (script.function.clone(), script.flags);
    check_flags(ctx, flags)?;
    let keys: Vec<&[u8]> = (3..3 + numkeys).map(|i| args.get(i)).collect();
    let argv: Vec<&[u8]> = (3 + numkeys..args.len()).map(|i| args.get(i)).collect();
    let policy = CallPolicy {
        read_only: read_only || flags.no_writes,
        resp3: false,
        allow_oom: flags.allow_oom,
    };
    let call = Invocation {
        keys: &keys,
        argv: &argv,
        as_parameters: false,
        globals: true,
        described: Some((&sha, &args)),
    };
    let result = state.vm.run(ctx, &function, call, policy);
    engine.report_memory(ctx.shared, &state);
    result.map_err(|e| raised(e, &sha))
}
