//! Rewriting the append-only file (BGREWRITEAOF; the first switch-on; the automatic
//! rewrite; after a full resync replaced the data): a new BASE holding the data at one
//! instant, and a new INCR file for the changes from that instant, then the older files
//! retired. On a thread of its own; commands go on meanwhile.
//!
//! Order of steps, so that a crash at any point leaves a manifest whose files load to a
//! consistent dataset (Redis 7's order): (1) the new INCR file is created and, when the
//! file is on, listed in the manifest — old BASE + old INCRs + the new INCR is still the
//! data; (2) the snapshot is cut at a stream offset at which the writer switches to the new
//! INCR file; (3) the new BASE is written to a temp file, fsynced and renamed into place;
//! (4) the manifest names the new BASE and the INCR files from the cut on, and the older
//! files become history, deleted at once (unless `aof-disable-auto-gc yes`).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::error::CmdError;
use crate::Shared;

use super::manifest::Manifest;
use super::{dir, filename, persist_manifest, writer, OFF, ON, WAIT_REWRITE};

/// BGREWRITEAOF: Redis's replies.
pub fn bgrewriteaof(shared: &Arc<Shared>, in_exec: bool) -> Result<&'static str, CmdError> {
    let aof = &shared.aof;
    if aof.rewrite_running.load(Ordering::SeqCst) && !aof.rewrite_scheduled.load(Ordering::SeqCst) {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    if in_exec || shared.persistence.in_progress.load(Ordering::SeqCst) {
        // A snapshot is being saved (or a transaction runs): the rewrite starts when it is
        // done (Redis waits for its child process, or the end of EXEC, the same way).
        aof.rewrite_scheduled.store(true, Ordering::SeqCst);
        spawn(shared);
        return Ok("Background append only file rewriting scheduled");
    }
    if !spawn(shared) {
        return Err(CmdError::err(
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        ));
    }
    Ok("Background append only file rewriting started")
}

/// Starts a rewrite, or has the running one followed by another.
pub fn request(shared: &Arc<Shared>) {
    let aof = &shared.aof;
    if aof.rewrite_running.load(Ordering::SeqCst) {
        aof.rewrite_scheduled.store(true, Ordering::SeqCst);
        return;
    }
    spawn(shared);
}

/// The rewrite thread: runs rewrites while one is scheduled (one thread at a time: whoever
/// sets `rewrite_running` runs it). False when no thread could be started.
fn spawn(shared: &Arc<Shared>) -> bool {
    let aof = &shared.aof;
    if aof.rewrite_running.swap(true, Ordering::SeqCst) {
        aof.rewrite_scheduled.store(true, Ordering::SeqCst);
        return true;
    }
    let s = shared.clone();
    let started = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || {
            let aof = &s.aof;
            loop {
                // A snapshot being saved goes first (BGREWRITEAOF answered "scheduled").
                while s.persistence.in_progress.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                aof.rewrite_scheduled.store(false, Ordering::SeqCst);
                let began = Instant::now();
                *aof.rewrite_started.lock() = Some(began);
                let outcome = rewrite_once(&s);
                aof.last_rewrite_secs
                    .store(began.elapsed().as_secs() as i64, Ordering::Relaxed);
                match outcome {
                    Ok(()) => {
                        aof.rewrites.fetch_add(1, Ordering::Relaxed);
                        aof.rewrite_failures.store(0, Ordering::Relaxed);
                        aof.last_rewrite_failed.store(false, Ordering::Relaxed);
                        tracing::info!("Background AOF rewrite finished successfully");
                    }
                    Err(e) => {
                        aof.rewrite_failures.fetch_add(1, Ordering::Relaxed);
                        aof.last_rewrite_failed.store(true, Ordering::Relaxed);
                        tracing::warn!(error = %e, "Background AOF rewrite failed");
                        if aof.state.load(Ordering::SeqCst) == WAIT_REWRITE {
                            // As Redis's: the file stays off when its first rewrite fails.
                            super::turn_off(&s);
                        }
                    }
                }
                if !aof.rewrite_scheduled.load(Ordering::SeqCst) {
                    break;
                }
            }
            *aof.rewrite_started.lock() = None;
            aof.rewrite_running.store(false, Ordering::SeqCst);
            // A request that came after the last check runs now.
            if aof.rewrite_scheduled.load(Ordering::SeqCst) {
                spawn(&s);
            }
        })
        .is_ok();
    if !started {
        aof.rewrite_running.store(false, Ordering::SeqCst);
        aof.rewrite_scheduled.store(false, Ordering::SeqCst);
    }
    started
}

