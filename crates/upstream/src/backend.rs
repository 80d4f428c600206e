//! Connections to one backend: a few long-lived, pipelined connections shared by every
//! client (not one per client), with reconnection, optional AUTH/SELECT, and the health
//! bookkeeping twemproxy's `auto_eject_hosts` needs (the proxy's pools and the cluster
//! client both use it).
//!
//! A connection is a task: requests arrive on a channel, are written in batches, and their
//! reply senders queue up in order; the reader hands each complete reply (found with
//! [`resp::frame::frame_len`], never parsed into values) to the next sender. When the
//! connection breaks, every request written on it gets an error at once, and the task
//! reconnects for the next request. A backend that cannot be reached answers fast errors
//! until its retry time, instead of making every request wait for a connect timeout.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("backend {0} is unavailable")]
    Unavailable(String),
    #[error("backend {0} timed out")]
    Timeout(String),
    #[error("backend {0} closed the connection")]
    Closed(String),
    #[error("backend {0} sent an invalid reply")]
    Protocol(String),
}

pub type Reply = Result<Bytes, BackendError>;

/// Commands for the backend, already encoded, and where their replies go.
pub struct Request {
    pub payload: Bytes,
    /// How many replies `payload` asks for (its commands): they arrive together, as one
    /// byte string, so a command that must follow another on the same connection (ASKING,
    /// then the command) can be sent as one request.
    pub replies: u32,
    pub reply: oneshot::Sender<Reply>,
}

/// Latency histogram buckets (µs upper bounds) for the metrics.
pub const LATENCY_BUCKETS_US: [u64; 10] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000,
];

#[derive(Debug, Default)]
pub struct BackendStats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub latency_us_sum: AtomicU64,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_US`], plus one for +Inf.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

impl BackendStats {
    pub fn observe(&self, took: Duration, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = took.as_micros() as u64;
        self.latency_us_sum.fetch_add(us, Ordering::Relaxed);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A backend's health. `failures`, `ejected` and `down_until` are the pool's ejection state
/// (`auto_eject_hosts`); `unreachable_until` is the connection's own fast-fail window after
/// a failed connect.
#[derive(Debug, Default)]
pub struct Health {
    pub failures: u32,
    pub ejected: bool,
    pub down_until: Option<Instant>,
    pub unreachable_until: Option<Instant>,
}

pub struct Backend {
    /// How the backend is shown in stats and errors.
    pub label: String,
    /// `host:port` to connect to.
    pub addr: String,
    pub stats: BackendStats,
    pub health: Mutex<Health>,
    /// Failures are on record (lets a success skip the health lock otherwise).
    pub suspect: std::sync::atomic::AtomicBool,
    conns: Vec<mpsc::UnboundedSender<Request>>,
    next: AtomicUsize,
}

/// What a backend connection needs to know about its pool.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// AUTH as this user (with `password`); the default user when `None`.
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// Send READONLY first: reads from a cluster replica.
    pub readonly: bool,
    /// Speak TLS to the server (`rediss://`), checking its certificate with this.
    pub tls: Option<Arc<tls::rustls::ClientConfig>>,
    pub connect_timeout: Duration,
    /// Per-request timeout (twemproxy's `timeout`): a reply later than this fails every
    /// request in flight on the connection, which is then closed, as twemproxy does.
    pub request_timeout: Option<Duration>,
    /// How long an unreachable backend answers fast errors before it is tried again.
    pub retry_after: Duration,
}

