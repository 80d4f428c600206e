//! SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.

use resp::Args;
use server::command::{Ctx, Handler};
use server::error::{CmdError, CmdResult};
use server::script_host::KillOutcome;

use crate::engine::Engine;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("script|load", load),
    ("script|exists", exists),
    ("script|flush", flush),
    ("script|kill", kill),
    ("script|help", help),
    ("script|debug", debug),
];

/// SCRIPT DEBUG NO|YES|SYNC: NO (scripts run normally) is what the node does; the Lua
/// debugger YES and SYNC start (Redis's LDB, driven by `redis-cli --ldb`) is not built, and
/// says so rather than pretend.
fn debug(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mode = args.get(2);
    if mode.eq_ignore_ascii_case(b"no") {
        ctx.out.ok();
        Ok(())
    } else if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        Err(CmdError::err(
            "SCRIPT DEBUG YES/SYNC is not supported: this server has no Lua debugger (LDB)",
        ))
    } else {
        Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"))
    }
}

fn load(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let mut state = engine.lock(ctx).map_err(CmdError::err)?;
    let sha = crate::eval::load(&mut state, args.get(2))?;
    engine.report_memory(ctx.shared, &state);
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let engine = Engine::of(ctx.shared);
    let state = engine.lock(ctx).map_err(CmdError::err)?;
    ctx.out.array(args.len() - 2);
    for sha in args.iter().skip(2) {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        ctx.out.int(state.scripts.contains_key(&sha) as i64);
    }
    Ok(())
}

/// SCRIPT FLUSH [ASYNC|SYNC]: the cache is dropped at once either way (a new VM replaces
/// the old one; freeing it is quick).
fn flush(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 3
        || (args.len() == 3
            && !args.get(2).eq_ignore_ascii_case(b"sync")
            && !args.get(2).eq_ignore_ascii_case(b"async"))
    {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    let engine = Engine::of(ctx.shared);
    engine.flush();
    if let Ok(state) = engine.lock(ctx) {
        engine.report_memory(ctx.shared, &state);
    }
    ctx.out.ok();
    Ok(())
}

/// SCRIPT KILL (FUNCTION KILL shares it): asks the busy script to stop; its instruction
/// hook raises the error.
pub fn kill_generic(ctx: &mut Ctx<'_>, function: bool) -> CmdResult {
    match ctx.shared.script.request_kill(function) {
        KillOutcome::Killed => {
            ctx.out.ok();
            Ok(())
        }
        KillOutcome::NotBusy => Err(CmdError::NotBusy),
        KillOutcome::Unkillable => Err(CmdError::Unkillable),
        KillOutcome::OtherKind => Err(CmdError::Busy {
            function: !function,
        }),
    }
}

fn kill(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    kill_generic(ctx, false)
}

fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    const LINES: &[&str] = &[
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ];
    server::cmd::help(ctx.out, "SCRIPT", LINES);
    Ok(())
}
