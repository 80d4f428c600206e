//! Snapshots to disk (SAVE, BGSAVE, LASTSAVE) and loading one at start, in Redis's RDB
//! format (`crates/rdb`), so a node restarts with its data and a Redis can load our file.
//!
//! # Point-in-time without fork
//! A save takes the node's exclusive EXEC gate for an instant (no batch of commands, so no
//! transaction, is half done), starts a keyspace snapshot (`Keyspace::begin_snapshot`) and
//! lets go: writes continue at once. Each shard is then encoded exactly as it was at that
//! instant — by the saver sweeping the shards, or earlier by the first command that locks a
//! shard not yet encoded (that command pays for encoding 1/256 of the keyspace once). The
//! encoded shards are written out as they come, so extra memory is the encoded shards
//! waiting for the disk, not a copy of the dataset.
//!
//! # Durability of the file
//! The snapshot is written to `temp-<pid>-<n>.rdb` in the same directory, fsynced, renamed
//! over `dbfilename` and the directory fsynced: a crash mid-save leaves the previous file
//! whole. A failed save (disk full, unwritable directory) removes the temp file, leaves the
//! previous file alone and is reported in INFO (`rdb_last_bgsave_status:err`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use store::{Shard, ShardVisitor};

use crate::Shared;

/// Persistence state shown by INFO persistence and changed by CONFIG SET dir/dbfilename.
pub struct Persistence {
    /// Unix seconds of the last successful save (LASTSAVE); start time before any.
    pub last_save: AtomicU64,
    pub in_progress: AtomicBool,
    pub last_ok: AtomicBool,
    /// Seconds the last save took (-1 before any).
    pub last_duration: AtomicI64,
    /// Write commands since the last successful save.
    pub changes: AtomicU64,
    /// Unix seconds of the last automatic save attempt.
    pub last_try: AtomicU64,
    /// The snapshot is being loaded: commands without Redis's `loading` flag get -LOADING.
    pub loading: AtomicBool,
    /// Keys of the last load: loaded, and skipped as expired.
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
    /// Successful saves (INFO `rdb_saves`).
    saves: AtomicU64,
    /// Saves started, naming their temp files apart.
    attempts: AtomicU64,
    /// Held while a snapshot is taken: one at a time (a save, a replica's sync, an
    /// append-only file's rewrite).
    snapshot: parking_lot::Mutex<()>,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence::new()
    }
}

impl Persistence {
    pub fn new() -> Persistence {
        Persistence {
            last_save: AtomicU64::new(crate::unix_ms() / 1000),
            in_progress: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_duration: AtomicI64::new(-1),
            changes: AtomicU64::new(0),
            last_try: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            snapshot: parking_lot::Mutex::new(()),
        }
    }

    /// `dir/dbfilename` as configured now.
    pub fn path(live: &crate::config::Live) -> PathBuf {
        Path::new(&*live.dir.read()).join(&*live.dbfilename.read())
    }
}

/// The RDB aux field holding the cluster epoch a cluster node's snapshot was taken at
/// (Redis skips aux fields it does not know).
const CLUSTER_EPOCH_AUX: &str = "shardcache-cluster-epoch";
/// The aux field naming the cluster node that wrote the snapshot.
const NODE_ID_AUX: &str = "shardcache-node-id";

/// Encodes each shard it is handed and passes the bytes to the saver.
struct Encoder {
    /// Encoded entries, with how many keys they hold.
    tx: std::sync::Mutex<mpsc::Sender<(Vec<u8>, u64)>>,
    now: u64,
    /// In cluster mode, the slots this node owned when the snapshot began: keys of other
    /// slots (lost, not dropped yet) are not saved, so they cannot come back at a restart.
    owned: Option<Vec<bool>>,
}

