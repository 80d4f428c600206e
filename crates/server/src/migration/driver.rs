//! One driver per target shard: moves this node's slots that are moving there, a batch at a
//! time (see the module's documentation for the steps and why each is safe).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use placement::planner::ShardId;
use placement::slot::{key_slot, SLOTS};

use super::link::Link;
use super::Running;
use crate::cluster::{ClusterState, SlotChange};
use crate::Shared;

/// A batch ends at this many keys (or [`BATCH_SLOTS`] slots). Each batch ends with a switch
/// that pauses its slots for a Raft round trip (~10-15 ms here), so fewer, larger batches
/// delay fewer client commands. Measured while 1M keys moved (docs/BENCHMARKS.md), a probe
/// on the moving slots had a p99 of 2.8 ms with 20k-key batches, 1.1-2.1 ms with 100k,
/// 0.8-0.9 ms with 400k and 0.16-0.18 ms with 1M (Redis's reshard: 0.3 ms). The last changes
/// sent during the pause stay few either way, as the catch-up rounds run before it; a batch
/// that fails is copied again whole.
const BATCH_KEYS: usize = 1_000_000;
const BATCH_SLOTS: usize = 4096;
/// Queued bytes sent at once, and commands allowed unanswered (the pipeline's depth).
const SEND_BYTES: usize = 64 * 1024;
/// The driver shares the node's workers with its clients: it gives way every this many keys
/// (~0.1 ms of work) so their commands do not queue behind a long copy.
const YIELD_EVERY: u64 = 128;
const IN_FLIGHT: u64 = 8192;
/// Rounds of resending changed keys before the switch, and how few changed keys are left
/// for the switch to send (while the slots wait).
const CATCH_UP_ROUNDS: usize = 16;
const FEW_LEFT: usize = 256;

