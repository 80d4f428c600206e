//! The replication stream a primary keeps: every change, as the commands that make it,
//! in the order it happened, addressed by offset (bytes since the history began), with the
//! most recent `repl-backlog-size` bytes kept for replicas that reconnect (PSYNC
//! `+CONTINUE`) and everything a connected replica has not received yet.
//!
//! **What is written** (Redis 7.0's rule: effects, not intentions): a write command that
//! changed something, as it was sent or as the command rewrote it (`SET k v EX 10` travels
//! as `SET k v PXAT <ms>`, `SPOP` as `SREM`, a served `BLPOP` as `LPOP`: see
//! [`rewrite`], [`also`]); an expired or evicted key as `DEL`, from the mutation seam, before
//! the command that met it.
//!
//! **Order.** While the stream is on, write commands run one at a time with respect to each
//! other ([`Log::writer`], held from before a write command runs until its entry is
//! written), so the stream's order is the order the commands took effect — the order Redis's
//! single thread gives. Reads still run in parallel; a `DEL` for a key a read found expired is
//! written while that key's shard is locked, so it lands before any later write to the key.
//! A snapshot for a full resync is taken at an instant when no batch of commands runs (the
//! EXEC gate held exclusively): writes before it are in the snapshot and before its offset,
//! writes after it are after both.
//!
//! **On a replica** the stream is its primary's, byte for byte ([`Log::append_upstream`]:
//! Redis's `replicationFeedStreamFromMasterStream`), at the primary's offsets and under the
//! primary's replication id. It serves the replica's own replicas (chained replication)
//! and, after a promotion, lets the other replicas of the old primary continue with a
//! partial resync from wherever they were (PSYNC2). While it relays, nothing of this node's
//! own (no expiry DEL, no PING, no local write) enters the stream: the bytes and the offsets
//! must stay the primary's.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

use std::cell::Cell;
use std::sync::Arc;

use parking_lot::{ArcMutexGuard, Mutex, MutexGuard, RawMutex};
use store::Mutation;

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    encode_iter(args.len(), args.iter().copied(), out);
}

/// [`encode`] from an iterator of `n` arguments (no vector of them first).
pub fn encode_iter<'a>(n: usize, args: impl Iterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

struct Inner {
    /// Offset of `buf[0]`: bytes of the history before it are gone.
    start: u64,
    buf: VecDeque<u8>,
    /// Bytes kept for reconnecting replicas (`repl-backlog-size`).
    backlog_size: usize,
    /// Where each connected replica is: bytes before its position may go, after it not.
    readers: BTreeMap<u64, u64>,
    next_reader: u64,
    /// The next change must be preceded by `SELECT 0`: set when the stream starts and when
    /// a full resync is cut from it (Redis's `slaveseldb = -1`), so a replica that starts
    /// reading there is told its database first, as Redis's replicas (and the tools reading
    /// the stream) expect.
    select_pending: bool,
    /// The append-only file's position, while it is on: like a replica's, bytes after it
    /// are kept until the file has them, but [`Log::drop_readers`] leaves it alone (the
    /// file follows every history this node goes through).
    aof: Option<u64>,
    /// Control commands (PING, REPLCONF GETACK) in the stream, as `[start, end)` offsets,
    /// noted while the file is on: the file leaves them out, as Redis's does.
    control: VecDeque<(u64, u64)>,
    /// A full resync replaced the data (see [`Log::restart_at`]): what the file holds no
    /// longer leads to the keyspace, so it must be rewritten.
    aof_reset: bool,
}

/// `SELECT 0`, the database this node has, as Redis writes it into the stream.
pub(crate) const SELECT_0: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";

impl Inner {
    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Drops what no reader needs and the backlog does not keep.
    fn trim(&mut self) {
        let keep_from = self.end().saturating_sub(self.backlog_size as u64);
        let oldest_reader = self
            .readers
            .values()
            .copied()
            .chain(self.aof)
            .min()
            .unwrap_or(u64::MAX);
        let drop_to = keep_from.min(oldest_reader).max(self.start);
        let n = (drop_to - self.start) as usize;
        self.buf.drain(..n);
        self.start = drop_to;
        while self.control.front().is_some_and(|&(_, end)| end <= drop_to) {
            self.control.pop_front();
        }
    }

