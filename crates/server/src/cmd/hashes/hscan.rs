//! HSCAN key cursor [MATCH pattern] [COUNT count]
use resp::Args;

use super::read_hash;
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Returns every matching field and value with cursor 0 in one reply, as Redis does for
/// listpack-encoded hashes; COUNT is a hint Redis may ignore, and so do we.
pub fn hscan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    // Any valid cursor starts over: the whole hash is returned in one reply.
    std::str::from_utf8(args.get(2))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
    // Redis answers an empty scan for a missing key before looking at the options.
    let key = args.get(1);
    let exists = {
        let ks = &ctx.shared.keyspace;
        let h = ks.hash(key);
        ks.lock(h).peek(h, key, ctx.now).is_some()
    };
    if !exists {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    }
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is(args.get(i), "count") && has_value {
            if int_arg(args.get(i + 1))? < 1 {
                return Err(CmdError::Syntax);
            }
        } else if is(args.get(i), "match") && has_value {
            pattern = Some(args.get(i + 1)).filter(|p| *p != b"*");
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
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
