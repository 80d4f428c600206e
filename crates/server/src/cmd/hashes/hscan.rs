//! HSCAN key cursor [MATCH pattern] [COUNT count]
use resp::Args;

use super::read_hash;
use crate::command::Ctx;
use crate::error::CmdResult;

/// Returns every matching field and value with cursor 0 in one reply, as Redis does for
/// listpack-encoded hashes; COUNT is a hint Redis may ignore, and so do we.
pub fn hscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(pattern) = crate::cmd::collection_scan_options(ctx, args)? else {
        return Ok(());
    };
    read_hash(ctx, args, |hash, out| {
        let items: Vec<(&[u8], &[u8])> = hash
            .iter()
            .filter(|(f, _)| pattern.is_none_or(|p| store::glob::matches(p, f, false)))
            .collect();
        out.array(2);
        out.bulk(b"0");
        out.array(items.len() * 2);
        for (f, v) in items {
            out.bulk(f);
            out.bulk(v);
        }
    })?;
    Ok(())
}
