//! One client connection: read a batch, execute every complete command, write all replies
//! at once.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use resp::{Limits, Parsed, ReplyWriter, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

use crate::blocking::Blocked;
use crate::client::ClientInfo;
use crate::command::{execute, BatchClock, Flow};
use crate::pubsub::Message;
use crate::stats::LocalStats;
use crate::{ClientState, Shared};

/// Replies are flushed mid-batch once this many bytes wait, so a long pipeline cannot pile
/// up unbounded output before the client reads any of it.
const FLUSH_AT: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes one read takes beyond what the command being received still needs: the
/// query buffer holds at most one large argument plus this much read-ahead, however much a
/// client has pipelined behind it (Redis reads a big argument exactly, for the same reason).
const READ_AHEAD: usize = 64 * 1024;
/// A buffer grown past this by a burst (a long pipeline, a large value) is given back once
/// the burst is over, as Redis resizes idle query buffers: a connection costs ~32 KiB at
/// rest, however large its past requests were.
const SHRINK_ABOVE: usize = 4 * READ_CHUNK;

/// How long a TLS client has to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a batch waits for its EXEC lane before it checks whether a script is busy.
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Registers and spawns a new connection, or refuses it at `maxclients`.
pub(crate) fn accept(
    shared: &Arc<Shared>,
    tasks: &TaskTracker,
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<Arc<tls::Acceptor>>,
) {
    shared
        .stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let fd = {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd()
    };
    let info = Arc::new(ClientInfo::new(
        shared.clients.next_id(),
        addr,
        stream.local_addr().unwrap_or(shared.local_addr),
        fd,
        shared.uptime().as_millis() as u64,
        shared.shutdown.child_token(),
    ));
    let max = shared.live.maxclients.load(Ordering::Relaxed);
    if !shared.clients.try_add(info.clone(), max) {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let mut stream = stream;
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        });
        return;
    }
    let shared = shared.clone();
    // Move the socket to a worker thread's runtime: it is registered with that runtime's epoll
    // when the task first runs there.
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot hand over connection");
            shared.clients.remove(info.id);
            return;
        }
    };
    let worker = shared.workers_pick().clone();
    tasks.spawn_on(
        async move {
            let id = info.id;
            let stream = match (TcpStream::from_std(stream), tls) {
                (Ok(tcp), None) => Ok(tls::Stream::Plain(tcp)),
                // The handshake runs on the worker, with a deadline (a peer that stalls
                // mid-handshake is dropped), and a failure is logged once.
                (Ok(tcp), Some(acceptor)) => acceptor
                    .accept(tcp, TLS_HANDSHAKE_TIMEOUT)
                    .await
                    .inspect_err(
                        |e| tracing::warn!(client = id, %addr, error = %e, "TLS handshake failed"),
                    ),
                (Err(e), _) => {
                    tracing::warn!(error = %e, "cannot register connection");
                    Err(e)
                }
            };
            if let Ok(stream) = stream {
                let mut conn = Connection::new(shared.clone(), info);
                conn.state.tls = stream.is_tls();
                if let Err(e) = conn.serve(stream).await {
                    tracing::debug!(client = id, error = %e, "connection ended with an error");
                }
                conn.release();
            }
            shared.clients.remove(id);
        },
        &worker,
    );
}

enum Next {
    /// Everything complete was executed; read more.
    Read,
    /// Output reached FLUSH_AT: write, then keep executing.
    FlushThenContinue,
    /// A blocking command is waiting for data: write, wait, then keep executing.
    Blocked,
    /// Write what is pending, then close.
    Close,
    /// A command left work to await (`ClientState::pending`): write, await, keep executing.
    Pending,
}

struct Connection {
    shared: Arc<Shared>,
    state: ClientState,
    parser: RequestParser,
    rbuf: BytesMut,
    out: ReplyWriter,
    stats: LocalStats,
    batch_started: Instant,
    /// Bytes still missing of the command being received (0 when none is partial).
    missing: usize,
}

impl Connection {
    fn new(shared: Arc<Shared>, info: Arc<ClientInfo>) -> Self {
        let mut state = ClientState::new(info);
        // As Redis: a connection made while the default user needs no password stays
        // authenticated if one is set later.
        state.authenticated = !shared.users.auth_required();
        state
            .info
            .authenticated
            .store(state.authenticated, std::sync::atomic::Ordering::Relaxed);
        Connection {
            shared,
            state,
            parser: RequestParser::new(),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            out: ReplyWriter::new(),
            stats: LocalStats::default(),
            batch_started: Instant::now(),
            missing: 0,
        }
    }

