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

/// A replica's hard output limit (Redis's `client-output-buffer-limit replica 256mb`): one
/// that lags further behind is disconnected (it resyncs).
const MAX_LAG_BYTES: u64 = 256 << 20;

/// What a would-be replica said with REPLCONF before PSYNC.
#[derive(Debug, Clone, Default)]
pub struct ReplicaConf {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
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

/// The replicas connected to this node.
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<ReplicaInfo>>>,
    next: AtomicU64,
    /// Woken by every ACK (WAIT waits on it).
    pub acked: tokio::sync::Notify,
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
        let r = Arc::new(ReplicaInfo {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            ip,
            port,
            state: Mutex::new("wait_bgsave"),
            ack: AtomicU64::new(0),
            last_ack: Mutex::new(Instant::now()),
        });
        self.list.lock().push(r.clone());
        r
    }

    fn remove(&self, id: u64) {
        self.list.lock().retain(|r| r.id != id);
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
    let info = shared.replicas.add(ip.clone(), request.conf.listening_port);
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

async fn serve_inner(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    leftover: BytesMut,
    request: &SyncRequest,
    info: &Arc<ReplicaInfo>,
) -> Result<(), String> {
    let log = shared.repl_log.clone();
    let io = |e: std::io::Error| format!("writing to the replica: {e}");
    // A partial resync: our history (or the previous one up to where it ended), and the
    // backlog still holds the bytes from there.
    let continued = request.psync.as_ref().and_then(|(id, next)| {
        let s = shared.replication.state();
        let ours = *id == s.replid;
        let previous = *id == s.replid2 && (*next as i64) <= s.second_offset;
        if !(ours || previous) || *next == 0 {
            return None;
        }
        log.reader(*next - 1)
            .map(|reader| (reader, s.replid.clone()))
    });
    if continued.is_none() && request.psync.is_some() {
        shared.replication.state().partial_syncs_refused += 1;
    }
    let reader = match continued {
        Some((reader, replid)) => {
            stream
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await
                .map_err(io)?;
            shared.replication.state().partial_syncs_served += 1;
            tracing::info!(ip = %info.ip, "partial resync accepted");
            reader
        }
        None => full_resync(shared, stream, request, info).await?,
    };
    let guard = ReaderGuard(&log, reader);
    *info.state.lock() = "online";
    stream_to(shared, stream, leftover, guard.1, info).await
}

/// Drops the stream reader when the replica goes, whatever the way.
struct ReaderGuard<'a>(&'a super::log::Log, u64);

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        self.0.drop_reader(self.1);
    }
}

/// Takes a snapshot, tells the replica its offset, sends it; the stream reader from there.
async fn full_resync(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    request: &SyncRequest,
    info: &Arc<ReplicaInfo>,
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("writing to the replica: {e}");
    let dir = shared.live.dir.read().clone();
    // Unique in the process (several nodes of one process may share a directory: tests).
    static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sync = SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = Path::new(&dir).join(format!(
        "temp-repl-{}-{}-{sync}.rdb",
        std::process::id(),
        info.id
    ));
    let cut: Arc<Mutex<Option<(u64, u64)>>> = Arc::default();
    let job = {
        let (s, path, cut) = (shared.clone(), path.clone(), cut.clone());
        tokio::task::spawn_blocking(move || {
            crate::persist::snapshot_for_replica(&s, &path, || {
                let offset = s.repl_log.offset();
                let reader = s
                    .repl_log
                    .reader(offset)
                    .expect("the end is always readable");
                s.repl_log.select_before_next_change();
                *cut.lock() = Some((offset, reader));
            })
        })
    };
    tokio::pin!(job);
    // Keep-alives while the snapshot is written, as Redis sends them.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let written = loop {
        tokio::select! {
            r = &mut job => break r.map_err(|e| format!("snapshot task failed: {e}")),
            _ = tick.tick() => {
                if let Err(e) = stream.write_all(b"\n").await {
                    break Err(io(e));
                }
            }
        }
    };
    let cut_taken = cut.lock().take();
    let reader = cut_taken.map(|(_, r)| r);
    let fail = |e: String| {
        if let Some(r) = reader {
            shared.repl_log.drop_reader(r);
        }
        let _ = std::fs::remove_file(&path);
        e
    };
    let bytes = written.and_then(|r| r).map_err(fail)?;
    let (offset, reader) = cut_taken.expect("a written snapshot took its offset");
    shared.replication.state().full_syncs_served += 1;
    let mut head = String::new();
    if !request.old_sync {
        let replid = shared.replication.state().replid.clone();
        head.push_str(&format!("+FULLRESYNC {replid} {offset}\r\n"));
    }
    head.push_str(&format!("${bytes}\r\n"));
    *info.state.lock() = "send_bulk";
    let sent = async {
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
    if let Err(e) = sent {
        shared.repl_log.drop_reader(reader);
        return Err(e);
    }
    tracing::info!(ip = %info.ip, bytes, offset, "full resync: snapshot sent to replica");
    Ok(reader)
}

/// Sends the stream from the reader's position as it grows, and reads the replica's ACKs.
async fn stream_to(
    shared: &Arc<Shared>,
    stream: &mut tls::Stream,
    mut input: BytesMut,
    reader: u64,
    info: &Arc<ReplicaInfo>,
) -> Result<(), String> {
    let log = &shared.repl_log;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut parser = RequestParser::new();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let appended = log.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        out.clear();
        let Some(n) = log.read(reader, 1 << 20, &mut out) else {
            return Ok(()); // the stream was turned off: this node follows a primary now
        };
        if log.lag_bytes(reader) > MAX_LAG_BYTES {
            return Err("replica too far behind (output buffer limit)".into());
        }
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
            _ = &mut appended => {}
            r = rd.read_buf(&mut input) => {
                match r {
                    Ok(0) => return Ok(()),
                    Ok(_) => read_acks(&mut parser, &mut input, info, shared)?,
                    Err(e) => return Err(format!("reading from the replica: {e}")),
                }
            }
            _ = shared.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Takes `REPLCONF ACK <offset>` (and ignores anything else a replica sends).
fn read_acks(
    parser: &mut RequestParser,
    input: &mut BytesMut,
    info: &ReplicaInfo,
    shared: &Shared,
) -> Result<(), String> {
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
    Ok(())
}