pub async fn run(shared: Arc<Shared>, to: ShardId) {
    let _running = Running(shared.clone(), to);
    let mut backoff = Duration::from_millis(100);
    while let Some(batch) = next_batch(&shared, to) {
        match move_batch(&shared, to, &batch).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                let progress = &shared.migrations.progress;
                progress
                    .failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %e, slots = batch.len(), "slot migration failed; retrying");
                *progress.last_error.lock() = Some(e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The next slots to move to `to`, in slot order, while this node is their owner's primary
/// and moves are not paused (a resume schedules the drivers again).
fn next_batch(shared: &Shared, to: ShardId) -> Option<Vec<u16>> {
    let c = shared.cluster.as_ref()?;
    let t = c.topology().filter(|t| !t.moves_paused)?;
    let me = t.node(&c.myid).filter(|n| n.primary)?;
    let mut batch = Vec::new();
    let mut keys = 0;
    for (&slot, &target) in &t.moves {
        if target != to || t.slots[slot as usize] != Some(me.shard) {
            continue;
        }
        let n = shared.keyspace.count_in_slot(slot);
        if !batch.is_empty() && (keys + n > BATCH_KEYS || batch.len() >= BATCH_SLOTS) {
            break;
        }
        keys += n;
        batch.push(slot);
    }
    (!batch.is_empty()).then_some(batch)
}

/// Records changes to the batch's slots while it lives.
struct Watch<'a>(&'a Shared, &'a [u16]);

impl<'a> Watch<'a> {
    fn new(shared: &'a Shared, slots: &'a [u16]) -> Self {
        shared.migrations.tap.watch(slots);
        crate::seam::refresh(shared);
        Watch(shared, slots)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.0.migrations.tap.unwatch(self.1);
        crate::seam::refresh(self.0);
    }
}

/// Keeps the batch's slots unserved while it lives (see `ClusterState::begin_switch`).
struct Switch<'a>(&'a ClusterState, &'a [u16]);

impl Drop for Switch<'_> {
    fn drop(&mut self) {
        self.0.end_switch(self.1);
    }
}

async fn move_batch(shared: &Arc<Shared>, to: ShardId, batch: &[u16]) -> Result<(), String> {
    let c = shared.cluster.as_ref().ok_or("not a cluster node")?;
    let t = c.topology().ok_or("no topology")?;
    let target = t
        .primary_of(to)
        .ok_or_else(|| format!("the target shard {to:x} has no primary"))?;
    let addr = crate::peer::member_addr(shared, target);
    let password = shared.live.requirepass();
    let mut link = Link::connect(&addr, password.as_deref(), shared.member_tls.as_deref()).await?;
    let progress = &shared.migrations.progress;
    let tap = &shared.migrations.tap;
    let _watch = Watch::new(shared, batch);
    // A fresh import of each slot: the target drops what an earlier attempt left there. The
    // target may not have applied the change that planned the move yet (it refuses): it
    // is asked again for up to 2 s.
    let mut attempts = 0;
    loop {
        for &slot in batch {
            let slot = slot.to_string();
            link.send(&[
                &b"CLUSTER"[..],
                b"SETSLOT",
                slot.as_bytes(),
                b"IMPORTING",
                c.myid.as_bytes(),
            ]);
        }
        match link.sync().await {
            Ok(()) => break,
            Err(e) if attempts < 100 && e.contains("MOVESLOTS") => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    // Every key, then the keys that changed meanwhile, until few are left. A pause stops
    // the copy (the batch is copied again from the start on resume).
    let paused = || c.topology().is_some_and(|t| t.moves_paused);
    for &slot in batch {
        for key in shared.keyspace.keys_in_slot(slot, usize::MAX) {
            send_key(shared, &mut link, &key, true).await?;
        }
        if paused() {
            return Ok(());
        }
    }
    for _ in 0..CATCH_UP_ROUNDS {
        let changed = tap.take(batch);
        for key in &changed {
            send_key(shared, &mut link, key, true).await?;
        }
        if changed.len() <= FEW_LEFT {
            break;
        }
    }
    send(shared, &mut link, true).await?;
    link.sync().await?;
    if paused() {
        return Ok(());
    }
    // The switch: stop serving the slots, let the commands already running finish, send
    // their last changes, and have the target acknowledge everything.
    c.begin_switch(batch);
    let switch = Switch(c, batch);
    let paused = Instant::now();
    drop(shared.exec_gate.exclusive());
    // Only expiry and eviction still change these keys now; a key they touch while it is
    // being sent (in pieces) is sent again.
    for _ in 0..4 {
        let changed = tap.take(batch);
        if changed.is_empty() {
            break;
        }
        for key in changed {
            send_key(shared, &mut link, &key, false).await?;
        }
    }
    send(shared, &mut link, false).await?;
    link.sync().await?;
    // Measured on this machine: the commit takes 3-17 ms (a Raft round trip through the
    // leader), the target applies it 0-6 ms later; what comes before, well under 0.1 ms.
    let switched = commit(c, to, batch).await;
    if let Some(&first) = switched.first() {
        wait_until_served(&mut link, first).await;
    }
    drop(switch);
    progress.record_pause(paused.elapsed().as_micros() as u64);
    add(&progress.slots_moved, switched.len());
    add(&progress.batches, 1);
    tracing::debug!(
        slots = switched.len(),
        paused_us = paused.elapsed().as_micros() as u64,
        "slots moved"
    );
    Ok(())
}

/// Sends what is queued, counting it and (when `limited`) keeping to
/// `--migration-max-bandwidth`: the copy is limited, the switch (slots paused) is not.
async fn send(shared: &Shared, link: &mut Link, limited: bool) -> Result<(), String> {
    let sent = link.flush().await?;
    add(&shared.migrations.progress.bytes_sent, sent);
    if let Some(limit) = shared.migrations.limit.as_ref().filter(|_| limited) {
        let wait = limit.take(sent);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    Ok(())
}

fn add(counter: &std::sync::atomic::AtomicU64, n: usize) {
    counter.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

/// What a key is at the moment it is read for sending.
enum Found {
    /// Its DUMP payload and absolute expiry (0: none).
    Whole(Vec<u8>, u64),
    /// A big collection: sent in pieces ([`super::pieces`]).
    Big(super::pieces::Kind, usize, u64),
    Gone,
}

/// Queues `key` as it is now: its DUMP payload and absolute expiry (a big collection: in
/// pieces), or its deletion; sends when enough is queued (within the bandwidth limit when
/// `limited`) and keeps the pipeline bounded.
async fn send_key(
    shared: &Shared,
    link: &mut Link,
    key: &[u8],
    limited: bool,
) -> Result<(), String> {
    let now = crate::unix_ms();
    let ks = &shared.keyspace;
    let h = ks.hash(key);
    let found = {
        let mut shard = ks.lock(h);
        match shard.peek(h, key, now) {
            None => Found::Gone,
            Some(e) => {
                let at = e.expire_at().unwrap_or(0);
                match super::pieces::big(&e.value()) {
                    Some((kind, len)) => Found::Big(kind, len, at),
                    None => Found::Whole(
                        crate::rdbconv::with_view(e.value(), rdb::dump::encode_view),
                        at,
                    ),
                }
            }
        }
    };
    match found {
        Found::Whole(payload, at) => {
            let at = at.to_string();
            link.send(&[
                &b"RESTORE-ASKING"[..],
                key,
                at.as_bytes(),
                &payload,
                b"REPLACE",
                b"ABSTTL",
            ]);
        }
        Found::Big(kind, len, at) => {
            link.send(&[&b"ASKING"[..]]);
            link.send(&[&b"DEL"[..], key]);
            for from in (0..len).step_by(super::pieces::PIECE) {
                let piece = {
                    let mut shard = ks.lock(h);
                    shard
                        .peek(h, key, crate::unix_ms())
                        .and_then(|e| super::pieces::piece(key, &e.value(), kind, from))
                };
                // Changed under us: the seam marked it; it is sent again later.
                let Some(argv) = piece else { break };
                link.send(&[&b"ASKING"[..]]);
                let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                link.send(&args);
                if link.queued() >= SEND_BYTES {
                    send(shared, link, limited).await?;
                    link.bound(IN_FLIGHT).await?;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            if at != 0 {
                let at = at.to_string();
                link.send(&[&b"ASKING"[..]]);
                link.send(&[&b"PEXPIREAT"[..], key, at.as_bytes()]);
            }
        }
        Found::Gone => {
            link.send(&[&b"ASKING"[..]]);
            link.send(&[&b"DEL"[..], key]);
        }
    }
    let progress = &shared.migrations.progress;
    add(&progress.keys_sent, 1);
    if link.queued() >= SEND_BYTES {
        send(shared, link, limited).await?;
        link.bound(IN_FLIGHT).await?;
    } else if link.sent().is_multiple_of(YIELD_EVERY) {
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Asks the cluster to switch `batch` to `to` until the log has decided (a commit whose
/// outcome is unknown is asked again: a second commit of a switched slot is a no-op), then
/// waits until this node's view shows the decision. Answers the slots that switched (the
/// others were cancelled meanwhile and are served here again).
async fn commit(c: &ClusterState, to: ShardId, batch: &[u16]) -> Vec<u16> {
    let decided = |c: &ClusterState| {
        c.topology().is_some_and(|t| {
            batch
                .iter()
                .all(|&s| t.slots[s as usize] == Some(to) || t.moving_to(s) != Some(to))
        })
    };
    if let Some(control) = c.control() {
        let mut delay = Duration::from_millis(50);
        loop {
            match control
                .slots(SlotChange::Commit {
                    slots: batch.to_vec(),
                    to,
                })
                .await
            {
                Ok(()) => break,
                Err(e) if e.contains("moving there any more") => break,
                Err(e) => {
                    if decided(c) {
                        break;
                    }
                    tracing::warn!(error = %e, "slot switch not confirmed; asking again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
    while !decided(c) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t = c.topology().expect("decided on a topology");
    batch
        .iter()
        .copied()
        .filter(|&s| t.slots[s as usize] == Some(to))
        .collect()
}

/// Waits (up to 2 s) until the target serves `slot`, so that clients this node now sends
/// there (MOVED) are not sent back: the target applies the switch a moment after the leader.
async fn wait_until_served(link: &mut Link, slot: u16) {
    let key = key_in_slot(slot);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        link.send(&[&b"EXISTS"[..], key.as_bytes()]);
        match link.sync().await {
            Ok(()) => return,
            Err(e) if e.starts_with("MOVED") || e.starts_with("TRYAGAIN") => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(_) => return,
        }
    }
}

/// A key that hashes to `slot` (`{n}` for some number n).
fn key_in_slot(slot: u16) -> &'static str {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut keys = vec![String::new(); SLOTS as usize];
        let mut left = SLOTS as usize;
        let mut n = 0u64;
        while left > 0 {
            let key = format!("{{{n}}}");
            let s = key_slot(key.as_bytes()) as usize;
            if keys[s].is_empty() {
                keys[s] = key;
                left -= 1;
            }
            n += 1;
        }
        keys
    });
    &keys[slot as usize]
}
