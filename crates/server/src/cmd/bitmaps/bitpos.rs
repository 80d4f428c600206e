//! BITPOS key bit [start [end [BYTE|BIT]]]
use resp::Args;

use super::{bit_range, find_bit, unit_is_bit};
use crate::cmd::{as_str, int_arg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The first bit set to `bit`. Without an explicit end, a search for 0 that finds none
/// answers the first bit past the string (it reads as zero-padded); with one, -1. Redis
/// looks the key up before parsing the range, so a missing key never reports a range error.
pub fn bitpos(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let bit = match resp::number::parse_i64(args.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return Err(CmdError::err("The bit argument must be 1 or 0.")),
        None => return Err(CmdError::NotInteger),
    };
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get(h, key, ctx.now) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let s = as_str(e.value())?;
    let pos = s.with_bytes(|b| -> Result<i64, CmdError> {
        let (start, end, bits, end_given) = match args.len() {
            3 => (0, -1, false, false),
            4..=6 => {
                let start = int_arg(args.get(3))?;
                let bits = args.len() == 6 && unit_is_bit(args.get(5))?;
                let end = if args.len() >= 5 {
                    int_arg(args.get(4))?
                } else {
                    -1
                };
                (start, end, bits, args.len() >= 5)
            }
            _ => return Err(CmdError::Syntax),
        };
        let Some((first, last)) = bit_range(start, end, b.len(), bits) else {
            return Ok(-1);
        };
        Ok(match find_bit(b, first, last, bit) {
            Some(p) => p as i64,
            None if !bit && !end_given => last as i64 + 1,
            None => -1,
        })
    })?;
    ctx.out.int(pos);
    Ok(())
}