    /// [`Inner::trim`] once the held bytes are a quarter past the backlog's size: an
    /// append does not pay for a trim (a walk over the readers) each time. What reads the
    /// backlog's extent (a PSYNC, INFO) trims first, so the slack never shows.
    fn trim_if_due(&mut self) {
        if self.buf.len() > self.backlog_size + self.backlog_size / 4 {
            self.trim();
        }
    }

    /// Copies `[from, to)` of the held bytes into `out`.
    fn copy(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        let (lo, hi) = ((from - self.start) as usize, (to - self.start) as usize);
        let (a, b) = self.buf.as_slices();
        if lo < a.len() {
            out.extend_from_slice(&a[lo..hi.min(a.len())]);
        }
        if hi > a.len() {
            out.extend_from_slice(&b[lo.max(a.len()) - a.len()..hi - a.len()]);
        }
    }
}

/// What [`Log::aof_read`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum AofRead {
    /// Bytes were copied (maybe none); the file's position is now this offset.
    At(u64),
    /// A full resync replaced the data since the last read; the position moved to the new
    /// history's start (this offset), and nothing was copied.
    Reset(u64),
    /// The file is not attached.
    Detached,
}

/// The stream and its backlog. Off until the first replica asks for it (as Redis creates
/// its backlog then); on from then on, so a replica that reconnects can continue.
pub struct Log {
    inner: Mutex<Inner>,
    active: AtomicBool,
    /// This node is a replica: the stream is its primary's, relayed (see the module doc).
    relaying: AtomicBool,
    /// Bytes were appended since the senders were last woken ([`Log::flush`]).
    unflushed: AtomicBool,
    /// Held by a write command from before it runs until its entry is written (by a batch
    /// of commands from one connection, across its writes: see [`BatchWrites`]).
    writer: Arc<Mutex<()>>,
    /// Woken when bytes are appended (the replica senders wait on it).
    pub appended: tokio::sync::Notify,
}

impl Log {
    pub fn new(offset: u64) -> Log {
        Log {
            inner: Mutex::new(Inner {
                start: offset,
                buf: VecDeque::new(),
                backlog_size: 1 << 20,
                readers: BTreeMap::new(),
                next_reader: 0,
                select_pending: true,
                aof: None,
                control: VecDeque::new(),
                aof_reset: false,
            }),
            active: AtomicBool::new(false),
            relaying: AtomicBool::new(false),
            unflushed: AtomicBool::new(false),
            writer: Arc::new(Mutex::new(())),
            appended: tokio::sync::Notify::new(),
        }
    }

    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Whether this node's own changes go into the stream: it is on and not relaying a
    /// primary's (what every command and the mutation seam check).
    #[inline]
    pub fn records_local(&self) -> bool {
        self.is_active() && !self.relaying.load(Ordering::Relaxed)
    }

    /// Whether the stream is a primary's, relayed (this node is a replica).
    pub fn is_relaying(&self) -> bool {
        self.relaying.load(Ordering::Relaxed)
    }

    /// Turns the stream on, continuing the history at `offset` if it was off.
    pub fn activate(&self, offset: u64, backlog_size: usize) {
        let mut s = self.inner.lock();
        if !self.active.load(Ordering::SeqCst) {
            s.start = offset;
            s.buf.clear();
            s.select_pending = true;
        }
        s.backlog_size = backlog_size.max(16 * 1024);
        self.active.store(true, Ordering::SeqCst);
    }

    /// This node starts following a primary: from here the stream relays the primary's
    /// (turned on at `offset` if it was off; what it holds stays, so a partial resync
    /// continuing this history keeps it whole). Connected replicas are let go: they
    /// reconnect and learn the new history (Redis's `disconnectSlaves`).
    pub fn relay_upstream(&self, offset: u64, backlog_size: usize) {
        self.activate(offset, backlog_size);
        self.relaying.store(true, Ordering::SeqCst);
        self.drop_readers();
    }

    /// A full resync from the primary replaced the data: the relayed stream starts again at
    /// the primary's `offset` (older bytes belong to data this node no longer has).
    pub fn restart_at(&self, offset: u64) {
        let mut s = self.inner.lock();
        s.start = offset;
        s.buf.clear();
        s.readers.clear();
        s.control.clear();
        if s.aof.is_some() {
            s.aof = Some(offset);
            s.aof_reset = true;
        }
        drop(s);
        self.appended.notify_waiters();
    }

