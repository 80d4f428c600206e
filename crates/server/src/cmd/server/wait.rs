//! WAIT numreplicas timeout
use std::time::{Duration, Instant};

use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Waits until `numreplicas` replicas acknowledged this client's writes, or `timeout` ms
/// (0: no limit) passed; answers how many did. Inside a transaction it does not wait.
pub fn wait(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    if ctx.shared.replication.is_replica() {
        return Err(CmdError::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let wanted = resp::number::parse_i64(args.get(1)).ok_or(CmdError::NotInteger)?;
    let timeout = resp::number::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let shared = ctx.shared.arc();
    let target = ctx.client.repl_offset;
    let acked = shared.replicas.acked_at_least(target);
    if acked as i64 >= wanted || ctx.client.in_exec {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    // Ask the replicas for their offsets now rather than at their next periodic ACK.
    if shared.replicas.count() > 0 {
        shared
            .repl_log
            .append_control(&[b"REPLCONF", b"GETACK", b"*"]);
        shared.repl_log.flush();
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    ctx.client.pending = Some(crate::Pending::Then(Box::pin(async move {
        let n = loop {
            let notified = shared.replicas.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let n = shared.replicas.acked_at_least(target);
            if n as i64 >= wanted {
                break n;
            }
            match deadline {
                Some(at) => tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep_until(at.into()) => {
                        break shared.replicas.acked_at_least(target);
                    }
                    _ = shared.shutdown.cancelled() => break n,
                },
                None => tokio::select! {
                    _ = &mut notified => {}
                    _ = shared.shutdown.cancelled() => break n,
                },
            }
        };
        Box::new(move |_: &crate::Shared, out: &mut resp::ReplyWriter| out.int(n as i64))
            as crate::Finish
    })));
    Ok(())
}