/// One rewrite (see the module's order of steps).
fn rewrite_once(shared: &Arc<Shared>) -> Result<(), String> {
    let aof = &shared.aof;
    let dir = super::create_dir(shared)?;
    let name = filename(shared);
    let state = aof.state.load(Ordering::SeqCst);
    let mut m = aof.manifest();
    // (1) The INCR file the changes from the cut go to.
    let next_incr = if state == OFF {
        None
    } else {
        let incr = m.new_incr(&name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(dir.join(&incr))
            .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
        if state == ON {
            persist_manifest(shared, &m).map_err(|e| format!("writing the manifest: {e}"))?;
            aof.set_manifest(m.clone());
        }
        tracing::info!(file = %incr, "Creating AOF incr file on background rewrite");
        Some((m.incr_seq, file))
    };
    // (2) + (3) The snapshot, cut where the writer switches files.
    let keep_from = next_incr.as_ref().map(|(seq, _)| *seq);
    let switch = next_incr.map(|(_, file)| move || writer::switch(shared, file));
    write_base(shared, &mut m, switch)?;
    // (4) The new BASE and the INCR files from the cut are the data; the rest is history.
    m.retire_incr_before(keep_from);
    if aof.state.load(Ordering::SeqCst) == OFF && state != OFF {
        // Switched off meanwhile: none of the INCR files is being written.
        m.retire_incr_before(None);
    }
    persist_manifest(shared, &m).map_err(|e| format!("writing the manifest: {e}"))?;
    delete_history(shared, &mut m);
    super::measure(shared, &m);
    aof.set_manifest(m);
    if aof
        .state
        .compare_exchange(WAIT_REWRITE, ON, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        tracing::info!("AOF rewrite done: the append-only file is on");
    }
    Ok(())
}

/// Removes the history files and the manifest's note of them (kept with
/// `aof-disable-auto-gc yes`).
fn delete_history(shared: &Shared, m: &mut Manifest) {
    if super::tunable(shared, "aof-disable-auto-gc") == "yes" || m.history.is_empty() {
        return;
    }
    let dir = dir(shared);
    for f in m.history.drain(..) {
        tracing::info!(file = %f.name, "Removing the history file");
        let _ = std::fs::remove_file(dir.join(&f.name));
    }
    if let Err(e) = persist_manifest(shared, m) {
        tracing::warn!(error = %e, "writing the manifest after removing history files");
    }
}

/// Writes a new BASE file holding the data at one instant (`at_cut` runs at that instant)
/// and names it in `m` (the previous base becomes history). RDB when
/// `aof-use-rdb-preamble yes` (Redis's default), else the commands that rebuild the data.
pub fn write_base(
    shared: &Shared,
    m: &mut Manifest,
    at_cut: Option<impl FnOnce()>,
) -> Result<(), String> {
    let dir = dir(shared);
    let rdb = super::tunable(shared, "aof-use-rdb-preamble") != "no";
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let result = (|| -> Result<u64, String> {
        let file = std::fs::File::create(&temp)
            .map_err(|e| format!("Opening the temp file for AOF rewrite: {e}"))?;
        if rdb {
            crate::persist::snapshot_to(shared, BufWriter::with_capacity(1 << 20, &file), || {
                if let Some(f) = at_cut {
                    f()
                }
            })?;
        } else {
            let snapshot = dir.join(format!("temp-rewriteaof-{}.rdb", std::process::id()));
            let taken = std::fs::File::create(&snapshot)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    crate::persist::snapshot_to(
                        shared,
                        BufWriter::with_capacity(1 << 20, f),
                        || {
                            if let Some(f) = at_cut {
                                f()
                            }
                        },
                    )
                });
            let converted = taken.and_then(|_| {
                let mut out = BufWriter::with_capacity(1 << 20, &file);
                rdb_to_commands(&snapshot, &mut out)?;
                out.flush().map_err(|e| e.to_string())
            });
            let _ = std::fs::remove_file(&snapshot);
            converted?;
        }
        file.sync_all().map_err(|e| e.to_string())?;
        Ok(file.metadata().map_or(0, |m| m.len()))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let base = m.new_base(&filename(shared), rdb);
    std::fs::rename(&temp, dir.join(&base)).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("Error trying to rename the temporary AOF file into {base}: {e}")
    })?;
    super::sync_dir(&dir);
    Ok(())
}

/// Commands Redis's rewrite puts at most this many items in (`AOF_REWRITE_ITEMS_PER_CMD`).
const ITEMS_PER_COMMAND: usize = 64;

