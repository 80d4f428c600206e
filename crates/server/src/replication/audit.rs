//! The replica's consistency audit (`--replica-digest-interval`): every so often a cluster
//! replica compares its data with its primary's, slot by slot, at the same replication
//! offset, without pausing the primary's clients.
//!
//! How both sides get to the same offset: the replica first holds its stream where it is
//! (its offset can only be at or behind the primary's), asks the primary for its offset
//! and slot digests (CLUSTER DIGESTS, inside MULTI/EXEC), lets its stream run up to exactly
//! that offset (a command boundary on both sides: the stream is the same bytes), computes
//! its own digests there, then lets the stream go on. The slots whose digests differ are
//! the metric `shardcache_replica_digest_mismatch` (0: the replica holds its primary's
//! data).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resp::Frame;

use crate::Shared;

/// How long the stream may take to reach the primary's offset before a round is given up.
const CATCH_UP: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Audit {
    /// The stream is applied up to this offset and no further (`u64::MAX`: no limit).
    limit: AtomicU64,
    /// Woken when the limit moves (the applier goes on).
    pub limit_changed: tokio::sync::Notify,
    /// Slots that differed in the last completed round; rounds completed.
    pub mismatched_slots: AtomicU64,
    pub rounds: AtomicU64,
}

impl Audit {
    pub fn new() -> Audit {
        Audit {
            limit: AtomicU64::new(u64::MAX),
            ..Audit::default()
        }
    }

    /// Where the applier must stop (read before each command of the stream).
    #[inline]
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    fn set_limit(&self, at: u64) {
        self.limit.store(at, Ordering::Release);
        self.limit_changed.notify_waiters();
    }
}

/// Lets the stream go on, whatever way the round ends.
struct Release<'a>(&'a Audit);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.set_limit(u64::MAX);
    }
}

/// Runs a round every `every` while this node is a cluster replica with its link up.
pub async fn run(shared: Arc<Shared>, every: Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let Some(primary) = shared.cluster.as_ref().and_then(|c| c.my_primary()) else {
            continue;
        };
        let connected = shared.replication.is_replica()
            && shared.replication.state().link == super::LinkState::Connected;
        if !connected
            || shared
                .cluster
                .as_ref()
                .is_some_and(|c| primary.id == c.myid)
        {
            continue;
        }
        match round(&shared, &primary).await {
            Ok(mismatched) => {
                let audit = &shared.replication.audit;
                audit.mismatched_slots.store(mismatched, Ordering::Relaxed);
                audit.rounds.fetch_add(1, Ordering::Relaxed);
                if mismatched > 0 {
                    tracing::error!(
                        primary = %primary.id,
                        slots = mismatched,
                        "replica audit: this replica's data differs from its primary's"
                    );
                }
            }
            Err(e) => tracing::info!(error = %e, "replica audit round skipped"),
        }
    }
}

/// One comparison; the number of slots whose digests differ.
pub async fn round(
    shared: &Arc<Shared>,
    primary: &placement::topology::Node,
) -> Result<u64, String> {
    let audit = &shared.replication.audit;
    let replid = shared.replication.state().replid.clone();
    audit.set_limit(0);
    let _release = Release(audit);
    let mut peer = crate::peer::connect_member(shared, primary)
        .await
        .map_err(|e| e.to_string())?;
    for step in [&["MULTI"][..], &["CLUSTER", "DIGESTS"]] {
        peer.call(step)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{step:?}: {e}"))?;
    }
    let reply = peer
        .call(&["EXEC"])
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("EXEC: {e}"))?;
    let (offset, theirs) = parse(reply)?;
    audit.set_limit(offset);
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let (same_history, at) = {
            let s = shared.replication.state();
            (s.replid == replid, s.offset)
        };
        if !same_history {
            return Err("the replication history changed during the round".into());
        }
        if at == offset {
            break;
        }
        if at > offset {
            return Err(format!("the stream passed offset {offset} ({at})"));
        }
        if Instant::now() > deadline {
            return Err(format!("the stream did not reach offset {offset} in time"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let s = shared.clone();
    let mine = tokio::task::spawn_blocking(move || crate::digest::slot_digests(&s))
        .await
        .map_err(|e| e.to_string())?;
    Ok(differing(&mine, &theirs))
}

/// Each non-empty slot's digest, in slot order.
type SlotDigests = Vec<(u16, [u8; 20])>;

/// `[offset, [slot, hex, slot, hex, ...]]` from the EXEC reply.
fn parse(reply: Frame) -> Result<(u64, SlotDigests), String> {
    let bad = || "an unexpected reply to CLUSTER DIGESTS".to_string();
    let Frame::Array(mut results) = reply else {
        return Err(bad());
    };
    let Some(Frame::Array(parts)) = results.pop() else {
        return Err(bad());
    };
    let (Some(Frame::Integer(offset)), Some(Frame::Array(flat))) = (parts.first(), parts.get(1))
    else {
        return Err(bad());
    };
    let mut slots = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks(2) {
        let (Some(Frame::Integer(slot)), Some(Frame::Bulk(hex))) = (pair.first(), pair.get(1))
        else {
            return Err(bad());
        };
        let mut digest = [0u8; 20];
        for (i, d) in digest.iter_mut().enumerate() {
            let byte = hex.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
            *d = u8::from_str_radix(std::str::from_utf8(byte).map_err(|_| bad())?, 16)
                .map_err(|_| bad())?;
        }
        slots.push((*slot as u16, digest));
    }
    Ok((*offset as u64, slots))
}

/// Slots present on one side only, or with other digests.
fn differing(a: &[(u16, [u8; 20])], b: &[(u16, [u8; 20])]) -> u64 {
    let a: std::collections::BTreeMap<u16, [u8; 20]> = a.iter().copied().collect();
    let b: std::collections::BTreeMap<u16, [u8; 20]> = b.iter().copied().collect();
    let mut slots: std::collections::BTreeSet<u16> = a.keys().copied().collect();
    slots.extend(b.keys().copied());
    slots.iter().filter(|s| a.get(s) != b.get(s)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_on_one_side_or_with_other_digests_differ() {
        let a = [(1, [1; 20]), (2, [2; 20]), (5, [5; 20])];
        let b = [(1, [1; 20]), (2, [9; 20]), (7, [7; 20])];
        assert_eq!(differing(&a, &b), 3);
        assert_eq!(differing(&a, &a), 0);
        assert_eq!(differing(&[], &[]), 0);
    }
}
