//! ZPOPMIN / ZPOPMAX key [count]
use resp::Args;

use super::reply_scored;
use crate::cmd::positive_count;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

fn pop(ctx: &mut Ctx<'_>, args: Args<'_>, max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 {
        Some(positive_count(args.get(2))?)
    } else {
        None
    };
    let popped =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |z: &mut store::ZSet| {
            let n = count.unwrap_or(1).min(z.len());
            let mut v = if max {
                z.remove_range(z.len() - n, z.len())
            } else {
                z.remove_range(0, n)
            };
            if max {
                v.reverse();
            }
            let changed = !v.is_empty();
            (v, changed)
        })?
        .unwrap_or_default();
    let items: Vec<(&[u8], f64)> = popped.iter().map(|(m, s)| (&m[..], *s)).collect();
    match count {
        // Without a count the reply is one flat pair even in RESP3.
        None => {
            ctx.out.array(items.len() * 2);
            for (m, s) in &items {
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
        }
        Some(_) => reply_scored(ctx.out, &items, true),
    }
    Ok(())
}

pub fn zpopmin(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    pop(ctx, args, false)
}

pub fn zpopmax(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    pop(ctx, args, true)
}
