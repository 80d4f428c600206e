//! SWAPDB index1 index2 / MOVE key db: a node has one database (cluster semantics, as Redis
//! Cluster), so these answer what a Redis configured with `databases 1` answers.
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// A database index as Redis's `getIntFromObjectOrReply` reads it (SELECT, MOVE, COPY ... DB):
/// not an integer, or outside a C `int`, is an error before the index is checked.
pub(crate) fn db_index(arg: &[u8]) -> Result<i64, CmdError> {
    let index = resp::number::parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if i32::try_from(index).is_err() {
        return Err(CmdError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    Ok(index)
}

/// Swapping database 0 with itself succeeds and changes nothing; any other index is out of
/// range.
pub fn swapdb(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    // Redis names the argument for a non-integer and for one outside a C `int` alike.
    let index = |arg: &[u8], which: &str| {
        resp::number::parse_i64(arg)
            .filter(|i| i32::try_from(*i).is_ok())
            .ok_or_else(|| CmdError::err(format!("invalid {which} DB index")))
    };
    let first = index(args.get(1), "first")?;
    let second = index(args.get(2), "second")?;
    if first != 0 || second != 0 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.out.ok();
    Ok(())
}

/// The only target database is the key's own.
pub fn move_key(_ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    match db_index(args.get(2))? {
        0 => Err(CmdError::err("source and destination objects are the same")),
        _ => Err(CmdError::DbIndexOutOfRange),
    }
}
