//! Replication, the primary side: a connection that sends `PSYNC` (or the old `SYNC`)
//! becomes a replica. It gets `+CONTINUE` and the stream from where it stopped when the
//! backlog still holds it and it follows this node's history (or the previous one, up to
//! where that ended: PSYNC2), else `+FULLRESYNC <replid> <offset>`, a snapshot taken at that
//! offset (a sized RDB, version 10: what Redis 7.0 loads), and the stream from that offset.
//! It reports `REPLCONF ACK <offset>`; WAIT and INFO read those.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use resp::{Limits, Parsed, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Shared;

/// Whether a replica `lag` bytes behind is past `client-output-buffer-limit replica`: over
/// the hard limit, or over the soft one for its seconds (`soft_since` tracks that). One
/// that is gets disconnected (it resyncs), as in Redis.
fn over_output_limit(shared: &Shared, lag: u64, soft_since: &mut Option<Instant>) -> bool {
    let limit = shared.live.output_limit("slave");
    if limit.hard > 0 && lag > limit.hard {
        return true;
    }
    if limit.soft > 0 && lag > limit.soft {
        let since = *soft_since.get_or_insert_with(Instant::now);
        return since.elapsed().as_secs() >= limit.soft_seconds;
    }
    *soft_since = None;
    false
}

/// What a would-be replica said with REPLCONF before PSYNC.
#[derive(Debug, Clone, Default)]
pub struct ReplicaConf {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// A Shard-Cache replica: it takes a full resync's snapshot on a channel of its own
    /// (see [`serve`]).
    pub capa_dual_channel: bool,
    /// `REPLCONF rdb-only 1`: the snapshot alone, then the link ends.
    pub rdb_only: bool,
}

/// One connected replica, as INFO, ROLE and WAIT see it.
#[derive(Debug)]
pub struct ReplicaInfo {
    pub id: u64,
    pub ip: String,
    pub port: u16,
    /// `wait_bgsave`, `send_bulk` or `online`.
    pub state: Mutex<&'static str>,
    /// The last offset it acknowledged.
    pub ack: AtomicU64,
    pub last_ack: Mutex<Instant>,
}

impl ReplicaInfo {
    fn new(id: u64, ip: String, port: u16) -> ReplicaInfo {
        ReplicaInfo {
            id,
            ip,
            port,
            state: Mutex::new("wait_bgsave"),
            ack: AtomicU64::new(0),
            last_ack: Mutex::new(Instant::now()),
        }
    }
}

/// The replicas connected to this node.
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<ReplicaInfo>>>,
    next: AtomicU64,
    /// Woken by every ACK (WAIT waits on it).
    pub acked: tokio::sync::Notify,
    /// Stream readers at a dual-channel snapshot's offset, waiting for that replica's main
    /// channel to take them over: (offset, reader).
    handoffs: Mutex<Vec<(u64, u64)>>,
}

impl Replicas {
    pub fn all(&self) -> Vec<Arc<ReplicaInfo>> {
        self.list.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.list.lock().len()
    }

    /// Replicas online that acknowledged within the last `max_lag` seconds.
    pub fn good(&self, max_lag: u64) -> usize {
        self.list
            .lock()
            .iter()
            .filter(|r| {
                *r.state.lock() == "online" && r.last_ack.lock().elapsed().as_secs() <= max_lag
            })
            .count()
    }

    /// Replicas that acknowledged at least `offset`.
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.list
            .lock()
            .iter()
            .filter(|r| r.ack.load(Ordering::SeqCst) >= offset)
            .count()
    }

    fn add(&self, ip: String, port: u16) -> Arc<ReplicaInfo> {
        let r = Arc::new(ReplicaInfo::new(
            self.next.fetch_add(1, Ordering::Relaxed),
            ip,
            port,
        ));
        self.list.lock().push(r.clone());
        r
    }

    fn remove(&self, id: u64) {
        self.list.lock().retain(|r| r.id != id);
    }

    fn offer_handoff(&self, offset: u64, reader: u64) {
        self.handoffs.lock().push((offset, reader));
    }

    /// A reader offered at `offset`, now the taker's.
    fn take_handoff(&self, offset: u64) -> Option<u64> {
        let mut h = self.handoffs.lock();
        let at = h.iter().position(|&(o, _)| o == offset)?;
        Some(h.swap_remove(at).1)
    }

    /// Takes back an offer nobody took; false when it was taken.
    fn withdraw_handoff(&self, reader: u64) -> bool {
        let mut h = self.handoffs.lock();
        let before = h.len();
        h.retain(|&(_, r)| r != reader);
        h.len() < before
    }
}

