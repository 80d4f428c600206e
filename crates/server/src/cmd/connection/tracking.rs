//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO (see `tracking`).
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::tracking::Options;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP],
/// with Redis 7.0's checks in its order.
pub fn tracking(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let mut o = Options::default();
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        let more = i + 1 < args.len();
        if is(a, "redirect") && more {
            if o.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = resp::number::parse_i64(args.get(i + 1)).ok_or(CmdError::NotInteger)?;
            // Redis checks the target exists right away.
            if id <= 0 || !ctx.shared.clients.all().iter().any(|c| c.id == id as u64) {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            o.redirect = id as u64;
            i += 1;
        } else if is(a, "bcast") {
            o.bcast = true;
        } else if is(a, "optin") {
            o.optin = true;
        } else if is(a, "optout") {
            o.optout = true;
        } else if is(a, "noloop") {
            o.noloop = true;
        } else if is(a, "prefix") && more {
            o.prefixes.push(args.get(i + 1).to_vec());
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let on = args.get(2);
    if is(on, "on") {
        if !o.bcast && !o.prefixes.is_empty() {
            return Err(CmdError::err(
                "PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if let Some(current) = &ctx.client.tracking {
            if current.bcast != o.bcast {
                return Err(CmdError::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if o.bcast && (o.optin || o.optout) {
            return Err(CmdError::err(
                "OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if o.optin && o.optout {
            return Err(CmdError::err(
                "You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if let Some(current) = &ctx.client.tracking {
            if (o.optin && current.optout) || (o.optout && current.optin) {
                return Err(CmdError::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if o.bcast {
            check_prefixes(&ctx.client.tracking, &o.prefixes)?;
        }
        // Prefixes add up across calls, as in Redis.
        if let Some(current) = &ctx.client.tracking {
            let mut all = current.prefixes.clone();
            for p in o.prefixes.drain(..) {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            o.prefixes = all;
        }
        let own = crate::pubsub::endpoint_of(ctx.shared, ctx.client);
        ctx.shared
            .tracking
            .enable(ctx.client.info.clone(), o.clone(), own);
        ctx.client.tracking = Some(o);
        crate::seam::refresh(ctx.shared);
    } else if is(on, "off") {
        if ctx.client.tracking.take().is_some() {
            ctx.shared.tracking.disable(ctx.client.info.id);
            ctx.client.caching = None;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// Prefixes of one client must not overlap (`checkPrefixCollisionsOrReply`).
fn check_prefixes(current: &Option<Options>, new: &[Vec<u8>]) -> Result<(), CmdError> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = current
            .iter()
            .flat_map(|c| c.prefixes.iter())
            .find(|q| *q != p && overlap(p, q))
        {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(other)
            )));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: whether the next command's reads are tracked (OPTIN / OPTOUT).
pub fn caching(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let Some(t) = &ctx.client.tracking else {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let a = args.get(2);
    if is(a, "yes") {
        if !t.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        ctx.client.caching = Some(true);
    } else if is(a, "no") {
        if !t.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        ctx.client.caching = Some(false);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETREDIR: -1 when not tracking, 0 without a redirect, else its client id.
pub fn getredir(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let n = match &ctx.client.tracking {
        None => -1,
        Some(t) => t.redirect as i64,
    };
    ctx.out.int(n);
    Ok(())
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes.
pub fn trackinginfo(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let mut flags: Vec<&str> = Vec::new();
    let (redirect, prefixes) = match &ctx.client.tracking {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push("on");
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if ctx.client.caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if ctx.client.caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if ctx.shared.tracking.broken(ctx.client.info.id) {
                flags.push("broken_redirect");
            }
            // Redis keeps them in a radix tree: sorted. BCAST without a prefix is the empty
            // prefix there, and shown as one.
            let mut prefixes = t.prefixes.clone();
            prefixes.sort();
            if t.bcast && prefixes.is_empty() {
                prefixes.push(Vec::new());
            }
            (t.redirect as i64, prefixes)
        }
    };
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    flags.iter().for_each(|f| ctx.out.bulk(f.as_bytes()));
    ctx.out.bulk(b"redirect");
    ctx.out.int(redirect);
    ctx.out.bulk(b"prefixes");
    ctx.out.array(prefixes.len());
    prefixes.iter().for_each(|p| ctx.out.bulk(p));
    Ok(())
}
