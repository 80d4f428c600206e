//! REPLCONF, PSYNC, SYNC: what a replica sends to follow this node (see
//! `replication::primary`).
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::replication::primary::SyncRequest;

/// REPLCONF <option> <value> ...: a replica's listening port, address and capabilities;
/// `ACK` (no reply, as Redis: it is meant for a replica's link) and `GETACK`.
pub fn replconf(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut conf = ctx.client.replconf.clone();
    let mut i = 1;
    while i < args.len() {
        let (opt, value) = (args.get(i), args.get(i + 1));
        if is(opt, "listening-port") {
            let port = resp::number::parse_i64(value).ok_or(CmdError::NotInteger)?;
            conf.listening_port = port as u16;
        } else if is(opt, "ip-address") {
            if value.len() >= 46 {
                return Err(CmdError::err(format!(
                    "REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                )));
            }
            conf.ip_address = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(opt, "capa") {
            if is(value, "eof") {
                conf.capa_eof = true;
            } else if is(value, "psync2") {
                conf.capa_psync2 = true;
            } else if is(value, "dual-channel") {
                conf.capa_dual_channel = true;
            }
        } else if is(opt, "ack") || is(opt, "getack") {
            // Meaningful on replication links only, which read them themselves.
            return Ok(());
        } else if is(opt, "rdb-only") {
            // The snapshot alone, no stream after it (`redis-cli --rdb`; a dual-channel
            // replica's snapshot channel).
            conf.rdb_only = match resp::number::parse_i64(value) {
                Some(0) => false,
                Some(1) => true,
                Some(_) => {
                    return Err(CmdError::err(
                        "value is out of range, value must between 0 and 1",
                    ))
                }
                None => return Err(CmdError::NotInteger),
            };
        } else if is(opt, "rdb-filter-only") {
            // Accepted; this node sends its whole snapshot.
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    ctx.client.replconf = conf;
    ctx.out.ok();
    Ok(())
}

fn start_sync(ctx: &mut Ctx<'_>, psync: Option<(String, u64)>, old_sync: bool) -> CmdResult {
    if ctx.client.is_master {
        return Ok(());
    }
    if crate::replication::failover::active(ctx.shared) {
        return Err(CmdError::Raw(
            "NOMASTERLINK Can't SYNC while failing over".into(),
        ));
    }
    // A replica serves its own replicas the stream it relays (chained replication), once
    // it has its primary's data and history.
    if ctx.shared.replication.is_replica()
        && ctx.shared.replication.state().link != crate::replication::LinkState::Connected
    {
        return Err(CmdError::Raw(
            "NOMASTERLINK Can't SYNC while not connected with my master".into(),
        ));
    }
    if ctx.client.in_exec || ctx.client.multi.is_some() {
        return Err(CmdError::err("Command not allowed inside a transaction"));
    }
    if !ctx.out.is_empty() {
        return Err(CmdError::err(
            "SYNC and PSYNC are invalid with pending output",
        ));
    }
    ctx.client.pending = Some(crate::Pending::BecomeReplica(SyncRequest {
        psync,
        old_sync,
        conf: ctx.client.replconf.clone(),
    }));
    Ok(())
}

/// PSYNC <replid> <offset> [FAILOVER]: continue a history from `offset`, or (`? -1`, or a history or
/// offset this node cannot continue) a full resync.
pub fn psync(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let replid = String::from_utf8_lossy(args.get(1)).into_owned();
    if args.len() > 3 && is(args.get(3), "failover") {
        // Our primary hands its role over (its FAILOVER): promote, then serve it as a
        // replica that continues the history we share.
        tracing::warn!(%replid, "Failover request received");
        let repl = &ctx.shared.replication;
        if !repl.is_replica() {
            return Err(CmdError::err("PSYNC FAILOVER can't be sent to a master."));
        }
        if !repl.state().replid.eq_ignore_ascii_case(&replid) {
            return Err(CmdError::err("PSYNC FAILOVER replid must match my replid."));
        }
        if repl.promote() {
            crate::replication::primary::became_primary(ctx.shared);
            tracing::info!("MASTER MODE enabled (failover request)");
        }
    }
    let offset = resp::number::parse_i64(args.get(2)).ok_or(CmdError::NotInteger)?;
    let psync = (replid != "?" && offset > 0).then_some((replid, offset as u64));
    start_sync(ctx, psync, false)
}

/// SYNC: the old full resync (the snapshot with no `+FULLRESYNC` line before it).
pub fn sync(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    start_sync(ctx, None, true)
}
