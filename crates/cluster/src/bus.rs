//! The cluster bus over TCP: Raft messages between nodes on `--cluster-port`.
//!
//! Each frame is a 4-byte big-endian length and a JSON body; a connection carries one
//! request/reply exchange at a time (Raft's replication to one peer is sequential anyway).
//! The client keeps one connection per peer and reconnects after an error; an unreachable
//! peer is reported to Raft as such, which retries with backoff.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::raft::{deliver, LinkDown, NodeId, Raft, RaftRequest, RaftResponse, Transport};

/// Largest frame accepted (a snapshot chunk of the topology is far smaller).
const MAX_FRAME: usize = 64 << 20;
/// How long one exchange may take before the peer counts as unreachable.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

async fn write_frame(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    s.write_all(&(body.len() as u32).to_be_bytes()).await?;
    s.write_all(body).await
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
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

/// Serves the bus: every request is handed to the local Raft and its reply sent back.
pub async fn serve(listener: TcpListener, raft: Raft) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let raft = raft.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            while let Ok(body) = read_frame(&mut stream).await {
                let Ok(request) = serde_json::from_slice::<RaftRequest>(&body) else {
                    tracing::warn!("cluster bus: undecodable request; closing the connection");
                    return;
                };
                let reply = deliver(&raft, request).await;
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
type PeerConn = Arc<Mutex<Option<TcpStream>>>;

/// The client side: peers by Raft id.
#[derive(Clone, Default)]
pub struct TcpTransport {
    peers: Arc<std::sync::RwLock<HashMap<NodeId, SocketAddr>>>,
    conns: Arc<Mutex<HashMap<NodeId, PeerConn>>>,
}

impl TcpTransport {
    /// Sets (or changes) where a peer's bus listens.
    pub fn set_peer(&self, id: NodeId, addr: SocketAddr) {
        self.peers.write().expect("peers lock").insert(id, addr);
    }

    async fn exchange(&self, to: NodeId, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let addr = self
            .peers
            .read()
            .expect("peers lock")
            .get(&to)
            .copied()
            .ok_or_else(|| std::io::Error::other("unknown peer"))?;
        let slot = self.conns.lock().await.entry(to).or_default().clone();
        let mut conn = slot.lock().await;
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "bus timeout");
        if conn.is_none() {
            let s = tokio::time::timeout(EXCHANGE_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| timed_out())??;
            s.set_nodelay(true)?;
            *conn = Some(s);
        }
        let s = conn.as_mut().expect("connected above");
        let result = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            write_frame(s, body).await?;
            read_frame(s).await
        })
        .await
        .unwrap_or_else(|_| Err(timed_out()));
        if result.is_err() {
            // A half-finished exchange leaves the stream out of step: start afresh.
            *conn = None;
        }
        result
    }
}

impl Transport for TcpTransport {
    async fn send(
        &self,
        _from: NodeId,
        to: NodeId,
        request: RaftRequest,
    ) -> Result<RaftResponse, LinkDown> {
        let body = serde_json::to_vec(&request).map_err(|_| LinkDown(to))?;
        let reply = self.exchange(to, &body).await.map_err(|_| LinkDown(to))?;
        serde_json::from_slice(&reply).map_err(|_| LinkDown(to))
    }
}
