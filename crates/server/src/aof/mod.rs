//! The append-only file (`appendonly yes`), Redis 7's multi-part layout in
//! `dir/appenddirname`: a manifest naming a BASE file (a snapshot: RDB, or commands when
//! `aof-use-rdb-preamble no`) and INCR files (every change after it, as commands). Redis
//! loads what we write and we load what it writes (same names, same manifest, same formats).
//!
//! It is the node's one snapshot + stream path again: the BASE is a snapshot taken at an
//! instant (`persist`), the INCR files are the replication stream (`replication::log`) from
//! that instant, written after each batch of commands ([`writer`]). A rewrite (BGREWRITEAOF, the
//! first switch-on, `auto-aof-rewrite-percentage`) cuts a new BASE at a stream offset and
//! starts a new INCR file at the same offset ([`rewrite`]).
//!
//! Durability (`appendfsync`): a write's reply leaves only once the file holds it (so a
//! crash of the process loses no acknowledged write); `always` — and once it is fsynced;
//! `everysec` — fsynced once a second, so a crash of the machine loses at most about a
//! second of writes; `no` — the kernel decides when.
//!
//! Not supported: a cluster node (its data follows slot ownership, which a file replayed
//! at start cannot know: cluster nodes persist with snapshots, checked against the
//! cluster's epoch). `appendonly yes` is refused there with that reason.

pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::CmdError;
use crate::Shared;
use manifest::Manifest;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    No,
    EverySec,
    Always,
}

const OFF: u8 = 0;
const ON: u8 = 1;
/// Switched on, waiting for the first rewrite to give it a base (Redis's
/// `AOF_WAIT_REWRITE`): changes are not written yet, the rewrite's snapshot will hold them.
const WAIT_REWRITE: u8 = 2;

#[derive(Default)]
pub struct Aof {
    state: AtomicU8,
    fsync: AtomicU8,
    /// The manifest as on disk.
    inner: Mutex<Inner>,
    /// The INCR file being appended to.
    pub(crate) target: Mutex<writer::Target>,
    /// Stream offset up to which the file is written (see `writer`'s invariants).
    pub(crate) synced: AtomicU64,
    /// Stream offset up to which the file is on disk.
    pub(crate) fsynced: AtomicU64,
    /// The last fsync (`None` before any).
    pub(crate) last_fsync: Mutex<Option<Instant>>,
    /// The fsync thread runs (started with the file the first time).
    fsync_thread: AtomicBool,
    /// `aof-timestamp-enabled`: `#TS:` annotations in the INCR files.
    pub(crate) timestamps: AtomicBool,
    /// The last write to the file failed (and why): writes are refused until one succeeds.
    pub(crate) write_error: Mutex<Option<String>>,
    pub(crate) rewrite_running: AtomicBool,
    pub(crate) rewrite_scheduled: AtomicBool,
    pub(crate) rewrite_started: Mutex<Option<Instant>>,
    pub(crate) last_rewrite_secs: AtomicI64,
    pub(crate) rewrites: AtomicU64,
    pub(crate) last_rewrite_failed: AtomicBool,
    pub(crate) rewrite_failures: AtomicU64,
    /// Bytes of the BASE and of every INCR file (INFO `aof_current_size`).
    pub(crate) current_size: AtomicU64,
    pub(crate) base_size: AtomicU64,
    /// `aof_current_size` after the last rewrite (what `auto-aof-rewrite-percentage` grows
    /// from).
    pub(crate) rewrite_base_size: AtomicU64,
}

#[derive(Default)]
struct Inner {
    manifest: Manifest,
}

impl Aof {
    /// Whether the file is on (or waiting for its first rewrite): INFO `aof_enabled`.
    pub fn enabled(&self) -> bool {
        self.state.load(Ordering::Relaxed) != OFF
    }

    fn is_on(&self) -> bool {
        self.state.load(Ordering::Relaxed) == ON
    }

    pub fn fsync(&self) -> Fsync {
        match self.fsync.load(Ordering::Relaxed) {
            0 => Fsync::EverySec,
            1 => Fsync::Always,
            _ => Fsync::No,
        }
    }

    pub fn set_fsync(&self, policy: &str) {
        let v = match policy {
            "always" => 1,
            "no" => 2,
            _ => 0,
        };
        self.fsync.store(v, Ordering::Relaxed);
    }

