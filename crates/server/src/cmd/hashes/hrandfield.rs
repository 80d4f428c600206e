//! HRANDFIELD key [count [WITHVALUES]]
use rand::Rng;
use resp::Args;

use super::read_hash;
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Without a count: one random field (or nil). A positive count: that many distinct fields
/// (all if fewer); a negative count: that many fields, repeats allowed. WITHVALUES adds the
/// values (pairs in RESP3).
pub fn hrandfield(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let count = if args.len() >= 3 {
        Some(int_arg(args.get(2))?)
    } else {
        None
    };
    let with_values = match args.len() {
        2 | 3 => false,
        4 if is(args.get(3), "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if let Some(c) = count {
        // Redis refuses counts whose reply could not be sized.
        if c < -(i64::MAX / 2) || (with_values && c.unsigned_abs() > (i64::MAX / 2) as u64) {
            return Err(CmdError::err("value is out of range"));
        }
    }
    let mut rng = rand::thread_rng();
    let found = read_hash(ctx, args, |hash, out| {
        let n = hash.len();
        let pick: Vec<usize> = match count {
            None => vec![rng.gen_range(0..n)],
            Some(c) if c >= 0 => {
                let c = (c as usize).min(n);
                rand::seq::index::sample(&mut rng, n, c).into_vec()
            }
            Some(c) => (0..c.unsigned_abs()).map(|_| rng.gen_range(0..n)).collect(),
        };
        if count.is_none() {
            let (f, _) = hash.get_index(pick[0]).expect("in range");
            out.bulk(f);
            return;
        }
        let resp3_pairs = with_values && out.is_resp3();
        out.array(if with_values && !resp3_pairs {
            2 * pick.len()
        } else {
            pick.len()
        });
        for i in pick {
            let (f, v) = hash.get_index(i).expect("in range");
            if resp3_pairs {
                out.array(2);
            }
            out.bulk(f);
            if with_values {
                out.bulk(v);
            }
        }
    })?;
    if found.is_none() {
        crate::cmd::reply_random_missing(ctx.out, count);
    }
    Ok(())
}