    /// This node was promoted: its own writes continue the stream (after `SELECT 0`, as
    /// Redis's `slaveseldb = -1`); connected replicas are let go to learn the new id.
    pub fn stop_relaying(&self) {
        if self.relaying.swap(false, Ordering::SeqCst) {
            self.inner.lock().select_pending = true;
            self.drop_readers();
        }
    }

    /// Ends every replica's reader: their senders stop and the links close.
    pub fn drop_readers(&self) {
        let mut s = self.inner.lock();
        s.readers.clear();
        s.trim();
        drop(s);
        self.appended.notify_waiters();
    }

    /// Appends bytes of the primary's stream as this replica applied them (relaying only).
    pub fn append_upstream(&self, bytes: &[u8]) {
        if bytes.is_empty() || !self.is_active() || !self.is_relaying() {
            return;
        }
        let mut s = self.inner.lock();
        s.buf.extend(bytes);
        s.trim_if_due();
        drop(s);
        self.unflushed.store(true, Ordering::Release);
    }

    pub fn set_backlog_size(&self, size: usize) {
        let mut s = self.inner.lock();
        s.backlog_size = size.max(16 * 1024);
        s.trim();
    }

    /// The offset after the last byte written (`master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.inner.lock().end()
    }

    /// First offset still held and how many bytes are (INFO's backlog fields).
    pub fn window(&self) -> (u64, u64) {
        let mut s = self.inner.lock();
        s.trim();
        (s.start, s.buf.len() as u64)
    }

    /// Serializes write commands while the stream is on (see the module's "Order").
    ///
    /// Inside a [`BatchWrites`] scope the turn, once taken, is kept until the batch ends (one
    /// lock per batch of pipelined writes instead of one per write: two workers writing at
    /// once no longer hand it back and forth, and park, on every command).
    pub fn writer(&self) -> Option<WriteTurn<'_>> {
        if !self.records_local() {
            return None;
        }
        if BATCH_TURN.with(|t| t.borrow().is_some()) {
            return Some(WriteTurn::Batch);
        }
        if BATCHING.with(Cell::get) {
            let guard = self.writer.lock_arc();
            BATCH_TURN.with(|t| *t.borrow_mut() = Some(guard));
            return Some(WriteTurn::Batch);
        }
        Some(WriteTurn::Command(self.writer.lock()))
    }

    /// Appends changes (commands that change data), after `SELECT 0` when one is due; the
    /// stream's end offset after them.
    pub fn append(&self, bytes: &[u8]) -> u64 {
        if bytes.is_empty() || !self.records_local() {
            return self.offset();
        }
        let mut s = self.inner.lock();
        if s.select_pending {
            s.select_pending = false;
            s.buf.extend(SELECT_0);
        }
        s.buf.extend(bytes);
        s.trim_if_due();
        let end = s.end();
        drop(s);
        self.unflushed.store(true, Ordering::Release);
        end
    }

    /// Wakes the replica senders if anything was appended since the last time. Called at
    /// the end of each batch of commands (and by the housekeeping tick), so a pipeline of
    /// writes leaves in one socket write, not one per command.
    #[inline]
    pub fn flush(&self) {
        if self.unflushed.load(Ordering::Relaxed) && self.unflushed.swap(false, Ordering::AcqRel) {
            self.appended.notify_waiters();
        }
    }

    /// Appends a change made outside any command (the `DEL` of a key that expired or was
    /// evicted), after `SELECT 0` when one is due.
    pub fn append_command(&self, args: &[&[u8]]) {
        if !self.records_local() {
            return;
        }
        let mut out = Vec::new();
        encode(args, &mut out);
        let mut s = self.inner.lock();
        if s.select_pending {
            s.select_pending = false;
            s.buf.extend(SELECT_0);
        }
        s.buf.extend(&out);
        s.trim_if_due();
        drop(s);
        self.unflushed.store(true, Ordering::Release);
    }

    /// Appends a command that is not a change (PING, REPLCONF GETACK): for replicas only,
    /// the append-only file leaves it out.
    pub fn append_control(&self, args: &[&[u8]]) {
        if !self.records_local() {
            return;
        }
        let mut out = Vec::new();
        encode(args, &mut out);
        let mut s = self.inner.lock();
        let start = s.end();
        s.buf.extend(&out);
        if s.aof.is_some() {
            let end = s.end();
            s.control.push_back((start, end));
        }
        s.trim_if_due();
        drop(s);
        self.unflushed.store(true, Ordering::Release);
    }

    /// Attaches the append-only file at the stream's end (the stream must be on); the
    /// offset it starts from.
    pub fn aof_attach(&self) -> u64 {
        let mut s = self.inner.lock();
        let end = s.end();
        s.aof = Some(end);
        s.aof_reset = false;
        end
    }

    pub fn aof_detach(&self) {
        let mut s = self.inner.lock();
        s.aof = None;
        s.control.clear();
        s.trim();
    }

    /// Copies to `out` what the file has not received, up to offset `limit` and `max` bytes,
    /// leaving out control commands.
    pub fn aof_read(&self, limit: u64, max: usize, out: &mut Vec<u8>) -> AofRead {
        let mut s = self.inner.lock();
        let Some(at) = s.aof else {
            return AofRead::Detached;
        };
        if std::mem::take(&mut s.aof_reset) {
            return AofRead::Reset(at);
        }
        let to = s
            .end()
            .min(limit)
            .min(at.saturating_add(max as u64))
            .max(at);
        let mut from = at;
        for &(c0, c1) in &s.control {
            if c1 <= from || c0 >= to {
                continue;
            }
            if c0 > from {
                s.copy(from, c0, out);
            }
            from = c1.min(to).max(from);
        }
        if from < to {
            s.copy(from, to, out);
        }
        s.aof = Some(to);
        if to > at {
            s.trim();
        }
        AofRead::At(to)
    }

    /// A full resync starts reading here: the next change is preceded by `SELECT 0`.
    pub fn select_before_next_change(&self) {
        self.inner.lock().select_pending = true;
    }

    /// Registers a reader at `from` (a replica starting a partial resync there, or a full one
    /// at the snapshot's offset); `None` when those bytes are gone.
    pub fn reader(&self, from: u64) -> Option<u64> {
        let mut s = self.inner.lock();
        s.trim();
        if from < s.start || from > s.end() {
            return None;
        }
        let id = s.next_reader;
        s.next_reader += 1;
        s.readers.insert(id, from);
        Some(id)
    }

    pub fn drop_reader(&self, id: u64) {
        let mut s = self.inner.lock();
        s.readers.remove(&id);
        s.trim();
    }

    /// Copies up to `max` bytes for reader `id` from its position, advancing it; `None`
    /// when the reader is gone (the stream was turned off).
    pub fn read(&self, id: u64, max: usize, out: &mut Vec<u8>) -> Option<usize> {
        let mut s = self.inner.lock();
        let at = *s.readers.get(&id)?;
        let n = (s.end() - at).min(max as u64) as usize;
        s.copy(at, at + n as u64, out);
        s.readers.insert(id, at + n as u64);
        if n > 0 {
            s.trim();
        }
        Some(n)
    }

    /// Bytes reader `id` has not received yet.
    pub fn lag_bytes(&self, id: u64) -> u64 {
        let s = self.inner.lock();
        s.readers.get(&id).map_or(0, |at| s.end() - at)
    }
}

