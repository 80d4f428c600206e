//! The cluster bus over TCP: Raft messages and membership requests between nodes on
//! `--cluster-port`.
//!
//! Every connection starts with a mutual challenge-response ([`crate::auth`]) proving that
//! both ends know the cluster secret; nothing else is read from a peer that has not proven
//! it. Then each frame is a 4-byte big-endian length and a JSON body; a connection carries
//! one request/reply exchange at a time (Raft's replication to one peer is sequential
//! anyway). The client keeps one connection per peer and reconnects after an error; an
//! unreachable peer is reported to Raft as such, which retries with backoff.
//!
//! With [`BusTls`] (`tls-cluster yes`) every connection is mutual TLS first — both ends
//! present a certificate from the cluster's CA — and the secret handshake runs inside it:
//! the frames, snapshots of the topology among them, never cross the network in the clear.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::auth::{client_handshake, server_handshake, BusSecret};
use crate::node::ClusterNode;
use crate::raft::{BoxFuture, BusRequest, BusResponse, LinkDown, Transport};

/// Largest frame accepted (a snapshot chunk of the topology is far smaller).
const MAX_FRAME: usize = 64 << 20;
/// How long one exchange may take before the peer counts as unreachable.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

async fn write_frame<S: AsyncWrite + Unpin>(s: &mut S, body: &[u8]) -> std::io::Result<()> {
    s.write_all(&(body.len() as u32).to_be_bytes()).await?;
    s.write_all(body).await
}

async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other("cluster bus frame too large"));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    Ok(body)
}

/// How many bus connections may be in their handshake at once; more are closed at once, so
/// a flood of half-open connections costs this node a bounded number of descriptors.
const MAX_HANDSHAKING: usize = 64;
/// How long a peer has to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// The bus's TLS: the acceptor (which requires a client certificate from the CA) and the
/// connector members dial each other with. Both reread their files on SIGHUP.
pub struct BusTls {
    pub acceptor: tls::Acceptor,
    pub connector: tls::Connector,
}

impl BusTls {
    fn reload(&self) {
        if let Err(e) = self
            .acceptor
            .reload()
            .and_then(|()| self.connector.reload())
        {
            tracing::warn!(error = %e, "cluster bus: TLS reload failed; the old certificates stay in use");
        } else {
            tracing::info!("cluster bus: TLS certificates reloaded");
        }
    }
}

/// Serves the bus: a connection that proves the secret (inside TLS, with [`BusTls`]) has
/// every request handed to the local node and its reply sent back; one that does not is
/// logged and closed.
pub async fn serve(listener: TcpListener, node: Arc<ClusterNode<TcpTransport>>) {
    let secret = node.transport().secret.clone();
    let tls = node.transport().tls.clone();
    let handshaking = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKING));
    let mut hangup = match &tls {
        Some(_) => tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        None => None,
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(()) = async { hangup.as_mut()?.recv().await } => {
                if let Some(t) = &tls {
                    t.reload();
                }
                continue;
            }
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, typically: back off instead of spinning.
                tracing::warn!(error = %e, "cluster bus: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = handshaking.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "cluster bus: too many connections in handshake; closing");
            continue;
        };
        let node = node.clone();
        let secret = secret.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let proven = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                let mut stream = match &tls {
                    Some(t) => t.acceptor.accept(tcp, HANDSHAKE_TIMEOUT).await?,
                    None => tls::Stream::Plain(tcp),
                };
                server_handshake(&mut stream, secret.as_ref()).await?;
                Ok::<_, std::io::Error>(stream)
            })
            .await;
            drop(permit);
            let mut stream = match proven {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "cluster bus: peer refused, frames dropped");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "cluster bus: handshake timed out, frames dropped");
                    return;
                }
            };
            while let Ok(body) = read_frame(&mut stream).await {
                let Ok(request) = serde_json::from_slice::<BusRequest>(&body) else {
                    tracing::warn!("cluster bus: undecodable request; closing the connection");
                    return;
                };
                let reply = node.handle(request).await;
                let Ok(bytes) = serde_json::to_vec(&reply) else {
                    return;
                };
                if write_frame(&mut stream, &bytes).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// One peer's connection, made on first use and dropped after an error.
type PeerConn = Arc<Mutex<Option<tls::Stream>>>;

/// The client side: one connection per peer bus address, each opened with the handshake.
#[derive(Clone, Default)]
pub struct TcpTransport {
    conns: Arc<Mutex<HashMap<String, PeerConn>>>,
    /// The cluster secret (`None`: an open bus, for a cluster without one).
    secret: Option<BusSecret>,
    /// TLS on the bus (`tls-cluster yes`).
    tls: Option<Arc<BusTls>>,
}

impl TcpTransport {
    pub fn new(secret: Option<BusSecret>, tls: Option<BusTls>) -> TcpTransport {
        TcpTransport {
            conns: Default::default(),
            secret,
            tls: tls.map(Arc::new),
        }
    }

    async fn exchange(&self, to: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let slot = self
            .conns
            .lock()
            .await
            .entry(to.to_string())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "bus timeout");
        // The connection is taken out of its slot for the exchange and put back only after
        // a whole request/reply: if this future is dropped mid-way (openraft gives up on a
        // heartbeat after 50 ms), the half-used stream is dropped with it. Put back, its
        // unread reply would be read as the answer to the *next* request — a stale success
        // that once counted as a fresh quorum acknowledgement.
        let mut s = match slot.take() {
            Some(s) => s,
            None => {
                let secret = self.secret.as_ref();
                tokio::time::timeout(EXCHANGE_TIMEOUT, async {
                    let tcp = TcpStream::connect(to).await?;
                    tcp.set_nodelay(true)?;
                    let mut s = match &self.tls {
                        Some(t) => {
                            let host = to.rsplit_once(':').map_or(to, |(h, _)| h);
                            t.connector.connect(host, tcp).await?
                        }
                        None => tls::Stream::Plain(tcp),
                    };
                    client_handshake(&mut s, secret).await?;
                    Ok::<_, std::io::Error>(s)
                })
                .await
                .map_err(|_| timed_out())??
            }
        };
        let reply = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            write_frame(&mut s, body).await?;
            read_frame(&mut s).await
        })
        .await
        .unwrap_or_else(|_| Err(timed_out()))?;
        *slot = Some(s);
        Ok(reply)
    }
}

impl Transport for TcpTransport {
    fn send(
        &self,
        _from: &str,
        to: &str,
        request: BusRequest,
    ) -> BoxFuture<Result<BusResponse, LinkDown>> {
        let this = self.clone();
        let to = to.to_string();
        Box::pin(async move {
            let down = |e: &dyn std::fmt::Display| LinkDown(format!("{to} ({e})"));
            let body = serde_json::to_vec(&request).map_err(|e| down(&e))?;
            let reply = this.exchange(&to, &body).await.map_err(|e| down(&e))?;
            serde_json::from_slice(&reply).map_err(|e| down(&e))
        })
    }
}
