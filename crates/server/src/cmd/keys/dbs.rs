//! SWAPDB index1 index2 / MOVE key db: a node has one database (cluster semantics, as Redis
//! Cluster), so these answer what a Redis configured with `databases 1` answers.
use resp::Args;

use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Swapping database 0 with itself succeeds and changes nothing; any other index is out of
/// range.
pub fn swapdb(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let first = resp::number::parse_i64(args.get(1))
        .ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let second = resp::number::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::err("invalid second DB index"))?;
    if first != 0 || second != 0 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.out.ok();
    Ok(())
}

/// The only target database is the key's own.
pub fn move_key(_ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    match int_arg(args.get(2))? {
        0 => Err(CmdError::err("source and destination objects are the same")),
        _ => Err(CmdError::DbIndexOutOfRange),
    }
}
