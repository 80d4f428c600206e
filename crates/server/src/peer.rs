//! A minimal Redis client for talking to other nodes: joining a cluster, `shardcache cluster
//! ...`, and the admin API's cluster-wide stats and clear. Requests and replies in turn.
//!
//! Links between members go where [`member_addr`] says and over TLS when the node has a
//! [`crate::Shared::member_tls`] connector (`tls-cluster yes`): then nothing between members
//! crosses the network in the clear.

use std::time::Duration;

use resp::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one call may take (a membership change waits for Raft commits).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection to another node.
pub struct Peer {
    stream: tls::Stream,
    buf: Vec<u8>,
    /// Commands queued with [`Peer::queue`], sent by [`Peer::flush`].
    out: Vec<u8>,
}

impl Peer {
    /// Connects (and AUTHs with `password`, if any).
    pub async fn connect(addr: &str, password: Option<&str>) -> std::io::Result<Peer> {
        Peer::connect_via(addr, password, None).await
    }

    /// Connects over TLS when `tls` is given (and AUTHs with `password`, if any).
    pub async fn connect_via(
        addr: &str,
        password: Option<&str>,
        tls: Option<&tls::Connector>,
    ) -> std::io::Result<Peer> {
        let stream = tokio::time::timeout(CALL_TIMEOUT, dial(addr, tls))
            .await
            .map_err(|_| timed_out(addr))??;
        let mut peer = Peer {
            stream,
            buf: Vec::new(),
            out: Vec::new(),
        };
        if let Some(p) = password {
            if let Err(e) = peer.call(&["AUTH".to_string(), p.to_string()]).await? {
                return Err(std::io::Error::other(format!("{addr}: {e}")));
            }
        }
        Ok(peer)
    }

    /// Sends one command and reads its reply. The outer error is a connection problem;
    /// the inner one the node's error reply.
    pub async fn call<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
    ) -> std::io::Result<Result<Frame, String>> {
        tokio::time::timeout(CALL_TIMEOUT, call(&mut self.stream, &mut self.buf, args))
            .await
            .map_err(|_| timed_out("the node"))?
    }
}

impl Peer {
    /// Queues a command without waiting for its reply (a pipeline: [`Peer::flush`], then
    /// one [`Peer::reply`] per queued command, in order).
    pub fn queue<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        resp::request::encode_command(args, &mut self.out);
    }

    /// Bytes queued and not yet sent.
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Sends what was queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        let sent = tokio::time::timeout(CALL_TIMEOUT, self.stream.write_all(&out))
            .await
            .map_err(|_| timed_out("the node"))?;
        self.out = out;
        self.out.clear();
        sent
    }

    /// The next reply of a pipeline.
    pub async fn reply(&mut self) -> std::io::Result<Result<Frame, String>> {
        tokio::time::timeout(CALL_TIMEOUT, read_reply(&mut self.stream, &mut self.buf))
            .await
            .map_err(|_| timed_out("the node"))?
    }
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} did not answer"),
    )
}

/// Sends `args` to the node at `addr` on a connection of its own (after AUTH with
/// `password`, if any). The outer error is a connection problem; the inner one the node's
/// error reply.
pub async fn command(
    addr: &str,
    password: Option<&str>,
    args: &[String],
) -> std::io::Result<Result<Frame, String>> {
    let mut peer = match Peer::connect(addr, password).await {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::Other => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    peer.call(args).await
}

/// Opens a connection to `addr`: TCP, then the TLS handshake when `tls` is given.
pub async fn dial(addr: &str, tls: Option<&tls::Connector>) -> std::io::Result<tls::Stream> {
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(tls::Stream::Plain(tcp)),
        Some(connector) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            connector.connect(host, tcp).await
        }
    }
}

/// The address this node reaches member `n` at: its TLS port when links between members
/// use TLS (`tls-cluster yes`), else its client port.
pub fn member_addr(shared: &crate::Shared, n: &placement::topology::Node) -> String {
    let port = crate::cluster::client_port(n, shared.member_tls.is_some());
    format!("{}:{port}", n.host)
}

/// A connection to member `n` (see [`member_addr`]), authenticated with this node's
/// `requirepass` (members of a cluster share it).
pub async fn connect_member(
    shared: &crate::Shared,
    n: &placement::topology::Node,
) -> std::io::Result<Peer> {
    let password = shared.live.requirepass();
    Peer::connect_via(
        &member_addr(shared, n),
        password.as_deref(),
        shared.member_tls.as_deref(),
    )
    .await
}

async fn call<S: AsyncRead + AsyncWrite + Unpin, A: AsRef<[u8]>>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    args: &[A],
) -> std::io::Result<Result<Frame, String>> {
    let request = Frame::Array(
        args.iter()
            .map(|a| Frame::Bulk(a.as_ref().to_vec()))
            .collect(),
    );
    let mut out = Vec::new();
    request.encode(&mut out);
    stream.write_all(&out).await?;
    read_reply(stream, buf).await
}

/// Reads one reply, keeping what follows it in `buf`.
async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Result<Frame, String>> {
    loop {
        if let Some((frame, used)) = Frame::parse(buf).map_err(std::io::Error::other)? {
            buf.drain(..used);
            return Ok(match frame {
                Frame::Error(e) => Err(e),
                other => Ok(other),
            });
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the reply",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