/// The commands that rebuild an RDB file's data, as Redis's `rewriteAppendOnlyFileRio`
/// writes them: FUNCTION LOAD per library, SELECT 0, then per key SET / RPUSH / SADD /
/// ZADD / HMSET (64 items a command) and PEXPIREAT.
pub fn rdb_to_commands(rdb_path: &Path, out: &mut impl Write) -> Result<(), String> {
    use crate::replication::log::encode;
    let file = std::fs::File::open(rdb_path).map_err(|e| e.to_string())?;
    let reader = rdb::read::Reader::new(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut selected = false;
    for item in reader {
        let item = item.map_err(|e| e.to_string())?;
        let e = match item {
            rdb::read::Item::Function(code) => {
                encode(&[b"FUNCTION", b"LOAD", &code], &mut buf);
                continue;
            }
            rdb::read::Item::Entry(e) if e.db == 0 => e,
            _ => continue,
        };
        if !selected {
            encode(&[b"SELECT", b"0"], &mut buf);
            selected = true;
        }
        let key = e.key.as_slice();
        match &e.value {
            rdb::Value::String(v) => encode(&[b"SET", key, v], &mut buf),
            rdb::Value::List(items) => batched(b"RPUSH", key, items.iter(), &mut buf),
            rdb::Value::Set(items) => batched(b"SADD", key, items.iter(), &mut buf),
            rdb::Value::SortedSet(pairs) => {
                let all: Vec<(String, &[u8])> = pairs
                    .iter()
                    .map(|(m, s)| (resp::reply::format_double(s), m))
                    .collect();
                for chunk in all.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"ZADD", key];
                    for (score, member) in chunk {
                        args.push(score.as_bytes());
                        args.push(member);
                    }
                    encode(&args, &mut buf);
                }
            }
            rdb::Value::Stream(v) => {
                let stream = crate::rdbconv::stream_from_rdb((**v).clone())
                    .ok_or_else(|| "a stream in the snapshot is corrupt".to_string())?;
                for args in stream_commands(key, &stream) {
                    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                    encode(&refs, &mut buf);
                }
            }
            rdb::Value::Hash(pairs) => {
                let all: Vec<(&[u8], &[u8])> = pairs.iter().collect();
                for chunk in all.chunks(ITEMS_PER_COMMAND) {
                    let mut args: Vec<&[u8]> = vec![b"HMSET", key];
                    for (f, v) in chunk {
                        args.push(f);
                        args.push(v);
                    }
                    encode(&args, &mut buf);
                }
            }
        }
        if let Some(at) = e.expire_ms {
            encode(&[b"PEXPIREAT", key, at.to_string().as_bytes()], &mut buf);
        }
        if buf.len() >= 1 << 16 {
            out.write_all(&buf).map_err(|e| e.to_string())?;
            buf.clear();
        }
    }
    out.write_all(&buf).map_err(|e| e.to_string())
}

/// The commands that rebuild a stream (Redis's `rewriteStreamObject`): XADD per entry (an
/// empty stream is created by an XADD trimmed to nothing), XSETID with its counters, per
/// group XGROUP CREATE ... ENTRIESREAD, and per pending entry an XCLAIM ... FORCE (per
/// consumer without any, XGROUP CREATECONSUMER).
pub fn stream_commands(key: &[u8], s: &store::Stream) -> Vec<Vec<Vec<u8>>> {
    let k = || key.to_vec();
    let b = |x: &str| x.as_bytes().to_vec();
    let mut out = Vec::new();
    if s.is_empty() {
        out.push(vec![
            b("XADD"),
            k(),
            b("MAXLEN"),
            b("0"),
            b("0-1"),
            b("x"),
            b("y"),
        ]);
    } else {
        s.visit(store::StreamId::MIN, store::StreamId::MAX, false, |it| {
            let mut args = vec![b("XADD"), k(), it.id.text().into_bytes()];
            args.extend(it.pairs().map(|p| p.to_vec()));
            out.push(args);
            true
        });
    }
    out.push(vec![
        b("XSETID"),
        k(),
        s.last_id.text().into_bytes(),
        b("ENTRIESADDED"),
        s.entries_added.to_string().into_bytes(),
        b("MAXDELETEDID"),
        s.max_deleted.text().into_bytes(),
    ]);
    for (name, g) in &s.groups {
        out.push(vec![
            b("XGROUP"),
            b("CREATE"),
            k(),
            name.to_vec(),
            g.last_id.text().into_bytes(),
            b("ENTRIESREAD"),
            g.entries_read.to_string().into_bytes(),
        ]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                out.push(vec![
                    b("XGROUP"),
                    b("CREATECONSUMER"),
                    k(),
                    name.to_vec(),
                    cname.to_vec(),
                ]);
            }
            for id in &c.pel {
                let Some(nack) = g.pel.get(id) else { continue };
                out.push(vec![
                    b("XCLAIM"),
                    k(),
                    name.to_vec(),
                    cname.to_vec(),
                    b("0"),
                    id.text().into_bytes(),
                    b("TIME"),
                    nack.delivery_time.to_string().into_bytes(),
                    b("RETRYCOUNT"),
                    nack.delivery_count.to_string().into_bytes(),
                    b("JUSTID"),
                    b("FORCE"),
                ]);
            }
        }
    }
    out
}

fn batched<'a>(
    command: &[u8],
    key: &[u8],
    items: impl Iterator<Item = &'a [u8]>,
    buf: &mut Vec<u8>,
) {
    let all: Vec<&[u8]> = items.collect();
    for chunk in all.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![command, key];
        args.extend_from_slice(chunk);
        encode_into(&args, buf);
    }
}

fn encode_into(args: &[&[u8]], buf: &mut Vec<u8>) {
    crate::replication::log::encode(args, buf);
}
