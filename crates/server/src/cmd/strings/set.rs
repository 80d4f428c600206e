//! SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL]
use resp::Args;
use store::Ttl;

use crate::cmd::{as_str, expire_compatible, expire_deadline, expire_option, is, ExpireArg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Default)]
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    expire: Option<ExpireArg<'a>>,
}

/// Parses the options with Redis's exclusions (`parseExtendedStringArgumentsOrReply`).
fn parse(args: Args<'_>) -> Result<Options<'_>, CmdError> {
    let mut o = Options::default();
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        let has_next = i + 1 < args.len();
        if is(a, "nx") && !o.xx {
            o.nx = true;
        } else if is(a, "xx") && !o.nx {
            o.xx = true;
        } else if is(a, "get") {
            o.get = true;
        } else if is(a, "keepttl") && o.expire.is_none() {
            o.keepttl = true;
        } else {
            match expire_option(a) {
                Some((unit, relative))
                    if !o.keepttl && has_next && expire_compatible(o.expire, unit, relative) =>
                {
                    o.expire = Some((args.get(i + 1), unit, relative));
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
        }
        i += 1;
    }
    Ok(o)
}

pub fn set(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let opts = parse(args)?;
    let deadline = match opts.expire {
        Some((arg, unit, relative)) => Some(expire_deadline(arg, unit, relative, ctx.now, "set")?),
        None => None,
    };
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let old = if opts.get {
        match shard.get(h, key, ctx.now) {
            Some(e) => Some(as_str(e.value())?.to_vec()),
            None => None,
        }
    } else {
        None
    };
    let exists = opts.get && old.is_some() || shard.peek(h, key, ctx.now).is_some();
    if (opts.nx && exists) || (opts.xx && !exists) {
        if opts.get {
            match old {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    let ttl = match (deadline, opts.keepttl) {
        (Some(at), _) => Ttl::At(at),
        (None, true) => Ttl::Keep,
        (None, false) => Ttl::Clear,
    };
    shard.set_str(h, key, args.get(2), ttl, ctx.now);
    drop(shard);
    crate::notify::event(ctx.shared, crate::notify::STRING, "set", key);
    if deadline.is_some() {
        crate::notify::event(ctx.shared, crate::notify::GENERIC, "expire", key);
    }
    if let Some(at) = deadline {
        // Replicas get the absolute deadline, as Redis 7.0 propagates it.
        let at = at.to_string();
        crate::replication::log::rewrite_parts(&[b"SET", key, args.get(2), b"PXAT", at.as_bytes()]);
    }
    if opts.get {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
    Ok(())
}
