//! LPOP / RPOP key [count]
use resp::Args;

use super::End;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Without a count: one element or nil. With one: up to `count` elements as an array (a
/// null array when the key is missing, an empty array for count 0).
fn pop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) -> CmdResult {
    if args.len() > 3 {
        // Redis checks this itself (the arity allows any count of arguments).
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(crate::error::CmdError::WrongArity(name.into()));
    }
    let count = if args.len() == 3 {
        Some(crate::cmd::positive_count(args.get(2))?)
    } else {
        None
    };
    let take = count.unwrap_or(1);
    let popped =
        crate::cmd::write_collection_if(ctx, args.get(1), false, |list: &mut store::List| {
            let n = take.min(list.len());
            let popped = (0..n)
                .map(|_| match end {
                    End::Left => list.pop_front(),
                    End::Right => list.pop_back(),
                })
                .map(|e| e.expect("within length"))
                .collect::<Vec<_>>();
            let changed = !popped.is_empty();
            (popped, changed)
        })?;
    match (popped, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.null_array(),
        (Some(items), None) => ctx.out.bulk(&items[0]),
        (Some(items), Some(_)) => {
            ctx.out.array(items.len());
            items.iter().for_each(|e| ctx.out.bulk(e));
        }
    }
    Ok(())
}

pub fn lpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    pop(ctx, args, End::Left)
}

pub fn rpop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    pop(ctx, args, End::Right)
}