impl Backend {
    pub fn start(
        label: String,
        addr: String,
        connections: usize,
        settings: ConnSettings,
    ) -> Arc<Backend> {
        let mut conns = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..connections.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            conns.push(tx);
            receivers.push(rx);
        }
        let backend = Arc::new(Backend {
            label,
            addr,
            stats: BackendStats::default(),
            health: Mutex::new(Health::default()),
            suspect: Default::default(),
            conns,
            next: AtomicUsize::new(0),
        });
        for rx in receivers {
            tokio::spawn(run_connection(
                Arc::downgrade(&backend),
                rx,
                settings.clone(),
            ));
        }
        backend
    }

    /// Queues one command; the reply (or error) arrives on the returned channel.
    pub fn send(&self, payload: Bytes) -> oneshot::Receiver<Reply> {
        self.send_many(payload, 1)
    }

    /// Queues `replies` commands, written together on one connection; their replies arrive
    /// together.
    pub fn send_many(&self, payload: Bytes, replies: u32) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let request = Request {
            payload,
            replies: replies.max(1),
            reply: tx,
        };
        if let Err(e) = self.conns[i].send(request) {
            let _ =
                e.0.reply
                    .send(Err(BackendError::Unavailable(self.label.clone())));
        }
        rx
    }

    /// Inside the fast-fail window after a failed connect.
    pub fn is_down(&self) -> bool {
        self.health
            .lock()
            .unreachable_until
            .is_some_and(|t| Instant::now() < t)
    }

    /// Connected now (false while unreachable).
    pub fn connected(&self) -> bool {
        self.health.lock().unreachable_until.is_none()
    }

    fn record_failure(&self, retry_after: Duration) {
        self.health.lock().unreachable_until = Some(Instant::now() + retry_after);
    }

    fn record_success(&self) {
        self.health.lock().unreachable_until = None;
    }
}

async fn connect(addr: &str, s: &ConnSettings) -> std::io::Result<tls::Stream> {
    let tcp = tokio::time::timeout(s.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tcp.set_nodelay(true)?;
    let mut stream = match &s.tls {
        None => tls::Stream::Plain(tcp),
        Some(config) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            tokio::time::timeout(s.connect_timeout, tls::connect(config.clone(), host, tcp))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??
        }
    };
    let mut setup: Vec<Vec<&[u8]>> = Vec::new();
    match (&s.username, &s.password) {
        (Some(u), Some(p)) => setup.push(vec![b"AUTH", u.as_bytes(), p.as_bytes()]),
        (None, Some(p)) => setup.push(vec![b"AUTH", p.as_bytes()]),
        _ => {}
    }
    let db = s.db.to_string();
    if s.db != 0 {
        setup.push(vec![b"SELECT", db.as_bytes()]);
    }
    if s.readonly {
        setup.push(vec![b"READONLY"]);
    }
    if !setup.is_empty() {
        let mut wire = Vec::new();
        for c in &setup {
            resp::request::encode_command(c, &mut wire);
        }
        stream.write_all(&wire).await?;
        let mut buf = BytesMut::with_capacity(256);
        let mut seen = 0;
        while seen < setup.len() {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::other("closed during AUTH/SELECT"));
            }
            while let Ok(Some(n)) = resp::frame::frame_len(&buf) {
                let reply = buf.split_to(n);
                if reply.first() == Some(&b'-') {
                    return Err(std::io::Error::other(format!(
                        "backend refused setup: {}",
                        String::from_utf8_lossy(&reply).trim_end()
                    )));
                }
                seen += 1;
            }
        }
    }
    Ok(stream)
}

async fn run_connection(
    backend: std::sync::Weak<Backend>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    settings: ConnSettings,
) {
    while let Some(first) = rx.recv().await {
        let Some(b) = backend.upgrade() else {
            return;
        };
        let label = b.label.clone();
        let addr = b.addr.clone();
        if b.is_down() {
            fail_now(first, &mut rx, BackendError::Unavailable(label));
            continue;
        }
        match connect(&addr, &settings).await {
            Err(e) => {
                tracing::warn!(backend = %label, error = %e, "cannot connect to backend");
                b.record_failure(settings.retry_after);
                fail_now(first, &mut rx, BackendError::Unavailable(label));
            }
            Ok(stream) => {
                b.record_success();
                drop(b);
                serve(stream, first, &mut rx, &label, settings.request_timeout).await;
            }
        }
    }
}

/// Fails `first` and every request already queued.
fn fail_now(first: Request, rx: &mut mpsc::UnboundedReceiver<Request>, e: BackendError) {
    let _ = first.reply.send(Err(e.clone()));
    while let Ok(r) = rx.try_recv() {
        let _ = r.reply.send(Err(e.clone()));
    }
}

