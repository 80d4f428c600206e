//! FAILOVER (Redis 7.0, standalone): a primary hands its role to one of its replicas
//! without losing a write. Writers are paused; once the chosen replica (`TO host port`, or
//! the first that has everything) acknowledges the primary's whole stream, the primary
//! becomes that replica's replica and opens the link with `PSYNC <replid> <offset>
//! FAILOVER`, which tells the replica to promote itself first and then continue the old
//! primary's history with a partial resync. The pause ends when the new primary answers;
//! a refusal, or the deadline (`TIMEOUT`, unless `FORCE`), aborts and the node stays or
//! becomes a primary again.
//!
//! Works with redis-server on either side: the handshake is Redis's own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Shared;

/// How often the waiting primary looks at its replicas' acknowledgements.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The replica to hand over to; `None` until one is chosen (FAILOVER without TO).
    pub target: Option<(String, u16)>,
    pub deadline: Option<Instant>,
    pub force: bool,
    /// The hand-over started: this node follows the target and awaits its PSYNC reply.
    pub in_progress: bool,
}

/// INFO's `master_failover_state`.
pub fn state_name(shared: &Shared) -> &'static str {
    match &*shared.replication.failover.lock() {
        None => "no-failover",
        Some(p) if p.in_progress => "failover-in-progress",
        Some(_) => "waiting-for-sync",
    }
}

pub fn active(shared: &Shared) -> bool {
    shared.replication.failover.lock().is_some()
}

/// Starts waiting for a replica to catch up (the command has checked everything): writers
/// are paused, replicas are asked for their offsets at once, and a task drives the rest.
pub fn start(shared: &Arc<Shared>, plan: Plan) {
    *shared.replication.failover.lock() = Some(plan);
    shared.pause.hold_writes_for_failover(true);
    shared
        .repl_log
        .append_control(&[b"REPLCONF", b"GETACK", b"*"]);
    shared.repl_log.flush();
    let s = shared.clone();
    shared.workers_pick().spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if s.shutdown.is_cancelled() || !update(&s) {
                return;
            }
        }
    });
}

/// One step of the wait (Redis's `updateFailoverStatus`); false once there is nothing
/// more to wait for.
fn update(shared: &Arc<Shared>) -> bool {
    let plan = match &*shared.replication.failover.lock() {
        Some(p) if !p.in_progress => p.clone(),
        _ => return false,
    };
    if plan.deadline.is_some_and(|d| Instant::now() >= d) {
        if plan.force {
            let (host, port) = plan.target.clone().expect("FORCE needs TO");
            tracing::info!(%host, port, "FAILOVER time out exceeded, failing over");
            hand_over(shared, host, port);
        } else {
            abort(shared, "Replica never caught up before timeout");
        }
        return false;
    }
    let offset = shared.repl_log.offset();
    let replicas = shared.replicas.all();
    let synced = replicas.iter().find(|r| {
        plan.target
            .as_ref()
            .is_none_or(|(h, p)| r.ip.eq_ignore_ascii_case(h) && r.port == *p)
            && r.ack.load(Ordering::SeqCst) == offset
    });
    match synced {
        Some(r) => {
            tracing::info!(host = %r.ip, port = r.port, "Failover target is synced, failing over");
            hand_over(shared, r.ip.clone(), r.port);
            false
        }
        None => true,
    }
}

/// Becomes the target's replica; the link sends `PSYNC ... FAILOVER`.
fn hand_over(shared: &Arc<Shared>, host: String, port: u16) {
    if let Some(p) = shared.replication.failover.lock().as_mut() {
        p.target = Some((host.clone(), port));
        p.in_progress = true;
    }
    super::primary::relay_upstream(shared);
    if let Some(generation) = shared.replication.follow(&host, port) {
        super::link::start(shared, generation);
    }
}

/// The new primary answered the `PSYNC ... FAILOVER`: done, writers resume (and are refused
/// as on any replica, or wait for the new primary in a cluster-aware client).
pub fn psync_answered(shared: &Shared, accepted: bool) {
    let in_progress = matches!(&*shared.replication.failover.lock(), Some(p) if p.in_progress);
    if !in_progress {
        return;
    }
    if accepted {
        tracing::info!("FAILOVER done: following the new primary");
        clear(shared);
    } else {
        abort(shared, "Failover target rejected psync request");
    }
}

/// Gives up: a node that had started following the target becomes a primary again with its
/// data (`abortFailover`).
pub fn abort(shared: &Shared, why: &str) {
    let Some(plan) = shared.replication.failover.lock().take() else {
        return;
    };
    match &plan.target {
        Some((h, p)) => tracing::warn!(host = %h, port = p, why, "FAILOVER aborted"),
        None => tracing::warn!(why, "FAILOVER to any replica aborted"),
    }
    if plan.in_progress && shared.replication.promote() {
        super::primary::became_primary(shared);
    }
    shared.pause.hold_writes_for_failover(false);
}

fn clear(shared: &Shared) {
    *shared.replication.failover.lock() = None;
    shared.pause.hold_writes_for_failover(false);
}
