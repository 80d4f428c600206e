//! The source's connection to the target of a migration: commands are pipelined (written
//! without waiting), a reader task counts the replies, and the driver waits only where it
//! must know the target applied everything (before the switch) or to bound what is in flight.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use resp::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// How long the target may take to answer what was sent before the link is given up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Replies {
    acked: AtomicU64,
    /// The first error reply since the last [`Link::sync`].
    error: Mutex<Option<String>>,
    closed: AtomicBool,
    arrived: Notify,
}

pub struct Link {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    out: Vec<u8>,
    /// Commands queued or sent so far.
    sent: u64,
    replies: Arc<Replies>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Link {
    /// Connects to `addr`, over TLS when `tls` is given (and AUTHs with `password`, if any).
    pub async fn connect(
        addr: &str,
        password: Option<&str>,
        tls: Option<&tls::Connector>,
    ) -> Result<Link, String> {
        let stream = tokio::time::timeout(Duration::from_secs(5), crate::peer::dial(addr, tls))
            .await
            .map_err(|_| format!("{addr}: connect timed out"))?
            .map_err(|e| format!("{addr}: {e}"))?;
        // A plain stream splits into owned halves (no lock between reader and writer); a
        // TLS one shares its session state between them.
        let (reader, writer): (
            Box<dyn AsyncRead + Send + Unpin>,
            Box<dyn AsyncWrite + Send + Unpin>,
        ) = match stream {
            tls::Stream::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (Box::new(r), Box::new(w))
            }
            tls => {
                let (r, w) = tokio::io::split(tls);
                (Box::new(r), Box::new(w))
            }
        };
        let mut reader = reader;
        let replies = Arc::new(Replies::default());
        let counted = replies.clone();
        let reader = tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut used = 0;
                let mut count = 0;
                while let Ok(Some((frame, len))) = Frame::parse(&buf[used..]) {
                    used += len;
                    count += 1;
                    if let Frame::Error(e) = frame {
                        counted.error.lock().get_or_insert(e);
                    }
                }
                buf.drain(..used);
                if count > 0 {
                    counted.acked.fetch_add(count, Ordering::AcqRel);
                    counted.arrived.notify_waiters();
                }
            }
            counted.closed.store(true, Ordering::Release);
            counted.arrived.notify_waiters();
        });
        let mut link = Link {
            writer,
            out: Vec::new(),
            sent: 0,
            replies,
            reader,
        };
        if let Some(p) = password {
            link.send(&[&b"AUTH"[..], p.as_bytes()]);
            link.sync().await?;
        }
        Ok(link)
    }

    /// Queues a command (sent by the next flush).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        resp::request::encode_command(args, &mut self.out);
        self.sent += 1;
    }

    /// Commands queued or sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes queued and not sent yet.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Sends what is queued; answers how many bytes.
    pub async fn flush(&mut self) -> Result<usize, String> {
        let n = self.out.len();
        if n == 0 {
            return Ok(0);
        }
        tokio::time::timeout(REPLY_TIMEOUT, self.writer.write_all(&self.out))
            .await
            .map_err(|_| "the target stopped reading".to_string())?
            .map_err(|e| format!("the link to the target broke: {e}"))?;
        self.out.clear();
        Ok(n)
    }

    /// Waits until at most `in_flight` commands are unanswered.
    pub async fn bound(&mut self, in_flight: u64) -> Result<(), String> {
        let wanted = self.sent.saturating_sub(in_flight);
        loop {
            let arrived = self.replies.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.replies.acked.load(Ordering::Acquire) >= wanted {
                return Ok(());
            }
            if self.replies.closed.load(Ordering::Acquire) {
                return Err("the target closed the link".into());
            }
            if tokio::time::timeout(REPLY_TIMEOUT, arrived).await.is_err() {
                return Err("the target did not answer in time".into());
            }
        }
    }

    /// Sends what is queued and waits for every reply: the target has applied everything
    /// sent. Answers the first error reply since the last sync, if any.
    pub async fn sync(&mut self) -> Result<(), String> {
        self.flush().await?;
        self.bound(0).await?;
        match self.replies.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