/// Runs one connection until it breaks; every request written on it is answered.
async fn serve(
    stream: tls::Stream,
    first: Request,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    label: &str,
    timeout: Option<Duration>,
) {
    match stream {
        // Plain TCP splits without a lock between the halves (the proxy's hot path).
        tls::Stream::Plain(tcp) => {
            let (read, write) = tcp.into_split();
            serve_halves(read, write, first, rx, label, timeout).await
        }
        tls => {
            let (read, write) = tokio::io::split(tls);
            serve_halves(read, write, first, rx, label, timeout).await
        }
    }
}

async fn serve_halves<R, W>(
    mut read: R,
    mut write: W,
    first: Request,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    label: &str,
    timeout: Option<Duration>,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    // Reply senders in request order, with when each request was written and how many
    // replies it waits for. One timer per connection checks the oldest, instead of a timer
    // per request.
    let inflight: Mutex<VecDeque<(Instant, u32, oneshot::Sender<Reply>)>> =
        Mutex::new(VecDeque::new());
    let mut pending = Some(first);
    let writer = async {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            let r = match pending.take() {
                Some(r) => r,
                None => match rx.recv().await {
                    Some(r) => r,
                    None => return,
                },
            };
            let now = Instant::now();
            buf.extend_from_slice(&r.payload);
            inflight.lock().push_back((now, r.replies, r.reply));
            while buf.len() < 64 * 1024 {
                match rx.try_recv() {
                    Ok(r) => {
                        buf.extend_from_slice(&r.payload);
                        inflight.lock().push_back((now, r.replies, r.reply));
                    }
                    Err(_) => break,
                }
            }
            if write.write_all(&buf).await.is_err() {
                return;
            }
            buf.clear();
        }
    };
    let reader = async {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            loop {
                // One lock per reply: find the oldest request's replies and hand them over.
                let mut waiting = inflight.lock();
                let Some(&(_, wanted, _)) = waiting.front() else {
                    drop(waiting);
                    if buf.is_empty() {
                        break;
                    }
                    return BackendError::Protocol(label.to_string());
                };
                match replies_len(&buf, wanted) {
                    Ok(Some(n)) => {
                        let (_, _, tx) = waiting.pop_front().expect("checked above");
                        drop(waiting);
                        let _ = tx.send(Ok(buf.split_to(n).freeze()));
                    }
                    Ok(None) => break,
                    Err(_) => return BackendError::Protocol(label.to_string()),
                }
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(16 * 1024);
            }
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return BackendError::Closed(label.to_string()),
                Ok(_) => {}
            }
        }
    };
    let watchdog = async {
        let Some(limit) = timeout else {
            return std::future::pending::<BackendError>().await;
        };
        let tick = (limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
        loop {
            tokio::time::sleep(tick).await;
            let oldest = inflight.lock().front().map(|(at, _, _)| *at);
            if oldest.is_some_and(|at| at.elapsed() > limit) {
                return BackendError::Timeout(label.to_string());
            }
        }
    };
    tokio::pin!(reader);
    let error = tokio::select! {
        e = watchdog => e,
        _ = writer => {
            // The pool let go of this backend (a reload): answer what is in flight, then
            // close.
            let drained = async {
                while !inflight.lock().is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                e = &mut reader => e,
                _ = drained => return,
                _ = tokio::time::sleep(Duration::from_secs(30)) => BackendError::Closed(label.to_string()),
            }
        }
        e = &mut reader => e,
    };
    tracing::warn!(backend = %label, error = %error, "backend connection ended");
    for (_, _, tx) in inflight.lock().drain(..) {
        let _ = tx.send(Err(error.clone()));
    }
}

/// The length of the first `count` complete replies in `buf` (`None` until all are there).
fn replies_len(buf: &[u8], count: u32) -> Result<Option<usize>, resp::frame::FrameError> {
    let mut at = 0;
    for _ in 0..count {
        match resp::frame::frame_len(&buf[at..])? {
            Some(n) => at += n,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}
