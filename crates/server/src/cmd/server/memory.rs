//! MEMORY USAGE key [SAMPLES count] | HELP
use resp::Args;

use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Bytes the key and its value take in this node (entry, key, value, TTL index).
pub fn usage(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut i = 3;
    while i < args.len() {
        if is(args.get(i), "samples") && i + 1 < args.len() {
            int_arg(args.get(i + 1))?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = args.get(2);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    match ks.lock(h).peek(h, key, ctx.now) {
        Some(e) => ctx.out.int(store::shard::key_memory(e) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "MEMORY",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value.",
        ],
    );
    Ok(())
}
