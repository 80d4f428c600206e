//! A minimal Redis client for the binary's own use (joining a cluster, `shardcache cluster
//! ...`): one connection per call, one command, one reply.

use std::time::Duration;

use resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one call may take (a membership change waits for Raft commits).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `args` to the node at `addr` (after AUTH with `password`, if any). The outer
/// error is a connection problem; the inner one the node's error reply.
pub async fn command(
    addr: &str,
    password: Option<&str>,
    args: &[String],
) -> std::io::Result<Result<Frame, String>> {
    tokio::time::timeout(CALL_TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut buf = Vec::new();
        if let Some(p) = password {
            if let Err(e) =
                call(&mut stream, &mut buf, &["AUTH".to_string(), p.to_string()]).await?
            {
                return Ok(Err(e));
            }
        }
        call(&mut stream, &mut buf, args).await
    })
    .await
    .map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{addr} did not answer"),
        )
    })?
}

async fn call(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    args: &[String],
) -> std::io::Result<Result<Frame, String>> {
    let request = Frame::Array(
        args.iter()
            .map(|a| Frame::Bulk(a.as_bytes().to_vec()))
            .collect(),
    );
    let mut out = Vec::new();
    request.encode(&mut out);
    stream.write_all(&out).await?;
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
