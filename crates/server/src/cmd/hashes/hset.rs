//! HSET key field value [field value ...] / HMSET (the same, answering OK) / HSETNX key field value
use resp::Args;

use super::write_hash;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Sets fields; replies with how many were new.
pub fn hset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let added = set_fields(ctx, args, "hset")?;
    ctx.out.int(added as i64);
    Ok(())
}

/// HSET's older form (deprecated in Redis 4, still served): replies OK.
pub fn hmset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    set_fields(ctx, args, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn set_fields(ctx: &mut Ctx<'_>, args: Args<'_>, name: &str) -> Result<usize, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    Ok(write_hash(ctx, args.get(1), true, |hash| {
        (2..args.len())
            .step_by(2)
            .filter(|&i| hash.insert(args.get(i), args.get(i + 1)))
            .count()
    })?
    .unwrap_or(0))
}

/// Sets a field only if it does not exist; 1 if set.
pub fn hsetnx(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (field, value) = (args.get(2), args.get(3));
    let set = crate::cmd::write_collection_if(ctx, args.get(1), true, |hash: &mut store::Hash| {
        let set = hash.get(field).is_none() && hash.insert(field, value);
        (set, set)
    })?
    .unwrap_or(false);
    ctx.out.int(set as i64);
    Ok(())
}
