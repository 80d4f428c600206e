//! ACL LOG [count | RESET]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The newest refusals (10 by default), or RESET to forget them.
pub fn log(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let count = match args.len() {
        2 => 10,
        3 if is(args.get(2), "reset") => {
            ctx.shared.users.log_reset();
            ctx.out.ok();
            return Ok(());
        }
        3 => crate::cmd::int_arg(args.get(2))?.max(0) as usize,
        _ => return Err(CmdError::subcommand_syntax("ACL", args.get(1))),
    };
    let entries = ctx.shared.users.log_entries(count);
    let now = crate::unix_ms();
    let out = &mut *ctx.out;
    out.array(entries.len());
    for e in &entries {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.name().as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.name().as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.at_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}
