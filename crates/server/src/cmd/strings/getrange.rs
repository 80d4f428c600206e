//! GETRANGE key start end
use resp::Args;

use crate::cmd::{as_str, int_arg};
use crate::command::Ctx;
use crate::error::CmdResult;

/// The substring between two inclusive offsets; negative offsets count from the end.
/// Index clamping follows Redis's `getrangeCommand` exactly.
pub fn getrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut start = int_arg(args.get(2))?;
    let mut end = int_arg(args.get(3))?;
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get(h, key, ctx.now) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let s = as_str(e.value())?;
    s.with_bytes(|bytes| {
        let len = bytes.len() as i64;
        if start < 0 && end < 0 && start > end {
            ctx.out.bulk(b"");
            return;
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            ctx.out.bulk(b"");
        } else {
            ctx.out.bulk(&bytes[start as usize..=end as usize]);
        }
    });
    Ok(())
}
