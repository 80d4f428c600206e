//! The link to the primary: connect, handshake, full or partial resync, then apply the
//! stream. One task per REPLICAOF (see the module's invariant); it reconnects with backoff
//! until the node stops following that primary.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use resp::{Limits, Parsed, ReplyWriter, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::LinkState;
use crate::client::ClientInfo;
use crate::command::{execute_until_done, BatchClock};
use crate::stats::LocalStats;
use crate::{ClientState, Shared};

/// Time allowed to connect to the primary and for each handshake reply.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the replica reports its offset (Redis: once a second, from `replicationCron`).
const ACK_EVERY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a link ended; the text goes to INFO's log and the node's log, as Redis words it.
type LinkError = String;

/// Starts the link task of `generation` on a worker (it runs commands like a connection).
pub fn start(shared: &Arc<Shared>, generation: u64) {
    let s = shared.clone();
    shared
        .workers_pick()
        .spawn(async move { run(s, generation).await });
}

fn current(shared: &Shared, generation: u64) -> bool {
    shared.replication.generation() == generation && !shared.shutdown.is_cancelled()
}

async fn run(shared: Arc<Shared>, generation: u64) {
    let mut backoff = Duration::from_millis(100);
    while current(&shared, generation) {
        let Some((host, port)) = shared.replication.state().master.clone() else {
            return;
        };
        tracing::info!(%host, port, "connecting to MASTER");
        let started = Instant::now();
        let outcome = session(&shared, generation, &host, port).await;
        {
            let mut s = shared.replication.state();
            if current(&shared, generation) {
                if s.link == LinkState::Connected || s.link == LinkState::Sync {
                    s.link_down_since = Some(Instant::now());
                }
                s.link = LinkState::Connect;
            }
            if let Err(e) = &outcome {
                s.last_error = Some(e.clone());
            }
        }
        if let Err(e) = outcome {
            // A FAILOVER whose target could not be reached (or refused) is over: this node
            // is a primary again.
            super::failover::abort(&shared, &format!("link to the failover target failed: {e}"));
            if current(&shared, generation) {
                tracing::warn!(%host, port, error = %e, "replication link to MASTER failed; retrying");
            }
        }
        // A link that stayed up a while retries at once; one that keeps failing backs off.
        if started.elapsed() > MAX_BACKOFF {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The connection to the primary, with what has been read but not used yet.
struct Link {
    stream: tls::Stream,
    buf: BytesMut,
}

impl Link {
    async fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    /// Reads more bytes into the buffer, within `timeout`.
    async fn fill(&mut self, timeout: Duration) -> Result<usize, LinkError> {
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err("Timeout reading from MASTER".into()),
            Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
            Ok(Ok(0)) => Err("MASTER closed the connection".into()),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// One reply line, without its line end. Bare newlines (the keep-alives a primary sends
    /// while it prepares a snapshot) are skipped.
    async fn line(&mut self, timeout: Duration) -> Result<String, LinkError> {
        loop {
            while self.buf.first() == Some(&b'\n') {
                self.buf.advance(1);
            }
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(end + 1);
                let text = String::from_utf8_lossy(&line[..end]);
                return Ok(text.trim_end_matches('\r').to_string());
            }
            if self.buf.len() > 64 * 1024 {
                return Err("MASTER sent an overlong line".into());
            }
            self.fill(timeout).await?;
        }
    }

    async fn command(&mut self, args: &[&[u8]]) -> Result<String, LinkError> {
        self.send(args).await?;
        self.line(HANDSHAKE_TIMEOUT).await
    }
}

fn tunable(shared: &Shared, name: &str) -> String {
    crate::tunables::find(name)
        .map(|t| shared.live.tunables.get(t))
        .unwrap_or_default()
}

fn repl_timeout(shared: &Shared) -> Duration {
    Duration::from_secs(tunable(shared, "repl-timeout").parse().unwrap_or(60))
}

/// A connection to the primary (TCP, then TLS with `tls-replication yes`: the primary's
/// certificate checked against our CA, ours presented).
async fn connect(shared: &Shared, host: &str, port: u16) -> Result<Link, LinkError> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| "Timeout connecting to the MASTER".to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let stream = if crate::tlsconf::for_replication(&shared.live) {
        let config = crate::tlsconf::client_config(&shared.live)?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls::connect(config, host, stream))
            .await
            .map_err(|_| "Timeout in the TLS handshake with the MASTER".to_string())?
            .map_err(|e| format!("TLS handshake with the MASTER failed: {e}"))?
    } else {
        tls::Stream::Plain(stream)
    };
    Ok(Link {
        stream,
        buf: BytesMut::with_capacity(64 * 1024),
    })
}

/// One connection to the primary: handshake, resync, stream until it breaks.
async fn session(
    shared: &Arc<Shared>,
    generation: u64,
    host: &str,
    port: u16,
) -> Result<(), LinkError> {
    shared.replication.state().link = LinkState::Connecting;
    let mut link = connect(shared, host, port).await?;
    handshake(shared, &mut link, false).await?;
    let (replid, offset, resumable) = {
        let s = shared.replication.state();
        (s.replid.clone(), s.offset, s.resumable)
    };
    let failing_over = matches!(&*shared.replication.failover.lock(), Some(p) if p.in_progress);
    let reply = if resumable {
        let next = (offset + 1).to_string();
        let mut psync: Vec<&[u8]> = vec![b"PSYNC", replid.as_bytes(), next.as_bytes()];
        if failing_over {
            // FAILOVER's hand-over: the target promotes itself, then continues our history.
            psync.push(b"FAILOVER");
        }
        link.send(&psync).await?;
        link.line(repl_timeout(shared)).await?
    } else {
        link.send(&[b"PSYNC", b"?", b"-1"]).await?;
        link.line(repl_timeout(shared)).await?
    };
    if !current(shared, generation) {
        return Ok(());
    }
    if failing_over {
        let accepted = reply.starts_with("+FULLRESYNC") || reply.starts_with("+CONTINUE");
        super::failover::psync_answered(shared, accepted);
        if !accepted {
            return Err(format!("Failover target rejected psync request: {reply}"));
        }
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split_whitespace();
        let (Some(id), Some(off)) = (parts.next(), parts.next().and_then(|o| o.parse().ok()))
        else {
            return Err(format!("Bad +FULLRESYNC reply from MASTER: {reply}"));
        };
        tracing::info!(replid = id, offset = off, "full resync from MASTER");
        full_sync(shared, generation, &mut link, id, off).await?;
    } else if reply == "+DUALCHANNELSYNC" {
        dual_channel_sync(shared, generation, &mut link, host, port).await?;
        if !current(shared, generation) {
            return Ok(());
        }
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let mut s = shared.replication.state();
        if let Some(id) = rest.split_whitespace().next() {
            if id != s.replid {
                // The primary's history goes on under a new id (it was promoted): ours
                // continues as the previous one, and our own replicas reconnect to learn it.
                s.replid2 = std::mem::replace(&mut s.replid, id.to_string());
                s.second_offset = s.offset as i64 + 1;
                shared.repl_log.drop_readers();
            }
        }
        s.partial_syncs += 1;
        tracing::info!(offset = s.offset, "partial resync with MASTER accepted");
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!("MASTER is not ready to sync: {reply}"));
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    {
        let mut s = shared.replication.state();
        s.link = LinkState::Connected;
        s.link_down_since = None;
        s.last_io = Instant::now();
        s.last_error = None;
    }
    tracing::info!("MASTER <-> REPLICA sync: link up, streaming");
    follow_stream(shared, generation, &mut link).await
}

/// PING, AUTH (masteruser/masterauth), REPLCONF listening-port and capa, as Redis's
/// `syncWithMaster`; a dual-channel sync's snapshot channel says `rdb-only` instead.
async fn handshake(shared: &Shared, link: &mut Link, rdb_only: bool) -> Result<(), LinkError> {
    let pong = link.command(&[b"PING"]).await?;
    // -NOAUTH/-NOPERM mean "authenticate first", which comes next.
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    let mut pass = tunable(shared, "masterauth");
    if pass.is_empty() && shared.cluster.is_some() {
        // Cluster members share their password; a replica gives its own to its primary.
        pass = shared.live.requirepass().unwrap_or_default();
    }
    if !pass.is_empty() {
        let user = tunable(shared, "masteruser");
        let reply = if user.is_empty() {
            link.command(&[b"AUTH", pass.as_bytes()]).await?
        } else {
            link.command(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                .await?
        };
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    } else if pong.starts_with('-') {
        return Err(format!(
            "MASTER asks for a password ('{pong}'): set masterauth"
        ));
    }
    if rdb_only {
        let reply = link
            .command(&[b"REPLCONF", b"rdb-only", b"1", b"capa", b"eof"])
            .await?;
        if reply.starts_with('-') {
            return Err(format!("MASTER refused REPLCONF rdb-only: {reply}"));
        }
        return Ok(());
    }
    // The plain client port in force (a TLS-only node announces its TLS port).
    let port = match shared.live.port.load(std::sync::atomic::Ordering::Relaxed) {
        0 => shared.local_addr.port(),
        p => p,
    }
    .to_string();
    let reply = link
        .command(&[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    if reply.starts_with('-') {
        tracing::warn!(reply, "MASTER did not accept REPLCONF listening-port");
    }
    let reply = link
        .command(&[
            b"REPLCONF",
            b"capa",
            b"eof",
            b"capa",
            b"psync2",
            // Ours (a redis-server ignores capabilities it does not know): see
            // `primary::serve`.
            b"capa",
            b"dual-channel",
        ])
        .await?;
    if reply.starts_with('-') {
        tracing::warn!(reply, "MASTER did not accept REPLCONF capa");
    }
    Ok(())
}

/// The link enters its sync state; our own replicas reconnect (and are refused until the
/// sync is done), then resync from the new data.
fn begin_sync(shared: &Shared) {
    {
        let mut s = shared.replication.state();
        s.link = LinkState::Sync;
        s.sync_total = 0;
        s.sync_read = 0;
        s.last_io = Instant::now();
    }
    shared.repl_log.drop_readers();
}

/// The snapshot now loaded is the primary's history up to `offset`.
fn adopt_snapshot(shared: &Shared, replid: &str, offset: u64) {
    let mut s = shared.replication.state();
    s.replid = replid.to_string();
    s.offset = offset;
    s.replid2 = super::NO_REPLID.into();
    s.second_offset = -1;
    s.resumable = true;
    s.full_syncs += 1;
    // The relayed stream starts again where the snapshot ends.
    shared.repl_log.restart_at(offset);
}

/// Receives the primary's snapshot into a temporary file beside our own, then replaces the
/// keyspace with it (clients get -LOADING meanwhile). False when this link was replaced
/// meanwhile (nothing loaded).
async fn receive_and_load(
    shared: &Arc<Shared>,
    generation: u64,
    link: &mut Link,
) -> Result<bool, LinkError> {
    let timeout = repl_timeout(shared);
    let header = link.line(timeout).await?;
    if header.starts_with('-') {
        return Err(format!(
            "MASTER aborted replication with an error: {header}"
        ));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        ));
    };
    let dir = shared.live.dir.read().clone();
    // Unique in the process (several nodes of one process may share a directory: tests).
    static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = Path::new(&dir).join(format!(
        "temp-{}.{}.{}.rdb",
        std::process::id(),
        crate::unix_ms(),
        SYNCS.fetch_add(1, Ordering::Relaxed)
    ));
    let received = receive_rdb(shared, link, spec, &path, timeout).await;
    if let Err(e) = received {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    if !current(shared, generation) {
        let _ = std::fs::remove_file(&path);
        return Ok(false);
    }
    let loaded = load(shared, path.clone()).await;
    let _ = std::fs::remove_file(&path);
    let keys = loaded?;
    tracing::info!(
        keys,
        "MASTER <-> REPLICA sync: finished loading the snapshot"
    );
    Ok(true)
}

/// A full resync on the link itself (`+FULLRESYNC`: what a redis-server primary sends).
async fn full_sync(
    shared: &Arc<Shared>,
    generation: u64,
    link: &mut Link,
    replid: &str,
    offset: u64,
) -> Result<(), LinkError> {
    begin_sync(shared);
    if !receive_and_load(shared, generation, link).await? {
        return Ok(());
    }
    adopt_snapshot(shared, replid, offset);
    // A primary that sent its snapshot disk-less waits for this first ACK before it
    // streams (Redis's `repl_start_cmd_stream_on_ack`); send it in either case.
    let ack = offset.to_string();
    link.send(&[b"REPLCONF", b"ACK", ack.as_bytes()]).await
}

/// How much of the primary's stream a dual-channel sync keeps while it loads the snapshot
/// (Redis's replica output limit): past it, this side stops reading and the primary holds
/// the rest.
const FULL_SYNC_BUFFER_LIMIT: usize = 256 << 20;

/// A Shard-Cache primary's full resync over two connections (see `primary::serve`): the
/// snapshot on a second connection (`rdb-only`), the stream on this one from the
/// snapshot's offset at once, kept here while the snapshot loads.
async fn dual_channel_sync(
    shared: &Arc<Shared>,
    generation: u64,
    link: &mut Link,
    host: &str,
    port: u16,
) -> Result<(), LinkError> {
    let timeout = repl_timeout(shared);
    let mut rdb = connect(shared, host, port).await?;
    handshake(shared, &mut rdb, true).await?;
    rdb.send(&[b"PSYNC", b"?", b"-1"]).await?;
    let reply = rdb.line(timeout).await?;
    let mut parts = reply
        .strip_prefix("+FULLRESYNC ")
        .unwrap_or_default()
        .split_whitespace();
    let (Some(replid), Some(offset)) = (
        parts.next(),
        parts.next().and_then(|o| o.parse::<u64>().ok()),
    ) else {
        return Err(format!(
            "Bad reply on the snapshot channel from MASTER: {reply}"
        ));
    };
    let next = (offset + 1).to_string();
    link.send(&[b"PSYNC", replid.as_bytes(), next.as_bytes()])
        .await?;
    let reply = link.line(timeout).await?;
    if !reply.starts_with("+CONTINUE") {
        return Err(format!(
            "MASTER did not continue the stream after its snapshot: {reply}"
        ));
    }
    tracing::info!(replid, offset, "dual-channel full resync from MASTER");
    begin_sync(shared);
    shared.replication.state().full_sync_buffer = 0;
    let loaded = {
        let loading = receive_and_load(shared, generation, &mut rdb);
        tokio::pin!(loading);
        loop {
            if link.buf.len() >= FULL_SYNC_BUFFER_LIMIT {
                break loading.await?;
            }
            tokio::select! {
                r = &mut loading => break r?,
                r = link.fill(timeout) => {
                    let n = r?;
                    shared.stats.net_repl_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let mut s = shared.replication.state();
                    s.full_sync_buffer = link.buf.len() as u64;
                    s.full_sync_buffer_peak = s.full_sync_buffer_peak.max(s.full_sync_buffer);
                }
            }
        }
    };
    // The snapshot channel closes: the primary lets go of the stream it kept for us.
    drop(rdb);
    shared.replication.state().full_sync_buffer = 0;
    if !loaded {
        return Ok(());
    }
    adopt_snapshot(shared, replid, offset);
    tracing::info!(
        buffered = link.buf.len(),
        "dual-channel sync: snapshot loaded, applying the stream kept meanwhile"
    );
    Ok(())
}

/// Copies the snapshot's bytes to `path`: `spec` is `<length>` or `EOF:<40-byte mark>`.
/// Bytes after the snapshot stay in the link's buffer (the stream starts there).
async fn receive_rdb(
    shared: &Shared,
    link: &mut Link,
    spec: &str,
    path: &Path,
    timeout: Duration,
) -> Result<(), LinkError> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    })?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    let write_err = |e: std::io::Error| format!("Write error writing the snapshot to disk: {e}");
    let progress = |read: u64, total: u64| {
        let mut s = shared.replication.state();
        s.sync_read = read;
        s.sync_total = total;
        s.last_io = Instant::now();
    };
    if let Some(mark) = spec.strip_prefix("EOF:") {
        let mark = mark.as_bytes();
        if mark.len() != 40 {
            return Err(format!("Bad EOF mark from MASTER: '{spec}'"));
        }
        let mut read = 0u64;
        loop {
            if link.buf.len() >= 40 && link.buf.ends_with(mark) {
                let body = link.buf.len() - 40;
                file.write_all(&link.buf[..body]).map_err(write_err)?;
                read += body as u64;
                link.buf.clear();
                break;
            }
            // Keep the last 40 bytes: they may be the start of the mark.
            if link.buf.len() > 40 {
                let body = link.buf.len() - 40;
                file.write_all(&link.buf[..body]).map_err(write_err)?;
                read += body as u64;
                link.buf.advance(body);
                progress(read, 0);
            }
            link.fill(timeout).await?;
        }
        progress(read, 0);
    } else {
        let total: u64 = spec
            .parse()
            .map_err(|_| format!("Bad snapshot length from MASTER: '{spec}'"))?;
        let mut left = total;
        loop {
            let take = (link.buf.len() as u64).min(left) as usize;
            file.write_all(&link.buf[..take]).map_err(write_err)?;
            link.buf.advance(take);
            left -= take as u64;
            progress(total - left, total);
            if left == 0 {
                break;
            }
            link.fill(timeout).await?;
        }
    }
    file.flush().map_err(write_err)?;
    Ok(())
}

