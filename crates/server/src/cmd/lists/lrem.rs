//! LREM key count element
use resp::Args;

use crate::cmd::int_arg;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes up to |count| occurrences (from the head for count > 0, from the tail for
/// count < 0, all for 0); replies with how many were removed.
pub fn lrem(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let count = int_arg(args.get(2))?;
    let element = args.get(3);
    let removed =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |list: &mut store::List| {
            let limit = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let matching: Vec<usize> = list
                .iter()
                .enumerate()
                .filter(|(_, e)| *e == element)
                .map(|(i, _)| i)
                .collect();
            let mut chosen: Vec<usize> = if count >= 0 {
                matching.into_iter().take(limit).collect()
            } else {
                matching.into_iter().rev().take(limit).collect()
            };
            // Remove from the back so the earlier indexes stay valid.
            chosen.sort_unstable_by(|a, b| b.cmp(a));
            for &i in &chosen {
                list.remove(i);
            }
            (chosen.len(), !chosen.is_empty())
        })?
        .unwrap_or(0);
    ctx.out.int(removed as i64);
    Ok(())
}
