//! ZSCAN key cursor [MATCH pattern] [COUNT count]
//!
//! Like HSCAN and SSCAN here, one call returns the whole sorted set with cursor 0: COUNT is
//! a hint in Redis too, and a full pass trivially keeps SCAN's guarantees.
use resp::Args;

use super::read_zset;
use crate::command::Ctx;
use crate::error::CmdResult;

pub fn zscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(pattern) = crate::cmd::collection_scan_options(ctx, args)? else {
        return Ok(());
    };
    read_zset(ctx, args.get(1), |z, out| {
        let items: Vec<(&[u8], f64)> = z
            .iter()
            .filter(|(m, _)| pattern.is_none_or(|p| store::glob::matches(p, m, false)))
            .collect();
        out.array(2);
        out.bulk(b"0");
        out.array(items.len() * 2);
        for (m, s) in items {
            out.bulk(m);
            // Scores are bulk strings here even in RESP3, as in Redis.
            out.bulk(resp::reply::format_double(s).as_bytes());
        }
    })?;
    Ok(())
}