/// What PSYNC asked for: a history and the next byte wanted (`None`: SYNC, or `PSYNC ? -1`).
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub psync: Option<(String, u64)>,
    /// SYNC (no `+FULLRESYNC` line before the snapshot).
    pub old_sync: bool,
    pub conf: ReplicaConf,
}

fn tunable(shared: &Shared, name: &str) -> String {
    crate::tunables::find(name)
        .map(|t| shared.live.tunables.get(t))
        .unwrap_or_default()
}

fn backlog_size(shared: &Shared) -> usize {
    tunable(shared, "repl-backlog-size")
        .parse()
        .unwrap_or(1 << 20)
}

/// Turns the stream on (the first replica): the history continues at this node's offset.
pub fn ensure_log(shared: &Shared) {
    if shared.repl_log.is_active() {
        return;
    }
    let offset = shared.replication.state().offset;
    shared.repl_log.activate(offset, backlog_size(shared));
    crate::seam::refresh(shared);
}

/// This node was promoted (REPLICAOF NO ONE, a failover): its own writes continue the
/// stream it relayed, so replicas of the old primary that were behind it, and its own
/// replicas, continue with a partial resync (PSYNC2).
pub fn became_primary(shared: &Shared) {
    shared.repl_log.stop_relaying();
    ensure_log(shared);
    crate::seam::refresh(shared);
}

/// This node starts following a primary: the stream relays the primary's from here (its
/// own history so far stays, resumable by PSYNC2); its replicas are let go and reconnect
/// to follow it through it (chained replication).
pub fn relay_upstream(shared: &Shared) {
    let log = &shared.repl_log;
    let offset = if log.is_active() {
        log.offset()
    } else {
        shared.replication.state().offset
    };
    {
        let mut s = shared.replication.state();
        if log.is_active() && !log.is_relaying() {
            s.resumable = true;
        }
        s.offset = offset;
    }
    log.relay_upstream(offset, backlog_size(shared));
    crate::seam::refresh(shared);
}

/// Serves a replica on `stream` until it disconnects. `leftover`: bytes it sent after PSYNC.
///
/// **Dual channel** (between Shard-Cache nodes, Valkey's design): a replica that said
/// `REPLCONF capa dual-channel` and needs a full resync is answered `+DUALCHANNELSYNC`
/// instead of a snapshot. It opens a second connection with `REPLCONF rdb-only 1` and
/// `PSYNC ? -1`, which gets `+FULLRESYNC <id> <offset>` and the snapshot alone; on this
/// connection it then asks `PSYNC <id> <offset+1>` and receives the stream from there at
/// once, buffering it while it loads the snapshot. The stream never waits here behind a
/// snapshot, so a big sync under heavy writes cannot overrun the replica's output limit and
/// start over. The snapshot connection keeps the stream from its cut until it closes, so the
/// continuation is always there to be had.
pub async fn serve(
    shared: Arc<Shared>,
    mut stream: tls::Stream,
    leftover: BytesMut,
    request: SyncRequest,
    client: Arc<crate::client::ClientInfo>,
) {
    let peer = stream.peer_addr().ok();
    let ip = request
        .conf
        .ip_address
        .clone()
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_default();
    ensure_log(&shared);
    // A snapshot-only link is not a replica: INFO, ROLE and WAIT do not count it.
    let info = if request.conf.rdb_only {
        Arc::new(ReplicaInfo::new(
            u64::MAX,
            ip.clone(),
            request.conf.listening_port,
        ))
    } else {
        shared.replicas.add(ip.clone(), request.conf.listening_port)
    };
    // CLIENT KILL TYPE replica (or ID/ADDR) ends the link; the replica reconnects.
    let outcome = tokio::select! {
        r = serve_inner(&shared, &mut stream, leftover, &request, &info) => r,
        _ = client.kill.cancelled() => Err("killed by CLIENT KILL".into()),
    };
    shared.replicas.remove(info.id);
    shared.replicas.acked.notify_waiters();
    match outcome {
        Ok(()) => tracing::info!(%ip, port = info.port, "replica disconnected"),
        Err(e) => tracing::warn!(%ip, port = info.port, error = %e, "replica link ended"),
    }
}