/// A write command's turn in the stream (see [`Log::writer`]).
pub enum WriteTurn<'a> {
    /// This command's own, given back when it is dropped.
    Command(#[allow(dead_code)] MutexGuard<'a, ()>),
    /// The batch's, kept until the batch ends.
    Batch,
}

thread_local! {
    /// A batch of commands runs on this thread ([`BatchWrites`]).
    static BATCHING: Cell<bool> = const { Cell::new(false) };
    /// The write turn the running batch took.
    static BATCH_TURN: RefCell<Option<ArcMutexGuard<RawMutex, ()>>> = const { RefCell::new(None) };
}

/// One connection's batch of commands: while it lives, a write's turn in the stream is
/// kept for the batch's later writes. Invariant: nothing in a batch waits for another
/// worker's write (a batch never awaits; a command that must wait ends the batch), and the
/// turn is given up before the batch waits for the EXEC gate ([`give_up_batch_turn`]).
pub struct BatchWrites(());

impl BatchWrites {
    pub fn begin() -> BatchWrites {
        BATCHING.with(|b| b.set(true));
        BatchWrites(())
    }
}

impl Drop for BatchWrites {
    fn drop(&mut self) {
        BATCHING.with(|b| b.set(false));
        give_up_batch_turn();
    }
}

/// Gives the batch's write turn back (before waiting for the EXEC gate exclusively: another
/// worker's batch may be waiting for the turn while holding the gate shared).
pub fn give_up_batch_turn() {
    BATCH_TURN.with(|t| drop(t.borrow_mut().take()));
}