    async fn serve(&mut self, mut stream: tls::Stream) -> std::io::Result<()> {
        let kill = self.state.info.kill.clone();
        let cancelled = kill.cancelled();
        tokio::pin!(cancelled);
        loop {
            let next = self.execute_buffered();
            self.publish();
            // The batch's writes leave for the replicas together.
            self.shared.repl_log.flush();
            // No reply before the append-only file holds the batch's writes (and, with
            // `appendfsync always`, has them on disk).
            crate::aof::writer::before_reply(&self.shared).await;
            // And BCAST tracking clients hear of the batch's changes together.
            self.shared.tracking.broadcast(&self.shared);
            if !self.out.is_empty() {
                // Written at once. (Yielding first, so that every connection with input on
                // this worker ran before any wrote, as Redis writes before it sleeps, helped
                // when workers shared cores; with one worker per core but one it cost 3-5%
                // of the CPU per request at pipeline 1 for no throughput: A/B, two runs.)
                self.write(&mut stream).await?;
                // CLIENT LIST's omem: what is still waiting to leave (published before the
                // write, while it may take long).
                self.state
                    .info
                    .output_memory
                    .store(self.out.len(), Ordering::Relaxed);
            }
            match next {
                Next::Close => return stream.shutdown().await,
                Next::FlushThenContinue => continue,
                Next::Blocked => {
                    if self.wait_blocked(&mut stream).await? {
                        continue;
                    }
                    return Ok(());
                }
                Next::Pending => {
                    if matches!(self.state.pending, Some(crate::Pending::BecomeReplica(_))) {
                        let Some(crate::Pending::BecomeReplica(request)) =
                            self.state.pending.take()
                        else {
                            unreachable!("checked above")
                        };
                        // From here on this connection is a replica's link.
                        let leftover = std::mem::take(&mut self.rbuf);
                        let shared = self.shared.clone();
                        let info = self.state.info.clone();
                        info.role
                            .store(crate::client::ROLE_REPLICA, Ordering::Relaxed);
                        crate::replication::primary::serve(shared, stream, leftover, request, info)
                            .await;
                        return Ok(());
                    }
                    self.await_pending().await;
                    continue;
                }
                Next::Read => {}
            }
            self.shrink_buffers();
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            // Subscribers are exempt from the idle timeout, as in Redis.
            let idle_timeout = if crate::pubsub::subscribed(&self.state) {
                0
            } else {
                self.shared.live.timeout.load(Ordering::Relaxed)
            };
            let max_read = self.missing.max(READ_AHEAD);
            let (rbuf, reader) = (&mut self.rbuf, &mut stream);
            let read = async move { reader.read_buf(&mut rbuf.limit(max_read)).await };
            let message = next_message(&mut self.state.pubsub);
            let n = tokio::select! {
                biased;
                _ = &mut cancelled => return Ok(()),
                r = read => r?,
                m = message => {
                    self.take_message(m);
                    continue;
                }
                _ = sleep_or_forever(idle_timeout) => {
                    tracing::debug!(client = self.state.info.id, "closing idle client");
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            self.shared
                .stats
                .net_input_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
            self.shared
                .stats
                .reads_processed
                .fetch_add(1, Ordering::Relaxed);
            let limit = self
                .shared
                .live
                .client_query_buffer_limit
                .load(Ordering::Relaxed);
            if self.rbuf.len() as u64 > limit {
                tracing::warn!(
                    client = self.state.info.id,
                    bytes = self.rbuf.len(),
                    "closing client that reached max query buffer length"
                );
                self.shared
                    .stats
                    .client_query_buffer_limit_disconnections
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
    }

    /// Executes every complete command in the read buffer (stopping early to flush).
    fn execute_buffered(&mut self) -> Next {
        // Messages published before these commands run are written before their replies.
        self.drain_messages();
        let live = &self.shared.live;
        let limits = Limits {
            max_bulk_len: live.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: self.state.authenticated || !self.shared.users.auth_required(),
        };
        let mut consumed = 0;
        let mut next = Next::Read;
        let mut clock = BatchClock::now();
        self.missing = 0;
        // One shared EXEC guard for the whole batch (not one per command): a transaction on
        // another worker waits for this batch, and this batch for it.
        let shared = Arc::clone(&self.shared);
        // While a script runs past `busy-reply-threshold` it holds every lane: stop waiting
        // and answer this batch in busy mode instead (`gate` stays empty).
        let mut gate = loop {
            if let Some(g) = shared.exec_gate.try_shared_for(BUSY_POLL) {
                break crate::exec_gate::BatchGate::Shared(g);
            }
            if shared.script.busy() {
                break crate::exec_gate::BatchGate::Idle;
            }
        };
        let busy = gate.is_idle();
        // Declared after the gate: dropped first, so the write turn goes before the gate.
        let _writes = crate::replication::log::BatchWrites::begin();
        self.batch_started = Instant::now();
        // Load shedding: each sheddable command of the batch is in flight until the batch
        // ends.
        let shedding = shared.shedder.active();
        let mut entered = 0;
        // Where the requests whose keys were prefetched end (see `warm`).
        let mut warmed = 0;
        loop {
            if consumed >= warmed && !self.parser.in_progress() {
                warmed = consumed + crate::warm::warm(&shared.keyspace, &self.rbuf[consumed..]);
            }
            let buf = &self.rbuf[consumed..];
            match self.parser.parse(buf, &limits) {
                Ok(Parsed::Command { consumed: used }) => {
                    let args = self.parser.args(buf);
                    if busy && !crate::command::allowed_while_busy(&shared, args) {
                        let e = shared.script.busy_error();
                        crate::command::refuse(&shared, &mut self.state, &mut self.out, args, &e);
                        consumed += used;
                        continue;
                    }
                    if shedding && crate::shedding::sheddable(args, self.state.is_master) {
                        match shared.shedder.enter() {
                            Ok(()) => entered += 1,
                            Err(why) => {
                                let e = crate::error::CmdError::Shedding(why.reason());
                                crate::command::refuse(
                                    &shared,
                                    &mut self.state,
                                    &mut self.out,
                                    args,
                                    &e,
                                );
                                consumed += used;
                                continue;
                            }
                        }
                    }
                    // CLIENT LIST's qbuf while the command runs: its own bytes and what
                    // follows it (Redis trims the query buffer after the command).
                    self.state
                        .info
                        .query_buffer
                        .store(self.rbuf.len() - consumed, Ordering::Relaxed);
                    let flow = execute(
                        &shared,
                        &mut self.state,
                        &mut self.out,
                        args,
                        &mut self.stats,
                        &mut clock,
                        &mut gate,
                    );
                    if flow == Flow::Retry {
                        next = Next::Pending;
                        break;
                    }
                    consumed += used;
                    if self.state.pending.is_some() {
                        next = Next::Pending;
                        break;
                    }
                    if flow == Flow::Close {
                        next = Next::Close;
                        break;
                    }
                    if self.state.blocked.is_some() {
                        next = Next::Blocked;
                        break;
                    }
                    if self.out.len() >= FLUSH_AT {
                        next = Next::FlushThenContinue;
                        break;
                    }
                }
                Ok(Parsed::Empty { consumed: used }) => consumed += used,
                Ok(Parsed::Incomplete { total_hint }) => {
                    if let Some(total) = total_hint {
                        let have = self.rbuf.len() - consumed;
                        self.missing = total.saturating_sub(have);
                        if total > have {
                            // Reserve the whole argument at once instead of growing in steps.
                            self.rbuf.reserve(total - have);
                        }
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(client = self.state.info.id, error = %e, "protocol error");
                    self.shared.stats.count_error("ERR");
                    self.out.error(&format!("ERR {e}"));
                    next = Next::Close;
                    break;
                }
            }
        }
        shared.shedder.leave(entered);
        self.rbuf.advance(consumed);
        next
    }

    /// Writes a published message (a push in RESP3, an array in RESP2) and those queued
    /// behind it.
    fn take_message(&mut self, m: Message) {
        self.encode_message(m);
        self.drain_messages();
    }

    /// Takes the messages already queued, up to a flush's worth.
    fn drain_messages(&mut self) {
        crate::pubsub::drain_queued(&mut self.state, &mut self.out, FLUSH_AT);
    }

    fn encode_message(&mut self, m: Message) {
        crate::pubsub::encode_queued(&self.state, &mut self.out, m);
    }

    /// Gives back what the connection holds in shared structures (watched keys, a blocked
    /// command, subscriptions).
    fn release(&mut self) {
        crate::transaction::unwatch_all(&self.shared, &mut self.state);
        crate::pubsub::unsubscribe_all(&self.shared, &mut self.state);
        if self.state.tracking.take().is_some() {
            self.shared.tracking.disable(self.state.info.id);
        }
        if let Some(mut blocked) = self.state.blocked.take() {
            self.unblock_without_reply(&mut blocked);
        }
    }

    /// Withdraws a blocked command whose client will not read the reply; an element already
    /// handed to it goes back to its list.
    fn unblock_without_reply(&self, blocked: &mut Blocked) {
        if !self.shared.blocking.cancel(&blocked.waiter) {
            if let Ok(delivery) = blocked.rx.try_recv() {
                let shared = &self.shared;
                crate::command::outside_command(shared, || {
                    shared
                        .blocking
                        .give_back(shared, &blocked.waiter, delivery, crate::unix_ms())
                });
            }
        }
    }

    /// Waits for the blocked command's data, its timeout, or the client going away (input
    /// that arrives meanwhile is buffered, as Redis does). Writes the reply; false when the
    /// connection must close.
    async fn wait_blocked(&mut self, stream: &mut tls::Stream) -> std::io::Result<bool> {
        let mut blocked = self.state.blocked.take().expect("a blocked command");
        let info = self.state.info.clone();
        info.blocked.store(true, Ordering::Relaxed);
        let _unblock = Unblock(&info);
        let kill = self.state.info.kill.clone();
        let deadline = blocked.deadline;
        let sleep = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        info.unblock.store(0, Ordering::SeqCst);
        let unblocked = info.unblocked.notified();
        tokio::pin!(unblocked);
        let delivery = loop {
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                d = &mut blocked.rx => break d.ok(),
                _ = &mut unblocked => {
                    // CLIENT UNBLOCK: as if timed out, or with an error; data handed over
                    // meanwhile wins. A wake-up without a reason is a leftover: wait on.
                    let reason = info.unblock.swap(0, Ordering::SeqCst);
                    if reason == 0 {
                        unblocked.set(info.unblocked.notified());
                        continue;
                    }
                    if self.shared.blocking.cancel(&blocked.waiter) {
                        if reason == 2 {
                            self.out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                            return Ok(true);
                        }
                        break None;
                    }
                    break blocked.rx.try_recv().ok();
                }
                _ = &mut sleep => {
                    if self.shared.blocking.cancel(&blocked.waiter) {
                        break None;
                    }
                    break blocked.rx.try_recv().ok();
                }
                r = stream.read_buf(&mut self.rbuf) => {
                    let limit = self.shared.live.client_query_buffer_limit.load(Ordering::Relaxed);
                    if !matches!(r, Ok(n) if n > 0) || self.rbuf.len() as u64 > limit {
                        self.unblock_without_reply(&mut blocked);
                        return Ok(false);
                    }
                }
                _ = kill.cancelled() => {
                    self.unblock_without_reply(&mut blocked);
                    return Ok(false);
                }
            }
        };
        match delivery {
            Some(d) => {
                if let crate::blocking::Delivery::Redirected(error) = &d {
                    // An error ending a wait counts in INFO errorstats as any error reply.
                    let code = error.split(' ').next().unwrap_or("ERR");
                    self.shared.stats.count_error(code);
                    if let Some(index) = blocked.command {
                        self.shared.table.stats[index]
                            .failed
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                d.write(&mut self.out);
                if let Some(mut entry) = blocked.slowlog.take() {
                    let live = &self.shared.live;
                    let threshold = live.slowlog_log_slower_than.load(Ordering::Relaxed);
                    if threshold >= 0 && entry.micros as i64 >= threshold {
                        entry.unix_secs = crate::unix_ms() / 1000;
                        let max_len = live.slowlog_max_len.load(Ordering::Relaxed) as usize;
                        self.shared.slowlog.lock().record(*entry, max_len);
                    }
                }
            }
            // A timeout answers a null array whatever the command (BLPOP, BLMOVE, BZPOPMIN,
            // BZMPOP ...), as Redis's replyToBlockedClientTimedOut: `*-1` in RESP2.
            None => self.out.null_array(),
        }
        Ok(true)
    }

    /// Awaits what a command left pending: a slot's grace (the command then runs again) or
    /// a cluster operation's outcome (written as its reply).
    async fn await_pending(&mut self) {
        match self.state.pending.take() {
            Some(crate::Pending::RetryAt(at) | crate::Pending::PauseUntil(at)) => {
                tokio::time::sleep_until(at.into()).await;
            }
            Some(crate::Pending::Paused(at)) => {
                let _blocked = self.shared.blocking.postponed(&self.state.info);
                tokio::time::sleep_until(at.into()).await;
            }
            Some(crate::Pending::Then(work)) => {
                let finish = work.await;
                finish(&self.shared, &mut self.out);
            }
            // Taken by `serve` before it waits.
            Some(crate::Pending::BecomeReplica(_)) => {}
            Some(crate::Pending::Reply(outcome)) => match outcome.await {
                Ok(()) => self.out.ok(),
                Err(e) => {
                    self.shared.stats.count_error("ERR");
                    self.out.error(&format!("ERR {e}"));
                }
            },
            None => {}
        }
    }

    fn shrink_buffers(&mut self) {
        if self.rbuf.capacity() > SHRINK_ABOVE && self.rbuf.len() < READ_CHUNK {
            let mut fresh = BytesMut::with_capacity(READ_CHUNK);
            fresh.extend_from_slice(&self.rbuf);
            self.rbuf = fresh;
        }
        if self.out.buffer_mut().capacity() > SHRINK_ABOVE && self.out.is_empty() {
            *self.out.buffer_mut() = BytesMut::with_capacity(READ_CHUNK);
        }
    }

    /// Adds this batch's counters to the shared ones and refreshes what CLIENT LIST shows.
    fn publish(&mut self) {
        self.stats.publish(&self.shared.table.stats);
        if self.stats.writes > 0 {
            let writes = std::mem::take(&mut self.stats.writes);
            self.shared
                .persistence
                .changes
                .fetch_add(writes, Ordering::Relaxed);
        }
        let info = &self.state.info;
        let since_start = self
            .batch_started
            .saturating_duration_since(self.shared.started);
        info.last_active_ms
            .store(since_start.as_millis() as u64, Ordering::Relaxed);
        info.query_buffer.store(self.rbuf.len(), Ordering::Relaxed);
        info.output_memory.store(self.out.len(), Ordering::Relaxed);
        if *info.last_cmd.read() != self.state.last_command {
            *info.last_cmd.write() = self.state.last_command;
        }
    }

    /// Writes pending replies, enforcing the `normal` client output buffer limits: a reply
    /// batch over the hard limit, or over the soft limit for longer than its seconds,
    /// disconnects the client instead of buffering without bound.
    async fn write(&mut self, stream: &mut tls::Stream) -> std::io::Result<()> {
        let live = &self.shared.live;
        let pending = self.out.len() as u64;
        let (hard, soft, soft_secs) = if crate::pubsub::subscribed(&self.state) {
            let l = live.output_limit("pubsub");
            (l.hard, l.soft, l.soft_seconds)
        } else {
            (
                live.normal_output_hard.load(Ordering::Relaxed),
                live.normal_output_soft.load(Ordering::Relaxed),
                live.normal_output_soft_seconds.load(Ordering::Relaxed),
            )
        };
        if hard != 0 && pending > hard {
            return Err(self.output_limit_reached(pending));
        }
        let result = if soft != 0 && pending > soft && soft_secs > 0 {
            match tokio::time::timeout(
                Duration::from_secs(soft_secs),
                stream.write_all(self.out.buffer()),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => return Err(self.output_limit_reached(pending)),
            }
        } else {
            // Most reply batches fit in the socket at once: one send, no wait set up.
            let buf = self.out.buffer();
            let sent = match stream.try_write(buf) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
                Err(e) => Err(e),
            };
            match sent {
                Ok(n) if n == buf.len() => Ok(()),
                Ok(n) => {
                    // A client that does not read is still cut off by CLIENT KILL or an
                    // output limit (the pubsub one is enforced by publishers, through the
                    // kill switch).
                    let kill = &self.state.info.kill;
                    tokio::select! {
                        r = stream.write_all(&buf[n..]) => r,
                        _ = kill.cancelled() => {
                            Err(std::io::Error::other("client killed while writing"))
                        }
                    }
                }
                Err(e) => Err(e),
            }
        };
        self.shared
            .stats
            .net_output_bytes
            .fetch_add(pending, Ordering::Relaxed);
        self.shared
            .stats
            .writes_processed
            .fetch_add(1, Ordering::Relaxed);
        self.out.clear();
        result
    }

    fn output_limit_reached(&self, pending: u64) -> std::io::Error {
        tracing::warn!(
            client = self.state.info.id,
            bytes = pending,
            "closing client that reached the output buffer limit"
        );
        self.shared
            .stats
            .client_output_buffer_limit_disconnections
            .fetch_add(1, Ordering::Relaxed);
        std::io::Error::other("client output buffer limit reached")
    }
}

/// Clears the client's "blocked" flag however waiting ends.
struct Unblock<'a>(&'a ClientInfo);

impl Drop for Unblock<'_> {
    fn drop(&mut self) {
        self.0.blocked.store(false, Ordering::Relaxed);
    }
}

/// The next published message, or never for a connection that has not subscribed.
async fn next_message(subs: &mut Option<crate::pubsub::ClientSubs>) -> Message {
    match subs {
        Some(s) => match s.rx.recv().await {
            Some(m) => m,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_or_forever(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await
    } else {
        tokio::time::sleep(Duration::from_secs(secs)).await
    }
}
