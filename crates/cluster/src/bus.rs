//! The cluster bus over TCP: Raft messages and membership requests between nodes on
//! `--cluster-port`.
//!
//! Each frame is a 4-byte big-endian length and a JSON body; a connection carries one
//! request/reply exchange at a time (Raft's replication to one peer is sequential anyway).
//! The client keeps one connection per peer and reconnects after an error; an unreachable
//! peer is reported to Raft as such, which retries with backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::node::ClusterNode;
use crate::raft::{BoxFuture, BusRequest, BusResponse, LinkDown, Transport};

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

/// Serves the bus: every request is handed to the local node and its reply sent back.
pub async fn serve(listener: TcpListener, node: Arc<ClusterNode<TcpTransport>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
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
type PeerConn = Arc<Mutex<Option<TcpStream>>>;

/// The client side: one connection per peer bus address.
#[derive(Clone, Default)]
pub struct TcpTransport {
    conns: Arc<Mutex<HashMap<String, PeerConn>>>,
}

impl TcpTransport {
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
                let s = tokio::time::timeout(EXCHANGE_TIMEOUT, TcpStream::connect(to))
                    .await
                    .map_err(|_| timed_out())??;
                s.set_nodelay(true)?;
                s
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
