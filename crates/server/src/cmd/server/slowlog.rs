//! SLOWLOG GET [count] | LEN | RESET | HELP
use std::sync::atomic::Ordering;

use resp::Args;

use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn get(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity("slowlog|get".into()));
    }
    let count = if args.len() == 3 {
        let n = int_arg(args.get(2))?;
        if n < -1 {
            return Err(CmdError::err("count should be greater than or equal to -1"));
        }
        if n == -1 {
            usize::MAX
        } else {
            n as usize
        }
    } else {
        10
    };
    let log = ctx.shared.slowlog.lock();
    log.write(count, ctx.out);
    Ok(())
}

pub fn len(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let max = ctx.shared.live.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let mut log = ctx.shared.slowlog.lock();
    log.trim(max);
    ctx.out.int(log.len() as i64);
    Ok(())
}

pub fn reset(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    ctx.shared.slowlog.lock().reset();
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    crate::cmd::help(
        ctx.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}
