//! BITCOUNT key [start end [BYTE|BIT]]
use resp::Args;

use super::{bit_range, count_ones, unit_is_bit};
use crate::cmd::{as_str, int_arg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Set bits in the string or a range of it. As in Redis 7.0, the key is looked up first: a
/// missing key counts 0 whatever the other arguments, and WRONGTYPE comes before them.
pub fn bitcount(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get(h, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = as_str(e.value())?;
    let (start, end, bits) = match args.len() {
        2 => (0, -1, false),
        4 | 5 => {
            let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
            // Redis answers an empty range from the end before it reads the unit.
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            (start, end, args.len() == 5 && unit_is_bit(args.get(4))?)
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = s.with_bytes(|b| {
        bit_range(start, end, b.len(), bits).map_or(0, |(f, l)| count_ones(b, f, l))
    });
    ctx.out.int(count as i64);
    Ok(())
}
