//! HELLO [protover [AUTH username password] [SETNAME clientname]]
use std::sync::atomic::Ordering;

use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Switches protocol, optionally authenticating and naming the connection, and replies with
/// the server's identity as a map (in the newly chosen protocol).
pub fn hello(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut version = None;
    let mut next = 1;
    if args.len() >= 2 {
        let v = resp::number::parse_i64(args.get(1))
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::NoProto);
        }
        version = Some(v);
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if is(opt, "auth") && more >= 2 {
            credentials = Some((args.get(j + 1), args.get(j + 2)));
            j += 2;
        } else if is(opt, "setname") && more >= 1 {
            let n = args.get(j + 1);
            if !super::valid_client_name(n) {
                return Err(CmdError::err(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(n);
            j += 1;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if let Some((user, pass)) = credentials {
        super::auth::check(ctx, args.get(0), user, pass)?;
    }
    if !ctx.client.authenticated && ctx.shared.users.auth_required() {
        return Err(CmdError::HelloNoAuth);
    }
    if let Some(n) = name {
        *ctx.client.info.name.write() = String::from_utf8_lossy(n).into_owned();
    }
    if let Some(v) = version {
        ctx.out.set_resp3(v == 3);
        ctx.client.info.resp.store(v as u8, Ordering::Relaxed);
        if v == 3 {
            // A RESP3 connection takes invalidations pushed to it as another client's
            // tracking REDIRECT target without subscribing (Redis's rule): its queue must be
            // findable from now on.
            crate::pubsub::endpoint_of(ctx.shared, ctx.client);
        }
    }
    let proto = if ctx.out.is_resp3() { 3 } else { 2 };
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(ctx.shared.live.compat_version.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.client.info.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}
