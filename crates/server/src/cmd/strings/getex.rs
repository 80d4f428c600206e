//! GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]
use resp::Args;

use crate::cmd::{as_str, expire_compatible, expire_deadline, expire_option, is, ExpireArg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

enum Change {
    None,
    Persist,
    Deadline(u64, bool),
}

pub fn getex(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut change = None;
    let mut expire: Option<ExpireArg<'_>> = None;
    let mut persist = false;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        let has_next = i + 1 < args.len();
        if is(a, "persist") && expire.is_none() {
            persist = true;
        } else {
            match expire_option(a) {
                Some((unit, relative))
                    if !persist && has_next && expire_compatible(expire, unit, relative) =>
                {
                    expire = Some((args.get(i + 1), unit, relative));
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
        }
        i += 1;
    }
    // Redis looks the key up and checks its type before validating the expire time.
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get(h, key, ctx.now) else {
        ctx.out.null();
        return Ok(());
    };
    let has_ttl = e.expire_at().is_some();
    let value = as_str(e.value())?;
    if let Some((arg, unit, relative)) = expire {
        change = Some(Change::Deadline(
            expire_deadline(arg, unit, relative, ctx.now, "getex")?,
            !relative,
        ));
    } else if persist {
        change = Some(Change::Persist);
    }
    value.with_bytes(|b| ctx.out.bulk(b));
    match change.unwrap_or(Change::None) {
        Change::None => {}
        // Only a key that has a TTL changes (and breaks a WATCH), as Redis.
        Change::Persist if has_ttl => {
            shard.set_expire(h, key, None, ctx.now);
            crate::replication::log::rewrite_parts(&[b"PERSIST", key]);
            crate::notify::event(ctx.shared, crate::notify::GENERIC, "persist", key);
        }
        Change::Persist => {}
        // An absolute deadline already in the past deletes the key, as Redis does.
        Change::Deadline(at, absolute) if absolute && at <= ctx.now => {
            shard.remove(h, key, ctx.now);
            crate::replication::log::rewrite_parts(&[b"DEL", key]);
        }
        Change::Deadline(at, _) => {
            shard.set_expire(h, key, Some(at), ctx.now);
            crate::notify::event(ctx.shared, crate::notify::GENERIC, "expire", key);
            let at = at.to_string();
            crate::replication::log::rewrite_parts(&[b"PEXPIREAT", key, at.as_bytes()]);
        }
    }
    Ok(())
}