/// Replaces the keyspace with the snapshot at `path`; the number of keys loaded.
async fn load(shared: &Arc<Shared>, path: PathBuf) -> Result<u64, LinkError> {
    shared.persistence.loading.store(true, Ordering::SeqCst);
    let old = shared.keyspace.flush();
    std::thread::spawn(move || drop(old));
    let s = shared.clone();
    let result = tokio::task::spawn_blocking(move || crate::persist::load_file(&s, &path, true))
        .await
        .map_err(|e| format!("loading the MASTER's snapshot panicked: {e}"));
    shared.persistence.loading.store(false, Ordering::SeqCst);
    match result? {
        Ok(loaded) => Ok(loaded.map_or(0, |l| l.keys)),
        Err(e) => {
            // Half a dataset must not be served: drop what was loaded.
            drop(shared.keyspace.flush());
            Err(format!(
                "Failed trying to load the MASTER synchronization DB from disk: {e}"
            ))
        }
    }
}

/// The primary's client on this node.
fn master_client(shared: &Shared, link: &Link) -> ClientState {
    let addr = link
        .stream
        .peer_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let info = Arc::new(ClientInfo::new(
        shared.clients.next_id(),
        addr,
        shared.local_addr,
        -1,
        shared.uptime().as_millis() as u64,
        shared.shutdown.child_token(),
    ));
    info.role
        .store(crate::client::ROLE_MASTER, Ordering::Relaxed);
    let mut client = ClientState::new(info);
    client.authenticated = true;
    client.is_master = true;
    client
}

