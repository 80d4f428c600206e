//! REPLICAOF host port | NO ONE (and its old name SLAVEOF); ROLE.
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Follows a primary (the link runs in the background: the reply does not wait for it), or
/// with `NO ONE` stops following and keeps the data as a primary.
pub fn replicaof(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    let repl = &ctx.shared.replication;
    if is(args.get(1), "no") && is(args.get(2), "one") {
        if repl.promote() {
            // Writes from now on are the new history's: replicas (old siblings too) follow it.
            crate::replication::primary::became_primary(ctx.shared);
            tracing::info!("MASTER MODE enabled (user request)");
        }
        ctx.out.ok();
        return Ok(());
    }
    if ctx.client.is_master {
        return Err(CmdError::err(
            "Command is not valid when client is a replica.",
        ));
    }
    let port = std::str::from_utf8(args.get(2))
        .ok()
        .and_then(|p| resp::number::parse_i64(p.as_bytes()))
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(args.get(1)).into_owned();
    let already = repl
        .state()
        .master
        .as_ref()
        .is_some_and(|(h, p)| *h == host && *p == port as u16);
    if !already {
        crate::replication::primary::relay_upstream(ctx.shared);
    }
    match repl.follow(&host, port as u16) {
        None => ctx.out.simple("OK Already connected to specified master"),
        Some(generation) => {
            tracing::info!(%host, port, "REPLICAOF: following a new MASTER (user request)");
            crate::replication::link::start(&ctx.shared.arc(), generation);
            ctx.out.ok();
        }
    }
    Ok(())
}

/// `master`, the offset and the replicas (address, port, acknowledged offset); or `slave`,
/// the primary, the link's state and the offset.
pub fn role(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let s = ctx.shared.replication.state();
    match &s.master {
        None => {
            drop(s);
            let offset = crate::replication::master_offset(ctx.shared);
            let replicas = ctx.shared.replicas.all();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(offset as i64);
            ctx.out.array(replicas.len());
            for r in replicas {
                ctx.out.array(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk_int(i64::from(r.port));
                ctx.out
                    .bulk_int(r.ack.load(std::sync::atomic::Ordering::Relaxed) as i64);
            }
        }
        Some((host, port)) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(host.as_bytes());
            ctx.out.int(i64::from(*port));
            ctx.out.bulk(s.link.name().as_bytes());
            let connected = s.link == crate::replication::LinkState::Connected;
            ctx.out.int(if connected { s.offset as i64 } else { -1 });
        }
    }
    Ok(())
}