    /// Writes are refused while the file cannot be written (Redis's `-MISCONF`).
    pub fn write_refusal(&self) -> Option<CmdError> {
        if !self.enabled() {
            return None;
        }
        self.write_error
            .lock()
            .as_ref()
            .map(|e| CmdError::Misconf(format!("Errors writing to the AOF file: {e}")))
    }

    pub(crate) fn manifest(&self) -> Manifest {
        self.inner.lock().manifest.clone()
    }

    pub(crate) fn set_manifest(&self, m: Manifest) {
        self.inner.lock().manifest = m;
    }
}

fn tunable(shared: &Shared, name: &str) -> String {
    crate::tunables::find(name)
        .map(|t| shared.live.tunables.get(t))
        .unwrap_or_default()
}

/// `dir/appenddirname`.
pub fn dir(shared: &Shared) -> PathBuf {
    Path::new(&*shared.live.dir.read()).join(tunable(shared, "appenddirname"))
}

/// Creates `dir/appenddirname` if missing; the path.
pub(crate) fn create_dir(shared: &Shared) -> Result<PathBuf, String> {
    let dir = dir(shared);
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// `appendfilename`: the prefix of every file's name.
pub fn filename(shared: &Shared) -> String {
    tunable(shared, "appendfilename")
}

/// Whether the configuration asks for the file (read at start).
pub fn configured(shared: &Shared) -> bool {
    tunable(shared, "appendonly") == "yes"
}

/// The reason a cluster node refuses the file.
pub const CLUSTER_REFUSAL: &str = "appendonly yes is not supported in cluster mode: cluster nodes persist with snapshots (save, BGSAVE), which carry the topology epoch their keys belong to";

/// Writes the manifest durably: a temp file, fsynced, renamed over it, the directory
/// fsynced (Redis's `writeAofManifestFile`).
pub fn persist_manifest(shared: &Shared, m: &Manifest) -> std::io::Result<()> {
    let dir = dir(shared);
    let name = manifest::manifest_name(&filename(shared));
    let temp = dir.join(format!("temp-{name}"));
    {
        let mut f = std::fs::File::create(&temp)?;
        std::io::Write::write_all(&mut f, m.render().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&temp, dir.join(&name))?;
    sync_dir(&dir);
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads the manifest in `dir/appenddirname`, moving an old-style single file
/// (`dir/appendfilename`, Redis before 7) into the directory as the base first, as Redis
/// does on upgrade. An empty manifest when there is neither.
pub fn read_manifest(shared: &Shared) -> Result<Manifest, String> {
    let dir = dir(shared);
    let filename = filename(shared);
    let path = dir.join(manifest::manifest_name(&filename));
    match std::fs::read_to_string(&path) {
        Ok(text) => return Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let old = Path::new(&*shared.live.dir.read()).join(&filename);
    if !old.exists() {
        return Ok(Manifest::default());
    }
    create_dir(shared)?;
    let m = Manifest {
        base: Some(manifest::FileInfo {
            name: filename.clone(),
            seq: 1,
            kind: manifest::Kind::Base,
        }),
        base_seq: 1,
        ..Manifest::default()
    };
    persist_manifest(shared, &m).map_err(|e| e.to_string())?;
    std::fs::rename(&old, dir.join(&filename)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {} into dir {}: {e}",
            old.display(),
            dir.display()
        )
    })?;
    tracing::info!(
        file = %old.display(),
        dir = %dir.display(),
        "Successfully migrated an old-style AOF file into the AOF directory"
    );
    Ok(m)
}

/// After the load at start (`appendonly yes`): a base is written when there is none (an
/// empty start, as Redis), the last INCR file is opened for appending (or a first one
/// made), and the writer starts at the stream's current offset.
pub fn open_at_start(shared: &Arc<Shared>) -> Result<(), String> {
    let dir = create_dir(shared)?;
    let aof = &shared.aof;
    let filename = filename(shared);
    let mut m = aof.manifest();
    if m.is_empty() {
        rewrite::write_base(shared, &mut m, None::<fn()>).map_err(|e| e.to_string())?;
        tracing::info!("Creating AOF base file on server start");
    }
    let name = match m.incr.last() {
        Some(f) => f.name.clone(),
        None => m.new_incr(&filename),
    };
    let path = dir.join(&name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("Can't open the append-only file {name}: {e}"))?;
    persist_manifest(shared, &m).map_err(|e| e.to_string())?;
    measure(shared, &m);
    aof.set_manifest(m);
    aof.state.store(ON, Ordering::SeqCst);
    start_writer(shared, Some(file))
}

/// Starts appending at the stream's end (turning the stream on).
fn start_writer(shared: &Arc<Shared>, file: Option<std::fs::File>) -> Result<(), String> {
    crate::replication::primary::ensure_log(shared);
    writer::start(shared, file);
    if !shared.aof.fsync_thread.swap(true, Ordering::SeqCst) {
        writer::spawn_fsync_thread(shared)
            .map_err(|e| format!("can't start the AOF fsync thread: {e}"))?;
    }
    Ok(())
}

/// Sizes for INFO and the automatic rewrite, from the files on disk.
pub(crate) fn measure(shared: &Shared, m: &Manifest) {
    let dir = dir(shared);
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    let base = m.base.as_ref().map_or(0, |b| size(&b.name));
    let total = base + m.incr.iter().map(|f| size(&f.name)).sum::<u64>();
    let aof = &shared.aof;
    aof.base_size.store(base, Ordering::Relaxed);
    aof.current_size.store(total, Ordering::Relaxed);
    aof.rewrite_base_size.store(total, Ordering::Relaxed);
}

/// CONFIG SET appendonly yes: the file waits for a rewrite that gives it a base holding
/// everything so far; changes from the rewrite's cut go to its first INCR file.
pub fn turn_on(shared: &Arc<Shared>) -> Result<(), String> {
    if shared.cluster.is_some() {
        return Err(CLUSTER_REFUSAL.into());
    }
    let aof = &shared.aof;
    if aof.enabled() {
        return Ok(());
    }
    create_dir(shared)?;
    let m = read_manifest(shared)?;
    aof.set_manifest(m);
    aof.state.store(WAIT_REWRITE, Ordering::SeqCst);
    if let Err(e) = start_writer(shared, None) {
        aof.state.store(OFF, Ordering::SeqCst);
        return Err(e);
    }
    rewrite::request(shared);
    Ok(())
}

/// CONFIG SET appendonly no (and the node's stop): what the stream holds so far is
/// written and fsynced, and the file is closed.
pub fn turn_off(shared: &Shared) {
    let aof = &shared.aof;
    if aof.state.swap(OFF, Ordering::SeqCst) == OFF {
        return;
    }
    writer::stop(shared);
    shared.repl_log.aof_detach();
    *aof.write_error.lock() = None;
}

/// Housekeeping: an automatic rewrite once the file grew by `auto-aof-rewrite-percentage`
/// over its size after the last rewrite and is past `auto-aof-rewrite-min-size`.
pub fn cron(shared: &Arc<Shared>) {
    let aof = &shared.aof;
    if !aof.is_on() || aof.rewrite_running.load(Ordering::Relaxed) {
        return;
    }
    let percentage: u64 = tunable(shared, "auto-aof-rewrite-percentage")
        .parse()
        .unwrap_or(0);
    if percentage == 0 {
        return;
    }
    let min: u64 = tunable(shared, "auto-aof-rewrite-min-size")
        .parse()
        .unwrap_or(64 << 20);
    let size = aof.current_size.load(Ordering::Relaxed);
    let base = aof.rewrite_base_size.load(Ordering::Relaxed).max(1);
    if size > min && (size - base.min(size)) * 100 / base >= percentage {
        tracing::info!(
            growth = (size - base.min(size)) * 100 / base,
            "Starting automatic rewriting of AOF"
        );
        rewrite::request(shared);
    }
}

/// INFO persistence's AOF fields.
pub fn info(shared: &Shared) -> String {
    let aof = &shared.aof;
    let current = aof
        .rewrite_started
        .lock()
        .map_or(-1, |t| t.elapsed().as_secs() as i64);
    let mut o = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{current}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(aof.enabled()),
        u8::from(aof.rewrite_running.load(Ordering::Relaxed)),
        u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
        aof.last_rewrite_secs.load(Ordering::Relaxed),
        if aof.last_rewrite_failed.load(Ordering::Relaxed) { "err" } else { "ok" },
        aof.rewrites.load(Ordering::Relaxed),
        aof.rewrite_failures.load(Ordering::Relaxed),
        if aof.write_error.lock().is_some() { "err" } else { "ok" },
    );
    if aof.enabled() {
        let pending = shared
            .repl_log
            .offset()
            .saturating_sub(aof.synced.load(Ordering::Relaxed));
        o.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{pending}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            aof.current_size.load(Ordering::Relaxed),
            aof.base_size.load(Ordering::Relaxed),
            u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
        ));
    }
    o
}
