//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//!   [AUTH password | AUTH2 username password] [KEYS key [key ...]]
use std::time::Duration;

use resp::{Args, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// One key on its way: name and the RESTORE that recreates it on the target.
struct Moving {
    key: Vec<u8>,
    restore: Vec<u8>,
}

/// Sends the keys to another Redis-protocol server as DUMP payloads (RESTORE, or
/// RESTORE-ASKING in cluster mode) over one pipelined connection, then deletes the keys the
/// target accepted (unless COPY). Replies and errors are Redis 7.0's (`+NOKEY`, `-IOERR ...`,
/// `-ERR Target instance replied with error: ...`).
///
/// Unlike Redis, the node does not stop serving other clients during the transfer: the
/// payloads are taken when the command runs, and a key written by another client before the
/// target answers is deleted with the rest (as if that write had come first).
pub fn migrate(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<Vec<Vec<u8>>> = None;
    let mut keys: Vec<&[u8]> = vec![args.get(3)];
    let mut j = 6;
    while j < args.len() {
        let a = args.get(j);
        let more = args.len() - j - 1;
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            auth = Some(vec![b"AUTH".to_vec(), args.get(j + 1).to_vec()]);
            j += 1;
        } else if is(a, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            auth = Some(vec![
                b"AUTH".to_vec(),
                args.get(j + 1).to_vec(),
                args.get(j + 2).to_vec(),
            ]);
            j += 2;
        } else if is(a, "keys") {
            if !args.get(3).is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = (j + 1..args.len()).map(|i| args.get(i)).collect();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = int_arg(args.get(5))?;
    let db = int_arg(args.get(4))?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "MIGRATE cannot run inside a transaction on this server",
        ));
    }
    let verb: &[u8] = if ctx.shared.cluster.is_some() {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let ks = &ctx.shared.keyspace;
    let mut moving = Vec::new();
    for key in keys {
        let h = ks.hash(key);
        let mut shard = ks.lock(h);
        let Some(e) = shard.peek(h, key, ctx.now) else {
            continue;
        };
        let payload = crate::rdbconv::with_view(e.value(), rdb::dump::encode_view);
        let ttl = e
            .expire_at()
            .map_or(0, |at| at.saturating_sub(ctx.now).max(1));
        let ttl = ttl.to_string();
        let mut cmd: Vec<&[u8]> = vec![verb, key, ttl.as_bytes(), &payload];
        if replace {
            cmd.push(b"REPLACE");
        }
        let mut restore = Vec::new();
        resp::request::encode_command(&cmd, &mut restore);
        moving.push(Moving {
            key: key.to_vec(),
            restore,
        });
    }
    if moving.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let addr = format!(
        "{}:{}",
        String::from_utf8_lossy(args.get(1)),
        String::from_utf8_lossy(args.get(2))
    );
    let db = db.to_string();
    ctx.client.pending = Some(crate::Pending::Then(Box::pin(async move {
        let outcome = transfer(&addr, auth, &db, &moving, timeout).await;
        Box::new(move |shared: &crate::Shared, out: &mut resp::ReplyWriter| {
            let (accepted, reply) = match outcome {
                Ok(r) => r,
                Err(e) => (Vec::new(), Err(e)),
            };
            if !copy {
                let now = crate::unix_ms();
                for i in accepted {
                    let key = &moving[i].key;
                    let h = shared.keyspace.hash(key);
                    shared.keyspace.lock(h).remove(h, key, now);
                }
            }
            match reply {
                Ok(()) => out.ok(),
                Err(e) => {
                    shared
                        .stats
                        .count_error(e.split(' ').next().unwrap_or("ERR"));
                    out.error(&e);
                }
            }
        }) as crate::Finish
    })));
    Ok(())
}

/// The transfer: which keys the target accepted, and the command's reply (`Err` = the error
/// line without its `-`). An I/O failure (outer `Err`) accepted nothing that is known.
async fn transfer(
    addr: &str,
    auth: Option<Vec<Vec<u8>>>,
    db: &str,
    moving: &[Moving],
    timeout: Duration,
) -> Result<(Vec<usize>, Result<(), String>), String> {
    let write_error = || "IOERR error or timeout writing to target instance".to_string();
    // Redis connects without blocking and waits for the socket to be writable: a refused
    // connection shows up as a failed write, only silence as a failed connect.
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Err(write_error()),
        Err(_) => return Err("IOERR error or timeout connecting to the client".to_string()),
    };
    let _ = stream.set_nodelay(true);
    let mut wire = Vec::new();
    if let Some(a) = &auth {
        resp::request::encode_command(a, &mut wire);
    }
    resp::request::encode_command(&[&b"SELECT"[..], db.as_bytes()], &mut wire);
    for m in moving {
        wire.extend_from_slice(&m.restore);
    }
    tokio::time::timeout(timeout, stream.write_all(&wire))
        .await
        .map_err(|_| write_error())?
        .map_err(|_| write_error())?;
    let mut buf = Vec::new();
    let mut replies = Replies {
        stream: &mut stream,
        buf: &mut buf,
        timeout,
    };
    let target_error = |e: String| format!("ERR Target instance replied with error: {e}");
    for _ in auth.iter().chain(std::iter::once(&Vec::new())) {
        // AUTH (if sent), then SELECT.
        if let Frame::Error(e) = replies.next().await? {
            return Ok((Vec::new(), Err(target_error(e))));
        }
    }
    let mut accepted = Vec::new();
    let mut failure = None;
    for i in 0..moving.len() {
        match replies.next().await? {
            Frame::Error(e) => failure = Some(target_error(e)),
            _ => accepted.push(i),
        }
    }
    Ok((accepted, failure.map_or(Ok(()), Err)))
}

struct Replies<'a> {
    stream: &'a mut TcpStream,
    buf: &'a mut Vec<u8>,
    timeout: Duration,
}

impl Replies<'_> {
    async fn next(&mut self) -> Result<Frame, String> {
        let read_error = || "IOERR error or timeout reading to target instance".to_string();
        loop {
            if let Some((frame, used)) = Frame::parse(self.buf).map_err(|_| read_error())? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk))
                .await
                .map_err(|_| read_error())?
                .map_err(|_| read_error())?;
            if n == 0 {
                return Err(read_error());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