impl ShardVisitor for Encoder {
    fn visit(&self, index: usize, shard: &Shard) {
        let mut out = Vec::new();
        let mut keys = 0;
        for (within, e) in shard.iter_with_slot() {
            if e.is_expired(self.now) {
                continue;
            }
            if let Some(owned) = &self.owned {
                if !owned[index | within << 8] {
                    continue;
                }
            }
            crate::rdbconv::with_view(e.value(), |view| {
                rdb::write::encode_view_entry(e.key(), view, e.expire_at(), &mut out)
            });
            keys += 1;
        }
        if !out.is_empty() {
            let _ = self.tx.lock().expect("encoder channel").send((out, keys));
        }
    }
}

/// What a save wrote.
#[derive(Debug)]
pub struct Saved {
    pub bytes: u64,
    pub seconds: f64,
}

/// Saves a point-in-time snapshot to `dir/dbfilename` (blocking the calling thread, not the
/// node). Refused while another save runs.
pub fn save(shared: &Shared) -> Result<Saved, String> {
    if shared.persistence.in_progress.swap(true, Ordering::SeqCst) {
        return Err("Background save already in progress".into());
    }
    save_claimed(shared)
}

/// [`save`] for a caller that has already set `in_progress` (BGSAVE does before its thread
/// starts, so `rdb_bgsave_in_progress` is 1 from its reply on, as with Redis's fork: a
/// client that waits for it to drop to 0 never sees the save not yet begun). Clears it.
pub fn save_claimed(shared: &Shared) -> Result<Saved, String> {
    let started = Instant::now();
    // Writes counted until now are in this snapshot; those counted meanwhile are not.
    let unsaved = shared.persistence.changes.load(Ordering::Relaxed);
    let result = save_inner(shared);
    let p = &shared.persistence;
    p.last_duration
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    p.last_ok.store(result.is_ok(), Ordering::Relaxed);
    if result.is_ok() {
        p.last_save
            .store(crate::unix_ms() / 1000, Ordering::Relaxed);
        p.saves.fetch_add(1, Ordering::Relaxed);
        let now = p.changes.load(Ordering::Relaxed);
        p.changes.fetch_sub(unsaved.min(now), Ordering::Relaxed);
    }
    p.in_progress.store(false, Ordering::SeqCst);
    match &result {
        Ok(s) => tracing::info!(bytes = s.bytes, seconds = s.seconds, "DB saved on disk"),
        Err(e) => tracing::warn!(error = %e, "save failed"),
    }
    result
}

fn save_inner(shared: &Shared) -> Result<Saved, String> {
    let started = Instant::now();
    let path = Persistence::path(&shared.live);
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let n = shared.persistence.attempts.fetch_add(1, Ordering::Relaxed);
    // Unique in the process too (several nodes of one process may share a directory).
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let unique = SAVES.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("temp-{}-{n}-{unique}.rdb", std::process::id()));
    let file = std::fs::File::create(&temp).map_err(|e| {
        format!(
            "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
            temp.display(),
            dir.display()
        )
    })?;
    let written = write_snapshot(
        shared,
        std::io::BufWriter::with_capacity(1 << 20, file),
        || {},
    )
    .and_then(|(out, bytes)| {
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&temp, &path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(bytes)
    });
    match written {
        Ok(bytes) => Ok(Saved {
            bytes,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(format!("Write error saving DB on disk: {e}"))
        }
    }
}

