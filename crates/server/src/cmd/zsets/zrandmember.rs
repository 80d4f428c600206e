//! ZRANDMEMBER key [count [WITHSCORES]]
use rand::Rng;
use resp::Args;

use super::{read_zset, reply_scored};
use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn zrandmember(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    // The count is read before the rest is checked, as Redis does.
    let count = crate::cmd::random_count(args)?;
    if args.len() > 4 || (args.len() == 4 && !is(args.get(3), "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = args.len() == 4;
    let mut rng = rand::thread_rng();
    let found = read_zset(ctx, args.get(1), |z, out| {
        let n = z.len();
        let at = |i: usize| z.range(i, i + 1)[0];
        match count {
            None => out.bulk(at(rng.gen_range(0..n)).0),
            Some(c) if c >= 0 => {
                let mut picks =
                    rand::seq::index::sample(&mut rng, n, (c as usize).min(n)).into_vec();
                picks.sort_unstable();
                let items: Vec<(&[u8], f64)> = picks.into_iter().map(at).collect();
                reply_scored(out, &items, withscores);
            }
            Some(c) => {
                let items: Vec<(&[u8], f64)> = (0..c.unsigned_abs())
                    .map(|_| at(rng.gen_range(0..n)))
                    .collect();
                reply_scored(out, &items, withscores);
            }
        }
    })?;
    if found.is_none() {
        crate::cmd::reply_random_missing(ctx.out, count);
    }
    Ok(())
}
