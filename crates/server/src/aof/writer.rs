//! Writing the append-only file: the file follows the replication stream
//! (`replication::log`, the node's one record of every change, as the commands that make
//! it) from a position of its own. Whoever finishes a batch of commands writes what the
//! stream holds beyond that position before its replies leave ([`before_reply`]) — one
//! `write(2)` for everything every connection appended meanwhile, as Redis writes its AOF
//! buffer once per event-loop turn before replying — so a process crash never loses an
//! acknowledged write. Under `always` the same call fsyncs; under `everysec` a thread of
//! its own fsyncs once a second ([`spawn_fsync_thread`]).
//!
//! Invariants:
//! - The file receives the stream's bytes in order, each once, leaving out only control
//!   commands (PING, REPLCONF GETACK) — so loading it replays exactly the changes.
//! - A rewrite's cut is a stream offset ([`switch`]): bytes before it go to the old INCR
//!   file, bytes from it to the new one; the new BASE holds exactly the data at the cut.
//! - `synced` only grows: the stream offset whose bytes are written; `fsynced` likewise,
//!   for the bytes on disk (`fsynced <= synced`).
//! - Nothing holding the file's lock waits for the EXEC gate (a rewrite's cut takes the
//!   file's lock while it holds the gate).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::replication::log::{AofRead, SELECT_0};
use crate::Shared;

use super::Fsync;

/// The file being appended to, behind the [`super::Aof`]'s lock.
#[derive(Default)]
pub struct Target {
    /// `None` while there is no file to append to (the file was switched on and waits for
    /// its first rewrite, or a full resync replaced the data): bytes are passed over.
    file: Option<Arc<File>>,
    /// The next bytes start a file: they are preceded by `SELECT 0`, as Redis starts each
    /// INCR file with the database it writes to.
    fresh: bool,
    /// Bytes read from the stream that a failed write left to try again.
    pending: Vec<u8>,
    /// Written since the last fsync.
    unsynced: bool,
    /// When a failed write was last tried.
    failed_at: Option<Instant>,
    /// Bytes in the file (a failed write is cut back to them).
    len: u64,
    /// The last `#TS:` annotation's second.
    last_timestamp: u64,
    buf: Vec<u8>,
}

impl Target {
    pub fn new(file: Option<File>) -> Target {
        Target {
            fresh: file.is_some(),
            len: file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(0, |m| m.len()),
            file: file.map(Arc::new),
            ..Target::default()
        }
    }
}

/// Before a batch's replies leave: the file holds everything the stream holds now (and,
/// under `appendfsync always`, has it on disk). When there is something to write, the
/// connection first lets every other ready connection of its worker run (they write too),
/// then one `write(2)` (and one fsync) covers them all — unless one of them did it already:
/// Redis's one write and fsync per event-loop turn, without a thread hand-off.
pub async fn before_reply(shared: &Shared) {
    let aof = &shared.aof;
    if !aof.enabled() {
        return;
    }
    let end = shared.repl_log.offset();
    let always = aof.fsync() == Fsync::Always;
    let done = |aof: &super::Aof| {
        if always {
            aof.fsynced.load(Ordering::SeqCst) >= end
        } else {
            aof.synced.load(Ordering::SeqCst) >= end
        }
    };
    if done(aof) {
        return;
    }
    tokio::task::yield_now().await;
    if done(aof) {
        return;
    }
    let mut t = aof.target.lock();
    if done(aof) {
        return;
    }
    fill_and_write(shared, &mut t, u64::MAX);
    if always && t.pending.is_empty() {
        let covered = aof.synced.load(Ordering::SeqCst);
        sync(shared, &mut t);
        aof.fsynced.fetch_max(covered, Ordering::SeqCst);
    }
}

/// Writes what the stream holds beyond the file's position (from outside any batch of
/// commands: the fsync thread, DEBUG LOADAOF). Cheap when there is nothing: one look at
/// the stream under its lock.
pub fn write_out(shared: &Shared) {
    let aof = &shared.aof;
    if !aof.enabled() {
        return;
    }
    let mut t = aof.target.lock();
    fill_and_write(shared, &mut t, u64::MAX);
}

/// Reads the stream up to `limit` into the file.
fn fill_and_write(shared: &Shared, t: &mut Target, limit: u64) {
    let aof = &shared.aof;
    let mut buf = std::mem::take(&mut t.buf);
    loop {
        buf.clear();
        match shared.repl_log.aof_read(limit, 4 << 20, &mut buf) {
            AofRead::Detached => break,
            AofRead::Reset(at) => {
                // The data was replaced (a full resync from a primary): what comes next
                // makes sense only over a new base, so nothing is appended until a rewrite
                // cuts one (Redis stops its file and starts it again after the load).
                tracing::warn!("the data was replaced by a full resync: the append-only file waits for its rewrite");
                if let Some(f) = t.file.take() {
                    let _ = f.sync_data();
                }
                t.pending.clear();
                aof.synced.fetch_max(at, Ordering::SeqCst);
                super::rewrite::request(&shared.arc());
            }
            AofRead::At(to) => {
                let more = buf.len() >= 4 << 20;
                if t.file.is_some() {
                    t.pending.extend_from_slice(&buf);
                    write_pending(shared, t);
                }
                if t.pending.is_empty() {
                    aof.synced.fetch_max(to, Ordering::SeqCst);
                }
                if !more {
                    break;
                }
            }
        }
    }
    if buf.capacity() <= 1 << 20 {
        t.buf = buf;
    }
}

