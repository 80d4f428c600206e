//! ZSCAN key cursor [MATCH pattern] [COUNT count]
//!
//! A packed sorted set comes back whole with cursor 0, as Redis answers for a listpack; the
//! big form is walked COUNT members at a time over its member map with the cursor of
//! [`store::cursor`], which returns every member present for the whole scan at least once.
use resp::Args;

use super::read_zset;
use crate::cmd::reply_scan;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn zscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(opts) = crate::cmd::collection_scan_options(ctx, args, "zset")? else {
        return Ok(());
    };
    read_zset(ctx, args.get(1), |z, out| {
        let (items, next): (Vec<(&[u8], f64)>, u64) = match z.cursor_len() {
            None => (z.iter().filter(|(m, _)| opts.matches(m)).collect(), 0),
            Some(len) => {
                let (range, next) = store::cursor::window(len, opts.cursor, opts.count);
                let items = range
                    .rev()
                    .filter_map(|i| z.member_at(i))
                    .filter(|(m, _)| opts.matches(m))
                    .collect();
                (items, next)
            }
        };
        reply_scan(out, next, items.len() * 2, |out| {
            for (m, s) in items {
                out.bulk(m);
                // Scores are bulk strings here even in RESP3, as in Redis.
                out.bulk(resp::reply::format_double(s).as_bytes());
            }
        });
    })?;
    Ok(())
}