/// A reader at `next - 1` when PSYNC can continue there: our history (or the previous one
/// up to where it ended) and the backlog still holds the bytes. With our current id.
fn continuation(shared: &Shared, psync: &Option<(String, u64)>) -> Option<(u64, String)> {
    let (id, next) = psync.as_ref()?;
    let s = shared.replication.state();
    let ours = *id == s.replid;
    let previous = *id == s.replid2 && (*next as i64) <= s.second_offset;
    if !(ours || previous) || *next == 0 {
        return None;
    }
    shared
        .replicas
        .take_handoff(*next - 1)
        .or_else(|| shared.repl_log.reader(*next - 1))
        .map(|reader| (reader, s.replid.clone()))
}

async fn serve_inner(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    leftover: BytesMut,
    request: &SyncRequest,
    info: &Arc<ReplicaInfo>,
) -> Result<(), String> {
    let log = shared.repl_log.clone();
    let io = |e: std::io::Error| format!("writing to the replica: {e}");
    let mut input = leftover;
    let mut psync = request.psync.clone();
    // The PSYNC that follows a dual-channel snapshot: part of that full resync.
    let mut handoff = false;
    // (reader, whether the stream must wait for the replica's first ACK)
    let (reader, after_diskless) = loop {
        if let Some((reader, replid)) = continuation(shared, &psync) {
            stream
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await
                .map_err(io)?;
            if !handoff {
                shared.replication.state().partial_syncs_served += 1;
                tracing::info!(ip = %info.ip, "partial resync accepted");
            }
            break (reader, false);
        }
        if handoff {
            return Err(
                "the dual-channel replica asked to continue where the stream no longer is".into(),
            );
        }
        if psync.is_some() {
            shared.replication.state().partial_syncs_refused += 1;
        }
        let conf = &request.conf;
        if conf.capa_dual_channel && !conf.rdb_only && !request.old_sync {
            stream
                .write_all(b"+DUALCHANNELSYNC\r\n")
                .await
                .map_err(io)?;
            psync = Some(next_psync(shared, stream, &mut input).await?);
            handoff = true;
            continue;
        }
        let (reader, diskless) = full_resync(shared, stream, request, info).await?;
        if conf.rdb_only {
            // The stream from the cut is offered until the replica hangs up: its main
            // channel takes it over to continue from there.
            wait_until_closed(shared, stream).await;
            if shared.replicas.withdraw_handoff(reader) {
                log.drop_reader(reader);
            }
            return Ok(());
        }
        break (reader, diskless);
    };
    let guard = ReaderGuard(&log, reader);
    *info.state.lock() = "online";
    stream_to(shared, stream, input, guard.1, info, after_diskless).await
}

fn repl_timeout(shared: &Shared) -> Duration {
    Duration::from_secs(tunable(shared, "repl-timeout").parse().unwrap_or(60))
}

/// Reads the dual-channel replica's `PSYNC <id> <offset>` (within `repl-timeout`).
async fn next_psync(
    shared: &Shared,
    stream: &mut tls::Stream,
    input: &mut BytesMut,
) -> Result<(String, u64), String> {
    use bytes::Buf;
    let limits = Limits {
        max_bulk_len: 1 << 20,
        authenticated: true,
    };
    let mut parser = RequestParser::new();
    let deadline = tokio::time::Instant::now() + repl_timeout(shared);
    loop {
        match parser.parse(&input[..], &limits) {
            Ok(Parsed::Command { consumed }) => {
                let args = parser.args(&input[..]);
                let psync = (args.len() >= 3 && args.get(0).eq_ignore_ascii_case(b"psync"))
                    .then(|| {
                        let id = String::from_utf8_lossy(args.get(1)).into_owned();
                        std::str::from_utf8(args.get(2))
                            .ok()
                            .and_then(|o| o.parse::<u64>().ok())
                            .map(|next| (id, next))
                    })
                    .flatten();
                input.advance(consumed);
                if let Some(p) = psync {
                    return Ok(p);
                }
            }
            Ok(Parsed::Empty { consumed }) => input.advance(consumed),
            Ok(Parsed::Incomplete { .. }) => {
                match tokio::time::timeout_at(deadline, stream.read_buf(input)).await {
                    Err(_) => return Err("the dual-channel replica never sent its PSYNC".into()),
                    Ok(Ok(0)) => return Err("the replica closed the connection".into()),
                    Ok(Err(e)) => return Err(format!("reading from the replica: {e}")),
                    Ok(Ok(_)) => {}
                }
            }
            Err(e) => return Err(format!("protocol error from the replica: {e}")),
        }
    }
}