/// Appends what is pending; on failure keeps it to try again (a second later), refuses
/// writes meanwhile (`-MISCONF`), and under `always` stops the node, as Redis does: a
/// write that was not made durable must not be acknowledged.
fn write_pending(shared: &Shared, t: &mut Target) {
    let aof = &shared.aof;
    let Some(file) = t.file.clone() else {
        t.pending.clear();
        return;
    };
    if t.pending.is_empty()
        || t.failed_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
    {
        return;
    }
    let chunk = std::mem::take(&mut t.pending);
    // What goes before the chunk: a `#TS:<unix seconds>` annotation when the second changed
    // (`aof-timestamp-enabled yes`, Redis's format, which loaders pass over), then `SELECT 0`
    // at the start of a file.
    let mut head = Vec::new();
    if aof.timestamps.load(Ordering::Relaxed) {
        let now = crate::unix_ms() / 1000;
        if now > t.last_timestamp {
            t.last_timestamp = now;
            head.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
        }
    }
    if t.fresh && !chunk.starts_with(SELECT_0) {
        head.extend_from_slice(SELECT_0);
    }
    let prefix = head.len();
    let mut out = if head.is_empty() {
        chunk
    } else {
        head.extend_from_slice(&chunk);
        head
    };
    match (&*file).write_all(&out) {
        Ok(()) => {
            t.fresh = false;
            t.unsynced = true;
            t.len += out.len() as u64;
            aof.current_size
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            if t.failed_at.take().is_some() {
                *aof.write_error.lock() = None;
                tracing::warn!("AOF write error looks solved, Redis can write again.");
            }
        }
        Err(e) => {
            // A partial write is cut off, so the file never ends in half a command.
            let _ = file.set_len(t.len);
            tracing::warn!(error = %e, "Error writing to the AOF file");
            if aof.fsync() == Fsync::Always {
                tracing::error!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
            // strerror's text, as Redis's message carries.
            let text = e.to_string();
            let why = text.split(" (os error").next().unwrap_or(&text).to_string();
            *aof.write_error.lock() = Some(why);
            t.failed_at = Some(Instant::now());
            t.last_timestamp = 0;
            t.pending = out.split_off(prefix);
        }
    }
}

fn sync(shared: &Shared, t: &mut Target) {
    if !t.unsynced {
        return;
    }
    if let Some(f) = &t.file {
        if let Err(e) = f.sync_data() {
            if shared.aof.fsync() == Fsync::Always {
                tracing::error!(error = %e, "Can't persist AOF for fsync error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
            tracing::warn!(error = %e, "fsync of the AOF file failed");
        }
    }
    t.unsynced = false;
}

/// A rewrite's cut (called at the snapshot's instant, no command running): the stream up
/// to now goes to the current INCR file, which is fsynced; from now on `file` receives it.
pub fn switch(shared: &Shared, file: File) {
    let at = shared.repl_log.offset();
    let mut t = shared.aof.target.lock();
    fill_and_write(shared, &mut t, at);
    sync(shared, &mut t);
    let aof = &shared.aof;
    if t.pending.is_empty() {
        aof.fsynced.fetch_max(at, Ordering::SeqCst);
    }
    if !t.pending.is_empty() {
        // The old file could not take its last bytes: they go to the new one, still before
        // anything after the cut.
        tracing::warn!("the previous INCR file's last bytes go to the new one");
    }
    t.file = Some(Arc::new(file));
    t.fresh = true;
    t.failed_at = None;
    t.len = 0;
    t.last_timestamp = 0;
}

/// The file ends: everything so far written and fsynced, then closed.
pub fn stop(shared: &Shared) {
    let aof = &shared.aof;
    let mut t = aof.target.lock();
    fill_and_write(shared, &mut t, u64::MAX);
    sync(shared, &mut t);
    if let Some(f) = t.file.take() {
        let _ = f.sync_all();
    }
    *t = Target::default();
    aof.fsynced
        .fetch_max(aof.synced.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// Starts the file: appending to `file` from the stream's current end.
pub fn start(shared: &Shared, file: Option<File>) {
    let mut t = shared.aof.target.lock();
    *t = Target::new(file);
    let at = shared.repl_log.aof_attach();
    shared.aof.synced.store(at, Ordering::SeqCst);
    shared.aof.fsynced.store(at, Ordering::SeqCst);
}

/// The fsync thread: under `everysec`, an fsync once a second when the file was written
/// (on a handle to the file, outside its lock, so writers never wait for the disk). Every 100 ms it also writes what changed outside any batch of commands (expiry,
/// a replica's stream).
pub fn spawn_fsync_thread(shared: &Arc<Shared>) -> std::io::Result<()> {
    let weak = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name("aof-fsync".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let aof = &shared.aof;
            if shared.shutdown.is_cancelled() && !aof.enabled() {
                return;
            }
            if !aof.enabled() {
                continue;
            }
            // `always`: what the connections fsync before replying; what changed outside
            // them (expiry, a replica's stream) is fsynced here.
            write_out(&shared);
            let due = aof.fsync() == Fsync::Always
                || aof.fsync() == Fsync::EverySec
                    && aof
                        .last_fsync
                        .lock()
                        .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
            if !due {
                continue;
            }
            let (file, upto) = {
                let mut t = aof.target.lock();
                if !t.unsynced {
                    continue;
                }
                t.unsynced = false;
                (t.file.clone(), aof.synced.load(Ordering::SeqCst))
            };
            *aof.last_fsync.lock() = Some(Instant::now());
            if let Some(f) = file {
                if let Err(e) = f.sync_data() {
                    if aof.fsync() == Fsync::Always {
                        tracing::error!(error = %e, "Can't persist AOF for fsync error when the AOF fsync policy is 'always'. Exiting...");
                        std::process::exit(1);
                    }
                    tracing::warn!(error = %e, "fsync of the AOF file failed");
                    continue;
                }
            }
            aof.fsynced.fetch_max(upto, Ordering::SeqCst);
        })
        .map(drop)
}
