//! HSCAN key cursor [MATCH pattern] [COUNT count]
//!
//! A packed hash comes back whole with cursor 0, as Redis answers for a listpack; a hash
//! table is walked COUNT positions at a time with the cursor of [`store::cursor`], which
//! returns every field present for the whole scan at least once.
use resp::Args;

use super::read_hash;
use crate::cmd::reply_scan;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn hscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(opts) = crate::cmd::collection_scan_options(ctx, args, "hash")? else {
        return Ok(());
    };
    read_hash(ctx, args, |hash, out| {
        type Fields<'h> = Vec<(&'h [u8], &'h [u8])>;
        let (items, next): (Fields<'_>, u64) = match hash.cursor_len() {
            None => (hash.iter().filter(|(f, _)| opts.matches(f)).collect(), 0),
            Some(len) => {
                let (range, next) = store::cursor::window(len, opts.cursor, opts.count);
                let items = range
                    .rev()
                    .filter_map(|i| hash.get_index(i))
                    .filter(|(f, _)| opts.matches(f))
                    .collect();
                (items, next)
            }
        };
        reply_scan(out, next, items.len() * 2, |out| {
            for (f, v) in items {
                out.bulk(f);
                out.bulk(v);
            }
        });
    })?;
    Ok(())
}