/// Waits (at most `repl-timeout`) for a snapshot-only link to be closed by the other end.
async fn wait_until_closed(shared: &Shared, stream: &mut tls::Stream) {
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(repl_timeout(shared), async {
        loop {
            tokio::select! {
                r = stream.read(&mut sink) => if !matches!(r, Ok(n) if n > 0) { return; },
                _ = shared.shutdown.cancelled() => return,
            }
        }
    })
    .await;
}

/// Drops the stream reader when the replica goes, whatever the way.
struct ReaderGuard<'a>(&'a super::log::Log, u64);

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        self.0.drop_reader(self.1);
    }
}

/// Feeds a disk-less sync's snapshot from the thread that writes it to the task that sends
/// it, in chunks; the bounded channel makes a slow replica slow the writer down rather than
/// pile the snapshot up in memory.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 1024));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the link to the replica closed",
            )
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// Writes the snapshot's announcement, then the chunks made before it could go; their bytes.
async fn send_head(
    stream: &mut tls::Stream,
    head: &str,
    early: &mut Vec<Vec<u8>>,
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("writing to the replica: {e}");
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    let mut sent = 0;
    for chunk in early.drain(..) {
        stream.write_all(&chunk).await.map_err(io)?;
        sent += chunk.len() as u64;
    }
    Ok(sent)
}