/// Takes the snapshot and streams it through `out`; answers `out` and the bytes written.
fn write_snapshot<W: std::io::Write>(
    shared: &Shared,
    out: W,
    at_cut: impl FnOnce(),
) -> std::io::Result<(W, u64)> {
    let _one_at_a_time = shared.persistence.snapshot.lock();
    let now = crate::unix_ms();
    let ctime = (now / 1000).to_string();
    // A quiescent instant: no batch of commands (so no EXEC) is running anywhere, and the
    // topology read here is the one the snapshot's keys belong to.
    let all = shared.exec_gate.exclusive();
    let topology = shared
        .cluster
        .as_ref()
        .map(|c| (c.myid.clone(), c.topology()));
    let epoch = topology
        .as_ref()
        .map(|(_, t)| t.as_ref().map_or(0, |t| t.epoch).to_string());
    let owned = topology.map(|(me, t)| {
        (0..placement::slot::SLOTS)
            .map(|s| {
                t.as_ref()
                    .and_then(|t| t.owner(s))
                    .is_some_and(|n| n.id == me)
            })
            .collect::<Vec<bool>>()
    });
    let mut aux = vec![
        ("redis-ver", shared.live.compat_version.as_str()),
        ("redis-bits", "64"),
        ("ctime", ctime.as_str()),
        ("aof-base", "0"),
    ];
    if let (Some(epoch), Some(c)) = (&epoch, &shared.cluster) {
        aux.push((CLUSTER_EPOCH_AUX, epoch.as_str()));
        aux.push((NODE_ID_AUX, c.myid.as_str()));
    }
    let mut w = rdb::write::Writer::new(out, &aux)?;
    for code in shared.function_codes.codes() {
        w.function(&code)?;
    }
    let (keys, expires) = shared.keyspace.counts();
    w.select_db(0, keys as u64, expires as u64)?;
    let key_delay = KeySaveDelay::configured(shared);
    let (tx, rx) = mpsc::channel();
    let encoder = Arc::new(Encoder {
        tx: std::sync::Mutex::new(tx),
        now,
        owned,
    });
    shared
        .keyspace
        .begin_snapshot(encoder.clone())
        .map_err(std::io::Error::other)?;
    // Still quiescent: what the caller ties to this instant (a replication offset).
    at_cut();
    drop(all);
    // Sweepers encode the shards no command has yet (in parallel, one per core up to 4)
    // while this thread writes whatever is encoded, in whatever order it comes.
    let sweepers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut result = Ok(());
    std::thread::scope(|scope| {
        for t in 0..sweepers {
            let (ks, done) = (&shared.keyspace, &done);
            scope.spawn(move || {
                for i in (t..store::keyspace::SHARDS).step_by(sweepers) {
                    drop(ks.lock_index(i));
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(5)) {
                Ok((chunk, keys)) => {
                    if result.is_ok() {
                        result = w.encoded_entries(&chunk);
                        key_delay.wait(keys);
                    }
                }
                Err(_) if done.load(Ordering::SeqCst) == sweepers => break,
                Err(_) => {}
            }
        }
    });
    shared.keyspace.finish_snapshot();
    drop(encoder);
    while let Ok((chunk, keys)) = rx.try_recv() {
        if result.is_ok() {
            result = w.encoded_entries(&chunk);
            key_delay.wait(keys);
        }
    }
    result?;
    let (mut out, size) = w.finish()?;
    out.flush()?;
    Ok((out, size))
}

/// `rdb-key-save-delay` (a hidden Redis parameter its tests use to make a save last): per
/// key written, that many microseconds, or when negative a microsecond with a chance of one
/// in -N (Redis's `debugDelay`). Waited on the thread that writes the file, after a shard's
/// keys were encoded, so commands never wait for it.
struct KeySaveDelay(i64);

impl KeySaveDelay {
    fn configured(shared: &Shared) -> KeySaveDelay {
        let value = crate::tunables::find("rdb-key-save-delay")
            .and_then(|t| shared.live.tunables.get(t).parse().ok())
            .unwrap_or(0);
        KeySaveDelay(value)
    }

    fn wait(&self, keys: u64) {
        let micros = match self.0 {
            0 => return,
            d if d > 0 => (d as u64).saturating_mul(keys),
            d => keys / d.unsigned_abs(),
        };
        if micros > 0 {
            std::thread::sleep(std::time::Duration::from_micros(micros));
        }
    }
}

/// Writes a point-in-time snapshot to `path` for a replica's full resync; `at_cut` runs at
/// the snapshot's instant (no command running anywhere), to take the replication offset the
/// snapshot stands for. Waits for a save in progress to end first (one snapshot at a time).
pub fn snapshot_for_replica(
    shared: &Shared,
    path: &Path,
    at_cut: impl FnOnce(),
) -> Result<u64, String> {
    let file = std::fs::File::create(path).map_err(|e| {
        format!(
            "creating the snapshot for a replica at {}: {e}",
            path.display()
        )
    })?;
    snapshot_for_replica_to(
        shared,
        std::io::BufWriter::with_capacity(1 << 20, file),
        at_cut,
    )
    .map_err(|e| format!("{e} (writing to {})", path.display()))
}

/// [`snapshot_for_replica`] into any writer (a disk-less sync's socket feed); the bytes
/// written.
pub fn snapshot_for_replica_to(
    shared: &Shared,
    out: impl std::io::Write,
    at_cut: impl FnOnce(),
) -> Result<u64, String> {
    let p = &shared.persistence;
    while p.in_progress.swap(true, Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let result = write_snapshot(shared, out, at_cut)
        .map(|(_, bytes)| bytes)
        .map_err(|e| format!("writing the snapshot for a replica: {e}"));
    p.in_progress.store(false, Ordering::SeqCst);
    result
}

/// A point-in-time snapshot into `out` (an append-only file's base), `at_cut` run at its
/// instant; the bytes written. Waits for a snapshot being taken to end first.
pub fn snapshot_to(
    shared: &Shared,
    out: impl std::io::Write,
    at_cut: impl FnOnce(),
) -> Result<u64, String> {
    write_snapshot(shared, out, at_cut)
        .map(|(_, bytes)| bytes)
        .map_err(|e| format!("writing the snapshot: {e}"))
}

/// Starts a background save when a save point is reached: at least `changes` writes and
/// `seconds` since the last save (after a failed save, Redis's 5 s retry delay applies).
pub fn maybe_save(shared: &Arc<Shared>) {
    let p = &shared.persistence;
    if p.in_progress.load(Ordering::Relaxed) {
        return;
    }
    let changes = p.changes.load(Ordering::Relaxed);
    if changes == 0 {
        return;
    }
    let now = crate::unix_ms() / 1000;
    let since = now.saturating_sub(p.last_save.load(Ordering::Relaxed));
    let since_try = now.saturating_sub(p.last_try.load(Ordering::Relaxed));
    let due = shared
        .live
        .save_points
        .read()
        .iter()
        .any(|&(secs, min)| changes >= min && since >= secs);
    if !due || (!p.last_ok.load(Ordering::Relaxed) && since_try < 5) {
        return;
    }
    p.last_try.store(now, Ordering::Relaxed);
    tracing::info!(
        changes,
        seconds = since,
        "save point reached: background saving"
    );
    let shared = shared.clone();
    spawn_bgsave(move || {
        let _ = save(&shared);
    });
}

/// A thread for a background save (named, so it shows in `top -H` and debuggers).
/// Runs `f` on a thread of its own; false when no thread could be started.
pub fn spawn_bgsave(f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(f)
        .is_ok()
}

/// Checks that `path`, if it exists, starts as an RDB file this node reads (before the node
/// opens its port: a file that is not a snapshot at all is refused at once).
pub fn check_header(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path) {
        Ok(f) => rdb::read::Reader::new(std::io::BufReader::new(f))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Loads `path` into the (empty) keyspace at start. A missing file is no error; a corrupt
/// one is refused with its offset and reason (the node does not start on half a dataset).
pub fn load(shared: &Shared, path: &Path) -> Result<Option<Loaded>, String> {
    load_file(shared, path, false)
}

/// What a load does with the function libraries it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionLoad {
    /// The file's libraries replace the node's (a start, a full sync, DEBUG RELOAD).
    Replace,
    /// The file's replace those of the same name; the others stay (DEBUG RELOAD NOFLUSH
    /// MERGE).
    Merge,
    /// A library of the file that exists already fails the load (DEBUG RELOAD NOFLUSH:
    /// Redis's "Library already exists"); the node's libraries stay as they were.
    RefuseExisting,
}

/// The name a library's code declares on its first line (`#!lua name=<name>`).
fn library_name(code: &[u8]) -> Option<&[u8]> {
    let first = code.split(|&b| b == b'\n').next()?;
    first
        .split(|&b| b == b' ')
        .find_map(|word| word.strip_prefix(b"name="))
}

/// The libraries after a load that found `loaded`, as `mode` says; `Err` names a library
/// that exists already under [`FunctionLoad::RefuseExisting`].
fn merge_libraries(
    current: Vec<Vec<u8>>,
    loaded: Vec<Vec<u8>>,
    mode: FunctionLoad,
) -> Result<Vec<Vec<u8>>, String> {
    if mode == FunctionLoad::Replace {
        return Ok(loaded);
    }
    let names: Vec<Option<&[u8]>> = loaded.iter().map(|c| library_name(c)).collect();
    let clash = |c: &Vec<u8>| names.contains(&library_name(c));
    if mode == FunctionLoad::RefuseExisting {
        if let Some(c) = current.iter().find(|c| clash(c)) {
            let name = String::from_utf8_lossy(library_name(c).unwrap_or_default()).into_owned();
            return Err(format!("Library '{name}' already exists"));
        }
    }
    let kept = current.iter().filter(|c| !clash(c)).cloned();
    Ok(kept.chain(loaded.iter().cloned()).collect())
}

/// Loads `path` into the (empty) keyspace; `keep_expired` keeps keys whose TTL has passed
/// (a replica loading its primary's snapshot: the primary decides when they go, as Redis's
/// replicas do).
pub fn load_file(
    shared: &Shared,
    path: &Path,
    keep_expired: bool,
) -> Result<Option<Loaded>, String> {
    load_with(shared, path, keep_expired, FunctionLoad::Replace)
}

/// [`load_file`], with what to do with the function libraries found (`functions`).
pub fn load_with(
    shared: &Shared,
    path: &Path,
    keep_expired: bool,
    functions_mode: FunctionLoad,
) -> Result<Option<Loaded>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let started = Instant::now();
    let file_len = file.metadata().map_or(0, |m| m.len());
    let mut reader =
        rdb::read::Reader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let now = crate::unix_ms();
    let (mut loaded, mut expired, mut other_db, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let (mut cluster_epoch, mut node_id) = (None, None);
    let mut functions = Vec::new();
    // This thread parses; others build the values and insert them, taking batches from
    // one queue (inserting is the larger half of the work: it misses the cache on every
    // table slot it writes, which `insert` softens by prefetching).
    let (tx, rx) = mpsc::sync_channel::<Vec<rdb::Entry>>(8);
    let rx = std::sync::Mutex::new(rx);
    let failed = AtomicBool::new(false);
    // One core parses; the others insert (up to 3). On 2 cores a second inserter made the
    // load slower (three busy threads, measured with bench/snapshot_vs_redis.py --mixed).
    let inserters = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(2, 4) - 1);
    let parsed: Result<(), String> = std::thread::scope(|scope| {
        let (rx, failed) = (&rx, &failed);
        let workers: Vec<_> = (0..inserters.max(1))
            .map(|_| {
                scope.spawn(move || -> Result<u64, String> {
                    store::limits::set_current(shared.live.tunables.limits());
                    let (mut n, mut outcome) = (0u64, Ok(()));
                    loop {
                        let batch = rx.lock().expect("load queue").recv();
                        let Ok(batch) = batch else {
                            return outcome.map(|_| n);
                        };
                        // After a failure, keep draining so the parser never blocks.
                        if outcome.is_ok() && !failed.load(Ordering::Relaxed) {
                            match insert(shared, batch, now) {
                                Ok(k) => n += k,
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    outcome = Err(e);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        let mut batch = Vec::with_capacity(4096);
        let mut outcome = Ok(());
        for item in reader.by_ref() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    outcome = Err(format!("{}: {e}", path.display()));
                    break;
                }
            };
            let e = match item {
                rdb::read::Item::Entry(e) => e,
                rdb::read::Item::SizeHint { db: 0, keys, .. } => {
                    // Untrusted: no more keys than the file has room for (3+ bytes each).
                    shared.keyspace.reserve(keys.min(file_len / 3) as usize);
                    continue;
                }
                rdb::read::Item::SizeHint { .. } => continue,
                rdb::read::Item::Aux(k, v) => {
                    if k == CLUSTER_EPOCH_AUX.as_bytes() {
                        cluster_epoch = std::str::from_utf8(&v).ok().and_then(|v| v.parse().ok());
                    } else if k == NODE_ID_AUX.as_bytes() {
                        node_id = Some(String::from_utf8_lossy(&v).into_owned());
                    }
                    continue;
                }
                rdb::read::Item::Function(code) => {
                    functions.push(code);
                    continue;
                }
                rdb::read::Item::Skipped { what, key } => {
                    skipped += 1;
                    tracing::warn!(what = %what, key = ?key.map(|k| String::from_utf8_lossy(&k).into_owned()), "not loaded: this server does not hold it");
                    continue;
                }
            };
            if e.db != 0 {
                other_db += 1;
                continue;
            }
            if !keep_expired && e.expire_ms.is_some_and(|at| at <= now) {
                expired += 1;
                continue;
            }
            batch.push(e);
            if batch.len() == 4096 {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(4096));
                if tx.send(full).is_err() {
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        for worker in workers {
            match worker.join().expect("inserter thread") {
                Ok(n) => loaded += n,
                Err(e) => outcome = outcome.and(Err(format!("{}: {e}", path.display()))),
            }
        }
        outcome
    });
    parsed?;
    // The snapshot's libraries replace the node's (a replica's full sync takes its
    // primary's functions, as Redis's does), or join them (see `FunctionLoad`).
    let libraries = merge_libraries(shared.function_codes.codes(), functions, functions_mode)?;
    shared.function_codes.replace(libraries);
    if other_db + skipped > 0 {
        tracing::warn!(
            other_db,
            skipped,
            "keys of other databases or unsupported types were not loaded"
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let p = &shared.persistence;
    p.loaded_keys.store(loaded, Ordering::Relaxed);
    p.loaded_expired.store(expired, Ordering::Relaxed);
    tracing::info!(
        keys = loaded,
        expired,
        seconds = secs,
        "DB loaded from disk"
    );
    Ok(Some(Loaded {
        keys: loaded,
        seconds: secs,
        bytes: reader.offset(),
        cluster_epoch,
        node_id,
    }))
}

/// What a load at start read.
#[derive(Debug)]
pub struct Loaded {
    pub keys: u64,
    pub seconds: f64,
    /// Bytes of the file the snapshot took (an append-only file's RDB preamble may be
    /// followed by commands).
    pub bytes: u64,
    /// The cluster epoch the snapshot was taken at, and the node that took it, if a cluster
    /// node wrote it.
    pub cluster_epoch: Option<u64>,
    pub node_id: Option<String>,
}

/// After a cluster node loaded its snapshot at start: once it serves again (its lease is
/// earned against the cluster's current topology), keeps the loaded keys only if this node
/// wrote them (same node id) under the current topology (same epoch), and even then only
/// the slots it still owns. A file from elsewhere (a standalone node, another cluster) is
/// discarded: import it with `shardcache import`, which sends each key to its owner.
///
/// Why the epoch: keys are valid only for slots this node owned without a break from the
/// save until now. Every change of ownership raises the epoch, so an unchanged epoch proves
/// it; a changed one cannot tell a slot that never moved from one that moved away and back
/// (taking writes elsewhere meanwhile), so the snapshot is discarded rather than serving
/// stale values. Until this is done the node still answers -LOADING, so no stale key is
/// ever seen.
pub async fn settle_cluster_load(shared: Arc<Shared>, loaded: Loaded) {
    settle_loaded_keys(&shared, loaded).await;
    shared.persistence.loading.store(false, Ordering::SeqCst);
}

async fn settle_loaded_keys(shared: &Shared, loaded: Loaded) {
    let Some(cluster) = shared.cluster.clone() else {
        return;
    };
    // A file another node wrote is discarded at once: waiting for a lease first would keep
    // a node that has not joined yet (on standby, waiting for CLUSTER MEET) loading forever.
    if loaded.node_id.as_deref() != Some(cluster.myid.as_str()) {
        let dropped = shared.keyspace.len();
        for table in shared.keyspace.flush() {
            drop(table);
        }
        tracing::warn!(
            saved_by = ?loaded.node_id,
            keys = dropped,
            "snapshot discarded: written by another node (import it with `shardcache import`)"
        );
        return;
    }
    let topology = loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        if cluster.lease_valid() {
            if let Some(t) = cluster.topology() {
                break t;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let now = crate::unix_ms();
    let same_node = loaded.node_id.as_deref() == Some(cluster.myid.as_str());
    if !same_node || loaded.cluster_epoch != Some(topology.epoch) {
        let dropped = shared.keyspace.len();
        for table in shared.keyspace.flush() {
            drop(table);
        }
        tracing::warn!(
            saved_epoch = ?loaded.cluster_epoch,
            current_epoch = topology.epoch,
            saved_by = ?loaded.node_id,
            keys = dropped,
            "snapshot discarded: written by another node, or the cluster changed while this node was down"
        );
        return;
    }
    let mut dropped = 0;
    for slot in 0..placement::slot::SLOTS {
        let mine = topology.owner(slot).is_some_and(|n| n.id == cluster.myid);
        if !mine {
            dropped += shared.keyspace.remove_slot(slot, now, || {
                !cluster
                    .topology()
                    .and_then(|t| t.owner(slot).map(|n| n.id == cluster.myid))
                    .unwrap_or(false)
            });
        }
    }
    tracing::info!(
        kept = shared.keyspace.len(),
        dropped,
        epoch = topology.epoch,
        "snapshot kept: the cluster did not change while this node was down"
    );
}

/// Builds and inserts a batch of loaded keys; an empty or duplicate-holding collection
/// (which Redis refuses to load too) fails the load.
///
/// The keys are grouped by shard: one lock per group, and each group's table slots are
/// prefetched before its keys go in, so their cache misses (most of the cost of a load)
/// overlap.
fn insert(shared: &Shared, batch: Vec<rdb::Entry>, now: u64) -> Result<u64, String> {
    let n = batch.len() as u64;
    let ks = &shared.keyspace;
    let mut built = Vec::with_capacity(batch.len());
    // (shard, position in `built`): sorting these small pairs, not the entries.
    let mut order = Vec::with_capacity(batch.len());
    for e in batch {
        let Some(value) = crate::rdbconv::from_rdb(e.value) else {
            return Err(format!(
                "key '{}' holds an empty collection or duplicate members",
                String::from_utf8_lossy(&e.key)
            ));
        };
        let h = ks.hash(&e.key);
        order.push((store::Keyspace::shard_index(h) as u32, built.len() as u32));
        let ttl = e.expire_ms.map_or(store::Ttl::Clear, store::Ttl::At);
        built.push(Some((h, e.key, value, ttl)));
    }
    order.sort_unstable();
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        let mut shard = ks.lock_index(group[0].0 as usize);
        for &(_, i) in group {
            if let Some((h, ..)) = &built[i as usize] {
                shard.prefetch(*h);
            }
        }
        for &(_, i) in group {
            let (h, key, value, ttl) = built[i as usize].take().expect("each once");
            shard.set(h, &key, value, ttl, now);
        }
    }
    Ok(n)
}

/// Writes INFO's persistence section.
pub fn info(shared: &Shared, o: &mut String) {
    use std::fmt::Write as _;
    let p = &shared.persistence;
    let _ = write!(
        o,
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n{}",
        u8::from(p.loading.load(Ordering::Relaxed)),
        p.changes.load(Ordering::Relaxed),
        u8::from(p.in_progress.load(Ordering::Relaxed)),
        p.last_save.load(Ordering::Relaxed),
        if p.last_ok.load(Ordering::Relaxed) { "ok" } else { "err" },
        p.last_duration.load(Ordering::Relaxed),
        p.saves.load(Ordering::Relaxed),
        p.loaded_expired.load(Ordering::Relaxed),
        p.loaded_keys.load(Ordering::Relaxed),
        crate::aof::info(shared),
    );
}
