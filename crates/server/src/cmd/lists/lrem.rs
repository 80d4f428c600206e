//! LREM key count element
use resp::Args;

use super::write_list;
use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes up to |count| occurrences (from the head for count > 0, from the tail for
/// count < 0, all for 0); replies with how many were removed.
pub fn lrem(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let count = int_arg(args.get(2))?;
    let element = args.get(3);
    let removed = write_list(ctx, args.get(1), false, |list| {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < list.items.len() && removed < limit {
                if &*list.items[i] == element {
                    list.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = list.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if &*list.items[i] == element {
                    list.items.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    })?
    .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