/// Takes a snapshot, tells the replica its offset, sends it; the stream reader from there.
///
/// `+FULLRESYNC <id> <offset>` goes as soon as the snapshot's instant is taken (as Redis
/// answers when its BGSAVE starts: a dual-channel replica's stream starts from there at
/// once). A replica that said `capa eof` gets the snapshot disk-less while it is written
/// (`repl-diskless-sync yes`, Redis 7's default): `$EOF:<mark>`, the bytes, the mark — no
/// file, so a full disk on the primary does not stop replication. Others get it from a
/// temporary file as `$<length>`, with keep-alive newlines while the file is written.
/// Either way, the stream kept for the replica meanwhile counts against its output limit.
async fn full_resync(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    request: &SyncRequest,
    info: &Arc<ReplicaInfo>,
) -> Result<(u64, bool), String> {
    let io = |e: std::io::Error| format!("writing to the replica: {e}");
    let diskless = request.conf.capa_eof
        && !request.old_sync
        && tunable(shared, "repl-diskless-sync").eq_ignore_ascii_case("yes");
    let dir = shared.live.dir.read().clone();
    // Unique in the process (several nodes of one process may share a directory: tests).
    static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sync = SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = Path::new(&dir).join(format!(
        "temp-repl-{}-{}-{sync}.rdb",
        std::process::id(),
        info.id
    ));
    let (cut_tx, mut cut_rx) = tokio::sync::oneshot::channel::<(u64, u64)>();
    let (chunk_tx, mut chunks) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let job = {
        let (s, path) = (shared.clone(), path.clone());
        tokio::task::spawn_blocking(move || {
            let log = s.repl_log.clone();
            let at_cut = move || {
                let offset = log.offset();
                let reader = log.reader(offset).expect("the end is always readable");
                log.select_before_next_change();
                // Nobody waits any more (the link failed): let the stream go.
                if cut_tx.send((offset, reader)).is_err() {
                    log.drop_reader(reader);
                }
            };
            if diskless {
                let out = ChunkWriter {
                    tx: chunk_tx,
                    buf: Vec::with_capacity(CHUNK + 1024),
                };
                crate::persist::snapshot_for_replica_to(&s, out, at_cut)
            } else {
                drop(chunk_tx);
                crate::persist::snapshot_for_replica(&s, &path, at_cut)
            }
        })
    };
    tokio::pin!(job);
    let mark = super::random_replid();
    // What announces the snapshot once its offset is known: `+FULLRESYNC` (not for SYNC),
    // then, disk-less, the EOF mark the bytes will end with.
    let head_at = |offset: u64| {
        let mut head = String::new();
        if !request.old_sync {
            let replid = shared.replication.state().replid.clone();
            head.push_str(&format!("+FULLRESYNC {replid} {offset}\r\n"));
        }
        if diskless {
            head.push_str(&format!("$EOF:{mark}\r\n"));
            *info.state.lock() = "send_bulk";
        }
        head
    };
    let mut cut = None;
    // Disk-less: chunks made before the cut wait for the header.
    let mut early: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0u64;
    let mut soft_since = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let written: Result<Result<u64, String>, String> = async {
        loop {
            tokio::select! {
                r = &mut job => return r.map_err(|e| format!("snapshot task failed: {e}")),
                taken = &mut cut_rx, if cut.is_none() => {
                    let Ok((offset, reader)) = taken else { continue };
                    cut = Some((offset, reader));
                    if request.conf.rdb_only {
                        shared.replicas.offer_handoff(offset, reader);
                    }
                    sent += send_head(stream, &head_at(offset), &mut early).await?;
                }
                chunk = chunks.recv(), if diskless => {
                    let Some(chunk) = chunk else { continue };
                    if cut.is_none() {
                        early.push(chunk);
                    } else {
                        stream.write_all(&chunk).await.map_err(io)?;
                        sent += chunk.len() as u64;
                    }
                }
                _ = tick.tick() => {
                    // A snapshot-only link keeps the stream for the main channel, which takes
                    // it at once: not counted.
                    if let (Some((_, reader)), false) = (cut, request.conf.rdb_only) {
                        if over_output_limit(shared, shared.repl_log.lag_bytes(reader), &mut soft_since) {
                            shared.stats.client_output_buffer_limit_disconnections.fetch_add(1, Ordering::Relaxed);
                            return Err("the stream written during the snapshot passed client-output-buffer-limit replica".into());
                        }
                    }
                    // Keep-alives, until the snapshot's bytes start.
                    if !(diskless && cut.is_some()) {
                        stream.write_all(b"\n").await.map_err(io)?;
                    }
                }
            }
        }
    }
    .await;
    // The snapshot was done before its cut was seen here: nothing was announced yet.
    let late = cut.is_none();
    if late {
        cut = cut_rx.try_recv().ok();
        if let (Some((offset, reader)), true) = (cut, request.conf.rdb_only) {
            shared.replicas.offer_handoff(offset, reader);
        }
    }
    let release = |reader: u64| {
        if !request.conf.rdb_only || shared.replicas.withdraw_handoff(reader) {
            shared.repl_log.drop_reader(reader);
        }
    };
    let fail = |e: String| {
        if let Some((_, r)) = cut {
            release(r);
        }
        let _ = std::fs::remove_file(&path);
        e
    };
    let bytes = written.and_then(|r| r).map_err(fail)?;
    let (offset, reader) = cut.expect("a written snapshot took its offset");
    shared.replication.state().full_syncs_served += 1;
    let transfer = async {
        let mut head = if late { head_at(offset) } else { String::new() };
        if diskless {
            if late {
                sent += send_head(stream, &head, &mut early).await?;
            }
            // The writer is done: what it queued, then the mark.
            while let Some(chunk) = chunks.recv().await {
                stream.write_all(&chunk).await.map_err(io)?;
                sent += chunk.len() as u64;
            }
            if sent != bytes {
                return Err(format!(
                    "the snapshot for the replica has {sent} bytes, {bytes} were written"
                ));
            }
            return stream.write_all(mark.as_bytes()).await.map_err(io);
        }
        head.push_str(&format!("${bytes}\r\n"));
        *info.state.lock() = "send_bulk";
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| format!("reading the snapshot for the replica: {e}"))?;
        let copied = tokio::io::copy(&mut file, stream).await.map_err(io)?;
        // The replica waits for exactly `bytes`: a short file must cut the link, not stall it.
        if copied != bytes {
            return Err(format!(
                "the snapshot for the replica has {copied} bytes, {bytes} were announced"
            ));
        }
        Ok::<(), String>(())
    }
    .await;
    let _ = std::fs::remove_file(&path);
    if let Err(e) = transfer {
        release(reader);
        return Err(e);
    }
    tracing::info!(ip = %info.ip, bytes, offset, diskless, "full resync: snapshot sent to replica");
    Ok((reader, diskless))
}

