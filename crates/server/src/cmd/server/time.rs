//! TIME
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// [unix seconds, microseconds] as two bulk strings.
pub fn time(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}
