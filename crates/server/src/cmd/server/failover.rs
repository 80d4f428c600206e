//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (see `replication::failover`).
use std::time::{Duration, Instant};

use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::replication::failover::{self, Plan};

/// Starts handing this primary's role to a replica (the reply does not wait for it; INFO's
/// `master_failover_state` and ROLE show how it goes), or aborts one under way. Checks and
/// errors in Redis's order and words.
pub fn failover(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(CmdError::err(
            "FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        ));
    }
    if args.len() == 2 && is(args.get(1), "abort") {
        if !failover::active(ctx.shared) {
            return Err(CmdError::err("No failover in progress."));
        }
        failover::abort(ctx.shared, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let mut timeout_ms = 0i64;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < args.len() {
        let a = args.get(j);
        if is(a, "timeout") && j + 1 < args.len() && timeout_ms == 0 {
            timeout_ms = crate::cmd::int_arg(args.get(j + 1))?;
            if timeout_ms <= 0 {
                return Err(CmdError::err("FAILOVER timeout must be greater than 0"));
            }
            j += 1;
        } else if is(a, "to") && j + 2 < args.len() && target.is_none() {
            let port = crate::cmd::int_arg(args.get(j + 2))?;
            target = Some((String::from_utf8_lossy(args.get(j + 1)).into_owned(), port));
            j += 2;
        } else if is(a, "force") && !force {
            force = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if failover::active(ctx.shared) {
        return Err(CmdError::err("FAILOVER already in progress."));
    }
    if ctx.shared.replication.is_replica() {
        return Err(CmdError::err(
            "FAILOVER is not valid when server is a replica.",
        ));
    }
    let replicas = ctx.shared.replicas.all();
    if replicas.is_empty() {
        return Err(CmdError::err("FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(CmdError::err(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match target {
        Some((host, port)) => {
            let replica = replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(&host) && i64::from(r.port) == port)
                .ok_or_else(|| CmdError::err("FAILOVER target HOST and PORT is not a replica."))?;
            if *replica.state.lock() != "online" {
                return Err(CmdError::err("FAILOVER target replica is not online."));
            }
            tracing::info!(%host, port, "FAILOVER requested");
            Some((host, replica.port))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica");
            None
        }
    };
    failover::start(
        &ctx.shared.arc(),
        Plan {
            target,
            deadline: (timeout_ms > 0)
                .then(|| Instant::now() + Duration::from_millis(timeout_ms as u64)),
            force,
            in_progress: false,
        },
    );
    ctx.out.ok();
    Ok(())
}