/// Sends the stream from the reader's position as it grows, and reads the replica's ACKs.
async fn stream_to(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    mut input: BytesMut,
    reader: u64,
    info: &Arc<ReplicaInfo>,
    after_diskless: bool,
) -> Result<(), String> {
    let log = &shared.repl_log;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut parser = RequestParser::new();
    // After a disk-less snapshot nothing may follow its EOF mark until the replica has
    // loaded it and sent its first REPLCONF ACK (Redis's `repl_start_cmd_stream_on_ack`): a
    // replica (Redis's, or ours) recognises the mark only as the last bytes it has read.
    let mut soft_since = None;
    if after_diskless {
        while !read_acks(&mut parser, &mut input, info, shared)? {
            check_output_limit(shared, log.lag_bytes(reader), &mut soft_since)?;
            tokio::select! {
                r = rd.read_buf(&mut input) => match r {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("reading from the replica: {e}")),
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shared.shutdown.cancelled() => return Ok(()),
            }
        }
    }
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let appended = log.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        out.clear();
        let Some(n) = log.read(reader, 1 << 20, &mut out) else {
            return Ok(()); // the stream was turned off: this node follows a primary now
        };
        check_output_limit(shared, log.lag_bytes(reader), &mut soft_since)?;
        if n > 0 {
            shared
                .stats
                .net_repl_output_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
            tokio::select! {
                r = wr.write_all(&out) => r.map_err(|e| format!("writing to the replica: {e}"))?,
                _ = shared.shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        tokio::select! {
            _ = &mut appended => {
                // Let the batches of commands that are ready run first: their writes leave
                // together, in one socket write (Redis writes to its replicas once per event
                // loop turn).
                tokio::task::yield_now().await;
            }
            r = rd.read_buf(&mut input) => {
                match r {
                    Ok(0) => return Ok(()),
                    Ok(_) => {
                        read_acks(&mut parser, &mut input, info, shared)?;
                    }
                    Err(e) => return Err(format!("reading from the replica: {e}")),
                }
            }
            _ = shared.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Ends the link (counted, with Redis's reason) when the stream kept for the replica is past
/// `client-output-buffer-limit replica`.
fn check_output_limit(
    shared: &Shared,
    lag: u64,
    soft_since: &mut Option<Instant>,
) -> Result<(), String> {
    if over_output_limit(shared, lag, soft_since) {
        shared
            .stats
            .client_output_buffer_limit_disconnections
            .fetch_add(1, Ordering::Relaxed);
        return Err("replica too far behind (client-output-buffer-limit replica)".into());
    }
    Ok(())
}

/// Takes `REPLCONF ACK <offset>` (and ignores anything else a replica sends); whether an
/// ACK was among what it took.
fn read_acks(
    parser: &mut RequestParser,
    input: &mut BytesMut,
    info: &ReplicaInfo,
    shared: &Shared,
) -> Result<bool, String> {
    let mut acked = false;
    use bytes::Buf;
    let limits = Limits {
        max_bulk_len: 1 << 20,
        authenticated: true,
    };
    let mut consumed = 0;
    loop {
        let rest = &input[consumed..];
        match parser.parse(rest, &limits) {
            Ok(Parsed::Command { consumed: used }) => {
                let args = parser.args(rest);
                if args.len() >= 3
                    && args.get(0).eq_ignore_ascii_case(b"replconf")
                    && args.get(1).eq_ignore_ascii_case(b"ack")
                {
                    if let Some(off) = std::str::from_utf8(args.get(2))
                        .ok()
                        .and_then(|o| o.parse::<u64>().ok())
                    {
                        info.ack.fetch_max(off, Ordering::SeqCst);
                        *info.last_ack.lock() = Instant::now();
                        acked = true;
                        shared.replicas.acked.notify_waiters();
                    }
                }
                consumed += used;
            }
            Ok(Parsed::Empty { consumed: used }) => consumed += used,
            Ok(Parsed::Incomplete { .. }) => break,
            Err(e) => return Err(format!("protocol error from the replica: {e}")),
        }
    }
    input.advance(consumed);
    Ok(acked)
}