/// What the command running on this thread will put in the stream.
#[derive(Default)]
struct Capture {
    /// A command is running (set by [`begin`], cleared by [`finish`]).
    active: bool,
    /// Changes the mutation seam reported for it.
    dirty: u64,
    /// The command's own entry, when it rewrote itself.
    rewrite: Option<Vec<Vec<u8>>>,
    /// Entries to write after the command's own.
    also: Vec<Vec<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: RefCell<Capture> = RefCell::new(Capture::default());
    /// The entry [`finish_with`] builds, reused command after command (a fresh vector grew
    /// by reallocation several times per write).
    static ENTRY: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// Starts capturing for the command about to run on this thread.
pub fn begin() {
    CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        c.active = true;
        c.dirty = 0;
        c.rewrite = None;
        c.also.clear();
    });
}

/// Ends the capture: the entries to write for the command (`args` unless it rewrote
/// itself; nothing when it changed nothing and asked for nothing).
pub fn finish(args: Option<resp::Args<'_>>, out: &mut Vec<u8>) {
    CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        c.active = false;
        if let Some(own) = c.rewrite.take() {
            if !own.is_empty() {
                let parts: Vec<&[u8]> = own.iter().map(Vec::as_slice).collect();
                encode(&parts, out);
            }
        } else if let (true, Some(args)) = (c.dirty > 0, args) {
            encode_iter(args.len(), args.iter(), out);
        }
        for extra in c.also.drain(..) {
            let parts: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
            encode(&parts, out);
        }
    });
}

/// [`finish`] into this thread's reusable buffer, handed to `f`.
pub fn finish_with<R>(args: Option<resp::Args<'_>>, f: impl FnOnce(&[u8]) -> R) -> R {
    ENTRY.with(|e| {
        let mut entry = e.borrow_mut();
        entry.clear();
        finish(args, &mut entry);
        let r = f(&entry);
        if entry.capacity() > 64 * 1024 {
            *entry = Vec::with_capacity(256);
        }
        r
    })
}

/// Whether the current command changed anything so far.
pub fn dirty() -> bool {
    CAPTURE.with(|c| c.borrow().dirty > 0)
}

/// Propagates `args` in place of the running command (its effect; an empty vector
/// propagates nothing).
pub fn rewrite(args: Vec<Vec<u8>>) {
    CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        if c.active {
            c.rewrite = Some(args);
        }
    });
}

/// [`rewrite`] from borrowed parts (only copied while a capture runs).
pub fn rewrite_parts(parts: &[&[u8]]) {
    if capturing() {
        rewrite(parts.iter().map(|p| p.to_vec()).collect());
    }
}

/// [`also`] from borrowed parts (only copied while a capture runs).
pub fn also_parts(parts: &[&[u8]]) {
    if capturing() {
        also(parts.iter().map(|p| p.to_vec()).collect());
    }
}

/// Propagates `args` after the running command's own entry.
pub fn also(args: Vec<Vec<u8>>) {
    CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        if c.active {
            c.also.push(args);
        }
    });
}

/// Whether a command's capture is running on this thread (rewrites are kept only then).
pub fn capturing() -> bool {
    CAPTURE.with(|c| c.borrow().active)
}

/// The mutation seam's side of the stream: counts a command's changes, and writes `DEL` for
/// keys that expire or are evicted (at once, under the key's shard lock: before any later
/// write to it). Keys deleted outside any command (MIGRATE's finish) are written as `DEL`
/// too.
pub fn on_mutation(log: &Log, key: &[u8], what: Mutation) {
    if what == Mutation::Miss {
        return;
    }
    let in_command = CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        if c.active {
            c.dirty += 1;
        }
        c.active
    });
    let del = match what {
        Mutation::Expire | Mutation::Evict => true,
        Mutation::Delete => !in_command,
        Mutation::Write | Mutation::Flush | Mutation::Create | Mutation::Miss => false,
    };
    if del {
        log.append_command(&[b"DEL", key]);
    }
}
