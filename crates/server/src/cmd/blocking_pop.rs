//! What the popping commands share, blocking or not: the timeout argument, MPOP's
//! `numkeys key... where [COUNT n]`, and "pop from the first key that has data, else block
//! (or answer null)".
use std::time::{Duration, Instant};

use resp::Args;

use crate::blocking::{attempt, BlockOp};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Redis 7.0's `getTimeoutFromObjectOrReply` for seconds: a long double, times 1000,
/// rounded up to whole milliseconds as a `long long`. Values too large for that wrap to a
/// negative number there, so Redis calls them negative, and so do we. `None` = forever.
pub(crate) fn parse_timeout(a: &[u8]) -> Result<Option<Instant>, CmdError> {
    let secs = store::float::parse_long_double_as_f64(a)
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((ms > 0.0).then(|| Instant::now() + Duration::from_millis(ms as u64)))
}

/// LMPOP/ZMPOP's keys, where word (LEFT/RIGHT or MIN/MAX, checked by the caller) and count.
pub(crate) type MpopArgs<'a> = (Vec<Vec<u8>>, &'a [u8], usize);

/// LMPOP/ZMPOP arguments from `numkeys` at `at`, checked in Redis's order and with its
/// errors: the word after the keys must be one of `ends` (LEFT/RIGHT, MIN/MAX) before the
/// options are looked at.
pub(crate) fn parse_mpop<'a>(
    args: Args<'a>,
    at: usize,
    ends: [&str; 2],
) -> Result<MpopArgs<'a>, CmdError> {
    let numkeys = resp::number::parse_i64(args.get(at))
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(at + 1))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    if !ends.iter().any(|e| crate::cmd::is(args.get(where_at), e)) {
        return Err(CmdError::Syntax);
    }
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && crate::cmd::is(args.get(i), "count") && i + 1 < args.len() {
            let n = resp::number::parse_i64(args.get(i + 1))
                .filter(|n| *n >= 1)
                .ok_or_else(|| CmdError::err("count should be greater than 0"))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys = (at + 1..where_at).map(|k| args.get(k).to_vec()).collect();
    Ok((keys, args.get(where_at), count.unwrap_or(1)))
}

/// Pops by `op` from the first of `keys` that has data and answers it. Otherwise answers a
/// null array when not blocking (`deadline` None) or inside EXEC, and else blocks the client
/// until data, the deadline (`Some(None)`: forever) or a disconnect.
pub(crate) fn pop_or_block(
    ctx: &mut Ctx<'_>,
    keys: Vec<Vec<u8>>,
    op: BlockOp,
    deadline: Option<Option<Instant>>,
) -> CmdResult {
    let (ks, now) = (&ctx.shared.keyspace, ctx.now);
    let ctx_shared = ctx.shared;
    let try_now = || {
        for k in &keys {
            if let Some(d) = attempt(ks, k, &op, now)? {
                // Replicas pop what this node popped, from the key it popped it from.
                if crate::replication::log::capturing() {
                    crate::replication::log::rewrite(crate::blocking::effect(&op, k, &d));
                }
                crate::blocking::notify_popped(ctx_shared, &op, k);
                return Ok(Some(d));
            }
        }
        Ok::<_, CmdError>(None)
    };
    let found = match (try_now()?, deadline) {
        (Some(d), _) => Some(d),
        (None, None) => None,
        (None, Some(_)) if ctx.client.in_exec => None,
        (None, Some(deadline)) => {
            let registered = ctx
                .shared
                .blocking
                .block(keys.clone(), op.clone(), deadline, || try_now().transpose());
            match registered {
                Ok(result) => Some(result?),
                Err(blocked) => {
                    ctx.client.blocked = Some(blocked);
                    return Ok(());
                }
            }
        }
    };
    match found {
        Some(d) => d.write(ctx.out),
        None => ctx.out.null_array(),
    }
    Ok(())
}