/// Applies the primary's stream until the link breaks, the primary goes silent for
/// `repl-timeout`, or the node stops following it.
async fn follow_stream(
    shared: &Arc<Shared>,
    generation: u64,
    link: &mut Link,
) -> Result<(), LinkError> {
    let client = master_client(shared, link);
    let info = client.info.clone();
    shared.clients.try_add(info.clone(), usize::MAX);
    let outcome = {
        let kill = info.kill.clone();
        tokio::select! {
            r = apply_stream(shared, generation, link, client) => r,
            // CLIENT KILL TYPE master: the link is dropped and made again, as in Redis.
            _ = kill.cancelled() => Err("the MASTER link was killed by CLIENT KILL".into()),
        }
    };
    shared.clients.remove(info.id);
    outcome
}

async fn apply_stream(
    shared: &Arc<Shared>,
    generation: u64,
    link: &mut Link,
    client: ClientState,
) -> Result<(), LinkError> {
    let mut applier = Applier {
        client,
        parser: RequestParser::new(),
        out: ReplyWriter::new(),
        stats: LocalStats::default(),
        offset: shared.replication.state().offset,
        selected: 0,
    };
    let mut ack = tokio::time::interval(ACK_EVERY);
    ack.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = repl_timeout(shared);
    loop {
        let getack = applier.apply(shared, &mut link.buf)?;
        shared.replication.state().offset = applier.offset;
        if let Some(at) = getack {
            let at = at.to_string();
            link.send(&[b"REPLCONF", b"ACK", at.as_bytes()]).await?;
        }
        if !current(shared, generation) {
            return Ok(());
        }
        tokio::select! {
            r = tokio::time::timeout(timeout, link.stream.read_buf(&mut link.buf)) => {
                match r {
                    Err(_) => return Err("MASTER timeout: no data nor PING received".into()),
                    Ok(Err(e)) => return Err(format!("Error reading from MASTER: {e}")),
                    Ok(Ok(0)) => return Err("MASTER closed the connection".into()),
                    Ok(Ok(n)) => {
                        shared.stats.net_repl_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        shared.replication.state().last_io = Instant::now();
                    }
                }
            }
            _ = shared.replication.audit.limit_changed.notified() => {}
            _ = ack.tick() => {
                let at = applier.offset.to_string();
                link.send(&[b"REPLCONF", b"ACK", at.as_bytes()]).await?;
            }
            _ = shared.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// The primary's client on this node, and where it is in the primary's stream.
struct Applier {
    client: ClientState,
    parser: RequestParser,
    out: ReplyWriter,
    stats: LocalStats,
    /// Bytes of the stream applied (the replication offset).
    offset: u64,
    /// The database the primary's commands are for (SELECT; this node holds only 0). The
    /// primary selects one before its first command; until then, database 0.
    selected: i64,
}

impl Applier {
    /// Applies every complete command in `buf`, advancing the offset by the bytes of each.
    /// Returns the offset to acknowledge when the primary asked (`REPLCONF GETACK`): the
    /// offset before that request, as Redis answers.
    fn apply(&mut self, shared: &Shared, buf: &mut BytesMut) -> Result<Option<u64>, LinkError> {
        let limits = Limits {
            max_bulk_len: i64::MAX,
            authenticated: true,
        };
        let mut clock = BatchClock::now();
        let mut gate = crate::exec_gate::BatchGate::Shared(shared.exec_gate.shared());
        let mut consumed = 0;
        let mut getack = None;
        let limit = shared.replication.audit.limit();
        // Where the commands whose keys were prefetched end (see `warm`).
        let mut warmed = 0;
        // Applied bytes not relayed yet: they go to our own stream in one append per batch
        // (a lock per command was 8% of applying a SET), always before the EXEC gate is
        // released — at the end, or before a command that may give up its shared hold — so
        // a snapshot cut for our own replicas never falls between a command and its relay.
        let mut relayed = 0;
        loop {
            if self.offset >= limit {
                // The audit holds the stream here (see `audit`).
                break;
            }
            if consumed >= warmed && !self.parser.in_progress() {
                warmed = consumed + crate::warm::warm(&shared.keyspace, &buf[consumed..]);
            }
            let rest = &buf[consumed..];
            match self.parser.parse(rest, &limits) {
                Ok(Parsed::Command { consumed: used }) => {
                    let args = self.parser.args(rest);
                    let name = args.get(0);
                    if crate::command::may_hold_the_gate_alone(name) {
                        shared.repl_log.append_upstream(&buf[relayed..consumed]);
                        relayed = consumed;
                    }
                    if name.eq_ignore_ascii_case(b"replconf") {
                        // Only GETACK is meant for a replica; it is answered, not run.
                        if args.len() >= 2 && args.get(1).eq_ignore_ascii_case(b"getack") {
                            getack = Some(self.offset);
                        }
                    } else if name.eq_ignore_ascii_case(b"select") {
                        let db = std::str::from_utf8(args.get(1))
                            .ok()
                            .and_then(|d| d.parse().ok());
                        self.selected = db.unwrap_or(-1);
                    } else if self.selected != 0 && !is_transaction_frame(name) {
                        skipped_other_db(self.selected);
                    } else {
                        execute_until_done(
                            shared,
                            &mut self.client,
                            &mut self.out,
                            args,
                            &mut self.stats,
                            &mut clock,
                            &mut gate,
                        );
                        if !self.out.is_empty() {
                            note_failure(&self.out);
                            self.out.clear();
                        }
                    }
                    consumed += used;
                    self.offset += used as u64;
                }
                Ok(Parsed::Empty { consumed: used }) => {
                    consumed += used;
                    self.offset += used as u64;
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    shared.repl_log.append_upstream(&buf[relayed..consumed]);
                    return Err(format!("Protocol error from MASTER: {e}"));
                }
            }
        }
        shared.repl_log.append_upstream(&buf[relayed..consumed]);
        buf.advance(consumed);
        shared.repl_log.flush();
        Ok(getack)
    }
}

fn is_transaction_frame(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"multi")
        || name.eq_ignore_ascii_case(b"exec")
        || name.eq_ignore_ascii_case(b"discard")
}

/// Logs (at most once a minute) that the primary writes to a database this node lacks.
fn skipped_other_db(db: i64) {
    static LAST: parking_lot::Mutex<Option<Instant>> = parking_lot::Mutex::new(None);
    let mut last = LAST.lock();
    if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
        *last = Some(Instant::now());
        tracing::warn!(
            db,
            "MASTER writes to a database other than 0; this node holds database 0 only and passes them over"
        );
    }
}

/// Logs a command of the primary's stream that failed here (a command this node lacks):
/// the replica may differ from its primary from then on, which an operator must know.
fn note_failure(out: &ReplyWriter) {
    let reply = out.buffer();
    if reply.first() == Some(&b'-') {
        let end = reply
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(reply.len());
        tracing::warn!(
            error = %String::from_utf8_lossy(&reply[1..end]),
            "a command from MASTER failed on this replica"
        );
    }
}
