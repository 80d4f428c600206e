//! One client connection: parse a batch of pipelined commands, send each to its backend(s),
//! and answer in order as the replies come back.
//!
//! Bounds, so one client cannot grow the proxy without limit or hold up the others:
//! - at most [`MAX_IN_FLIGHT`] of a client's commands wait for backend replies at once (a
//!   deeper pipeline is dispatched as replies come back), and replies are written out as
//!   soon as [`FLUSH_AT`] bytes wait: a client that does not read stops being served, and
//!   holds at most that many replies, instead of the proxy buffering all it asked for;
//! - Redis's `client-output-buffer-limit normal` (hard, and soft for some seconds) and
//!   `client-query-buffer-limit` disconnect a client, with a log line;
//! - every connection is its own task, so a blocked client never stalls the event loop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use resp::{Args, Frame, Limits, Parsed, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::backend::{BackendError, Reply};
use crate::commands::{route, same_backend_keys, Combine, Route};
use crate::config::OutputLimit;
use crate::pool::Pool;
use crate::resp3::{shape, to_resp3, Shape};
use crate::users::UserId;
use crate::PoolSlot;

/// Commands of one client waiting for backend replies at once.
const MAX_IN_FLIGHT: usize = 32;
/// Replies are written once this many bytes wait.
const FLUSH_AT: usize = 64 * 1024;

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// How to turn a command's backend replies into its reply.
enum Assemble {
    /// MGET: part `p` holds the values for these positions of the result.
    MGet(Vec<Vec<usize>>, usize),
    Sum,
    AllOk,
    Concat,
    /// SCAN on backend `index` of `count`.
    Scan {
        index: usize,
        count: usize,
    },
    /// INFO: the backends' keyspace lines summed.
    Info,
    /// SCRIPT LOAD (`Same`: every backend's reply, equal), EXISTS (`AllOf`: 1 where every
    /// backend says 1) or FLUSH (`AllOk`).
    Same,
    AllOf,
}

/// A reply being waited for.
enum Pending {
    Ready(Bytes),
    One {
        backend: usize,
        rx: oneshot::Receiver<Reply>,
        started: Instant,
        /// Counted as a cache read (GET): hit or miss by the reply.
        read: bool,
        /// For a RESP3 client: how to reshape the backend's RESP2 reply.
        resp3: Option<Shape>,
    },
    Many {
        parts: Vec<(usize, oneshot::Receiver<Reply>)>,
        assemble: Assemble,
    },
    /// A reply built here, encoded for the client's protocol.
    Local(Frame),
}

fn error(msg: &str) -> Pending {
    Pending::Ready(Bytes::from(format!("-{msg}\r\n")))
}

fn encode(args: &[&[u8]]) -> Bytes {
    let mut wire = Vec::new();
    resp::request::encode_command(args, &mut wire);
    Bytes::from(wire)
}

struct Client {
    pool: Arc<Pool>,
    id: u64,
    /// Who the client is (`None`: not authenticated yet).
    user: Option<UserId>,
    name: Option<Vec<u8>>,
    close: bool,
    /// 2 or 3, as chosen with HELLO.
    protocol: u8,
}

pub async fn serve(slot: Arc<PoolSlot>, mut stream: tls::Stream) {
    let _ = stream.set_nodelay(true);
    let pool = slot.get();
    let mut client = Client {
        user: pool.users.open().then_some(crate::users::DEFAULT),
        pool,
        id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
        name: None,
        close: false,
        protocol: 2,
    };
    let mut parser = RequestParser::new();
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut in_flight: VecDeque<Pending> = VecDeque::with_capacity(MAX_IN_FLIGHT);
    loop {
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        match stream.read_buf(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let query_limit = client.pool.config.client_query_buffer_limit;
        if rbuf.len() as u64 > query_limit {
            tracing::warn!(
                client = client.id,
                bytes = rbuf.len(),
                limit = query_limit,
                "closing client that reached max query buffer length"
            );
            return;
        }
        // A reload takes effect at the next batch; replies already awaited come from the
        // pool that was asked.
        client.pool = slot.get();
        let limit = client.pool.config.client_output_limit;
        let mut consumed = 0;
        loop {
            let limits = Limits {
                authenticated: client.user.is_some(),
                ..Limits::default()
            };
            let buf = &rbuf[consumed..];
            match parser.parse(buf, &limits) {
                Ok(Parsed::Command { consumed: used }) => {
                    let args = parser.args(buf);
                    let raw = &buf[..used];
                    in_flight.push_back(client.dispatch(args, raw));
                    consumed += used;
                    if client.close {
                        break;
                    }
                    // A deep pipeline waits for its oldest replies before sending more.
                    if in_flight.len() >= MAX_IN_FLIGHT {
                        let oldest = in_flight.pop_front().expect("in flight");
                        client.resolve(oldest, &mut out).await;
                        if out.len() >= FLUSH_AT
                            && !client.flush(&mut stream, &mut out, limit).await
                        {
                            return;
                        }
                    }
                }
                Ok(Parsed::Empty { consumed: used }) => consumed += used,
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    in_flight.push_back(error(&format!("ERR {e}")));
                    client.close = true;
                    break;
                }
            }
        }
        rbuf.advance(consumed);
        while let Some(p) = in_flight.pop_front() {
            client.resolve(p, &mut out).await;
            if out.len() >= FLUSH_AT && !client.flush(&mut stream, &mut out, limit).await {
                return;
            }
        }
        if !client.flush(&mut stream, &mut out, limit).await || client.close {
            return;
        }
    }
}

impl Client {
    /// Writes the waiting replies. Past the hard output limit the client is disconnected at
    /// once; past the soft limit, if the client does not take them within the soft seconds.
    /// `false`: the client is gone or was disconnected.
    async fn flush(&self, stream: &mut tls::Stream, out: &mut Vec<u8>, limit: OutputLimit) -> bool {
        if out.is_empty() {
            return true;
        }
        let held = out.len() as u64;
        if limit.hard > 0 && held > limit.hard {
            tracing::warn!(
                client = self.id,
                bytes = held,
                hard = limit.hard,
                "closing client that reached the output buffer hard limit"
            );
            return false;
        }
        let write = stream.write_all(out);
        let written = if limit.soft > 0 && held > limit.soft {
            let patience = std::time::Duration::from_secs(limit.soft_seconds);
            match tokio::time::timeout(patience, write).await {
                Ok(r) => r.is_ok(),
                Err(_) => {
                    tracing::warn!(
                        client = self.id,
                        bytes = held,
                        soft = limit.soft,
                        seconds = limit.soft_seconds,
                        "closing client that stayed over the output buffer soft limit"
                    );
                    false
                }
            }
        } else {
            write.await.is_ok()
        };
        out.clear();
        written
    }

    fn dispatch(&mut self, args: Args<'_>, raw: &[u8]) -> Pending {
        // The command name, lowercased on the stack (no allocation on the hot path).
        let mut lower = [0u8; 24];
        let name = match args.get(0) {
            n if n.len() <= lower.len() => {
                let l = &mut lower[..n.len()];
                l.copy_from_slice(n);
                l.make_ascii_lowercase();
                std::str::from_utf8(l).unwrap_or("")
            }
            _ => "",
        };
        self.pool
            .stats
            .total_requests
            .fetch_add(1, Ordering::Relaxed);
        let Some(user) = self.user else {
            if !matches!(name, "auth" | "hello" | "quit") {
                return error("NOAUTH Authentication required.");
            }
            return self.local(name, &args.iter().collect::<Vec<_>>());
        };
        if self.pool.users.restricted() {
            if let Err(e) = self.pool.users.check(user, args) {
                return error(&e);
            }
        }
        let Some(r) = route(name) else {
            return error(&format!(
                "ERR unknown or unsupported command '{}' (shardcache proxy)",
                String::from_utf8_lossy(args.get(0))
            ));
        };
        let arity = || {
            error(&format!(
                "ERR wrong number of arguments for '{name}' command"
            ))
        };
        if r == Route::Key {
            // The common case: one key, the client's bytes forwarded as they are.
            if args.len() < 2 {
                return arity();
            }
            if name == "set" {
                self.pool.stats.sets.fetch_add(1, Ordering::Relaxed);
            }
            let argv = || args.iter().collect::<Vec<&[u8]>>();
            let payload = match self.pool.config.default_ttl {
                Some(ttl) if name == "set" && !has_ttl_option(&argv()) => {
                    let ttl = ttl.to_string();
                    let mut with = argv();
                    with.push(b"EX");
                    with.push(ttl.as_bytes());
                    encode(&with)
                }
                _ if raw.first() == Some(&b'*') => Bytes::copy_from_slice(raw),
                _ => encode(&argv()),
            };
            let resp3 = (self.protocol >= 3).then(|| shape(name, &argv()));
            return self.one(args.get(1), payload, name == "get", resp3);
        }
        let argv: Vec<&[u8]> = args.iter().collect();
        match r {
            Route::Refused(why) => error(&format!("ERR {why}")),
            Route::Local => self.local(name, &argv),
            Route::Key => unreachable!("handled above"),
            Route::MGet | Route::SumKeys => {
                if argv.len() < 2 {
                    return arity();
                }
                let groups = match self.group(argv[1..].iter().copied()) {
                    Ok(g) => g,
                    Err(p) => return p,
                };
                let count = argv.len() - 1;
                let mut parts = Vec::new();
                let mut positions = Vec::new();
                for (b, idx) in groups {
                    let mut sub = vec![argv[0]];
                    sub.extend(idx.iter().map(|&i| argv[1 + i]));
                    parts.push((b, self.pool.backends[b].send(encode(&sub))));
                    positions.push(idx);
                }
                let assemble = if r == Route::MGet {
                    Assemble::MGet(positions, count)
                } else {
                    Assemble::Sum
                };
                Pending::Many { parts, assemble }
            }
            Route::MSet => {
                if argv.len() < 3 || argv.len().is_multiple_of(2) {
                    return arity();
                }
                self.pool.stats.sets.fetch_add(1, Ordering::Relaxed);
                let keys = argv[1..].iter().step_by(2).copied();
                let groups = match self.group(keys) {
                    Ok(g) => g,
                    Err(p) => return p,
                };
                let mut parts = Vec::new();
                for (b, idx) in groups {
                    let mut sub = vec![argv[0]];
                    for i in idx {
                        sub.push(argv[1 + 2 * i]);
                        sub.push(argv[2 + 2 * i]);
                    }
                    parts.push((b, self.pool.backends[b].send(encode(&sub))));
                }
                Pending::Many {
                    parts,
                    assemble: Assemble::AllOk,
                }
            }
            Route::SameBackend(spec) => {
                let Some(positions) = same_backend_keys(spec, &argv) else {
                    if spec == crate::commands::KeySpec::Script {
                        if argv.len() < 3 {
                            return arity();
                        }
                        return error(&format!(
                            "ERR '{name}' needs at least one key through the proxy: a script runs on the backend of its keys"
                        ));
                    }
                    // Let the first key's backend report the arity or syntax error.
                    return if argv.len() > 1 {
                        self.one(argv[1], encode(&argv), false, None)
                    } else {
                        arity()
                    };
                };
                let ring = self.pool.ring();
                let targets: Vec<Option<usize>> =
                    positions.iter().map(|&i| ring.pick(argv[i])).collect();
                if targets.iter().any(|t| t.is_none()) {
                    return error("ERR no backend is available for these keys");
                }
                if targets.windows(2).any(|w| w[0] != w[1]) {
                    return error(&format!(
                        "CROSSSLOT Keys in request don't hash to the same backend: '{name}' cannot be split, give the keys a common hash tag"
                    ));
                }
                let resp3 = (self.protocol >= 3).then(|| shape(name, &argv));
                self.one(argv[positions[0]], encode(&argv), false, resp3)
            }
            Route::Broadcast(combine) => {
                if combine == Combine::Script && args.len() < 2 {
                    return arity();
                }
                let script_sub = if combine == Combine::Script {
                    args.get(1).to_ascii_lowercase()
                } else {
                    Vec::new()
                };
                if combine == Combine::Script
                    && !matches!(script_sub.as_slice(), b"load" | b"exists" | b"flush")
                {
                    return error(
                        "ERR only SCRIPT LOAD, EXISTS and FLUSH go through the proxy (to every backend)",
                    );
                }
                let payload = if combine == Combine::Info {
                    encode(&[b"INFO", b"keyspace"])
                } else {
                    encode(&argv)
                };
                let parts = (0..self.pool.backends.len())
                    .map(|b| (b, self.pool.backends[b].send(payload.clone())))
                    .collect();
                let assemble = match combine {
                    Combine::Concat => Assemble::Concat,
                    Combine::Sum => Assemble::Sum,
                    Combine::AllOk => Assemble::AllOk,
                    Combine::Info => Assemble::Info,
                    Combine::Script => match script_sub.as_slice() {
                        b"load" => Assemble::Same,
                        b"exists" => Assemble::AllOf,
                        _ => Assemble::AllOk,
                    },
                };
                Pending::Many { parts, assemble }
            }
            Route::Scan => self.scan(&argv),
        }
    }

    /// Sends a single-backend command, chosen by `key`.
    fn one(&self, key: &[u8], payload: Bytes, read: bool, resp3: Option<Shape>) -> Pending {
        match self.pool.backend_for(key) {
            None => error("ERR no backend is available"),
            Some(b) => Pending::One {
                backend: b,
                rx: self.pool.backends[b].send(payload),
                started: Instant::now(),
                read,
                resp3,
            },
        }
    }

    /// Groups key positions by backend, in first-seen order.
    fn group<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Result<Vec<(usize, Vec<usize>)>, Pending> {
        let ring = self.pool.ring();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, k) in keys.enumerate() {
            let Some(b) = ring.pick(k) else {
                return Err(error("ERR no backend is available"));
            };
            match groups.iter_mut().find(|(g, _)| *g == b) {
                Some((_, v)) => v.push(i),
                None => groups.push((b, vec![i])),
            }
        }
        Ok(groups)
    }

    /// SCAN: the proxy's cursor names the backend and its cursor ([`crate::cursors`]).
    fn scan(&self, argv: &[&[u8]]) -> Pending {
        if argv.len() < 2 {
            return error("ERR wrong number of arguments for 'scan' command");
        }
        let Some((index, inner)) = std::str::from_utf8(argv[1])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|c| self.pool.cursors.decode(c))
        else {
            return error("ERR invalid cursor");
        };
        let count = self.pool.backends.len();
        if index >= count || count > 256 {
            return error("ERR invalid cursor");
        }
        let inner = inner.to_string();
        let mut sub: Vec<&[u8]> = argv.to_vec();
        sub[1] = inner.as_bytes();
        Pending::Many {
            parts: vec![(index, self.pool.backends[index].send(encode(&sub)))],
            assemble: Assemble::Scan { index, count },
        }
    }

    fn local(&mut self, name: &str, argv: &[&[u8]]) -> Pending {
        let bulk = |b: &[u8]| {
            let mut v = format!("${}\r\n", b.len()).into_bytes();
            v.extend_from_slice(b);
            v.extend_from_slice(b"\r\n");
            Pending::Ready(Bytes::from(v))
        };
        let ok = || Pending::Ready(Bytes::from_static(b"+OK\r\n"));
        let arity = || {
            error(&format!(
                "ERR wrong number of arguments for '{name}' command"
            ))
        };
        match name {
            "ping" => match argv.len() {
                1 => Pending::Ready(Bytes::from_static(b"+PONG\r\n")),
                2 => bulk(argv[1]),
                _ => arity(),
            },
            "echo" if argv.len() == 2 => bulk(argv[1]),
            "quit" => {
                self.close = true;
                ok()
            }
            "auth" => match crate::hello::auth(&self.pool.users, argv, self.id) {
                Ok(user) => {
                    self.user = Some(user);
                    ok()
                }
                Err(e) => error(&e),
            },
            "acl" => Pending::Local(crate::hello::acl(&self.pool.users, self.user, argv)),
            "select" => match argv.get(1).copied() {
                Some(b"0") if argv.len() == 2 => ok(),
                Some(_) if argv.len() == 2 => error("ERR DB index is out of range"),
                _ => arity(),
            },
            "hello" => self.hello(argv),
            // No command table of our own to show: clients (redis-cli) accept an empty one.
            "command" => Pending::Ready(Bytes::from_static(b"*0\r\n")),
            "client" => Pending::Local(crate::hello::client(argv, &mut self.name, self.id)),
            "time" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let (s, us) = (now.as_secs().to_string(), now.subsec_micros().to_string());
                Pending::Local(Frame::Array(vec![
                    Frame::Bulk(s.into_bytes()),
                    Frame::Bulk(us.into_bytes()),
                ]))
            }
            _ => arity(),
        }
    }

    /// HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis 7 (see
    /// [`crate::hello::hello`]).
    fn hello(&mut self, argv: &[&[u8]]) -> Pending {
        let answered = crate::hello::hello(
            &self.pool.users,
            argv,
            self.id,
            &mut self.user,
            &mut self.name,
            &mut self.protocol,
        );
        match answered {
            Ok(frame) => Pending::Local(frame),
            Err(e) => error(&e),
        }
    }

    /// Waits for a reply (the backend connection enforces the timeout) and counts failures.
    async fn wait(&self, backend: usize, rx: oneshot::Receiver<Reply>) -> Reply {
        let reply = rx.await.unwrap_or_else(|_| {
            Err(BackendError::Closed(
                self.pool.backends[backend].label.clone(),
            ))
        });
        match &reply {
            Ok(_) => self.pool.note_success(backend),
            Err(_) => self.pool.note_failure(backend),
        }
        reply
    }

    async fn resolve(&self, p: Pending, out: &mut Vec<u8>) {
        match p {
            Pending::Ready(b) => out.extend_from_slice(&b),
            Pending::Local(f) => f.encode_for(self.protocol, out),
            Pending::One {
                backend,
                rx,
                started,
                read,
                resp3,
            } => {
                let reply = self.wait(backend, rx).await;
                self.pool.backends[backend]
                    .stats
                    .observe(started.elapsed(), reply.is_ok());
                match reply {
                    Ok(bytes) => {
                        if read {
                            let counter = if bytes.starts_with(b"$-1") {
                                &self.pool.stats.misses
                            } else {
                                &self.pool.stats.hits
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        match resp3 {
                            // RESP2 clients get the backend's bytes as they are.
                            None => out.extend_from_slice(&bytes),
                            Some(shape) => match Frame::parse(&bytes) {
                                Ok(Some((f, _))) => to_resp3(shape, f).encode(out),
                                _ => out.extend_from_slice(&bytes),
                            },
                        }
                    }
                    Err(e) => out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes()),
                }
            }
            Pending::Many { parts, assemble } => {
                let mut replies = Vec::with_capacity(parts.len());
                for (b, rx) in parts {
                    let started = Instant::now();
                    let r = self.wait(b, rx).await;
                    self.pool.backends[b]
                        .stats
                        .observe(started.elapsed(), r.is_ok());
                    match r.map(|bytes| Frame::parse(&bytes).ok().flatten().map(|(f, _)| f)) {
                        Ok(Some(f)) => replies.push(f),
                        Ok(None) => {
                            out.extend_from_slice(b"-ERR a backend sent an invalid reply\r\n");
                            return;
                        }
                        Err(e) => {
                            // One failed part fails the command: a partial MGET or MSET
                            // would be silently wrong.
                            out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes());
                            return;
                        }
                    }
                }
                if let Some(Frame::Error(e)) = replies.iter().find(|f| matches!(f, Frame::Error(_)))
                {
                    out.extend_from_slice(format!("-{e}\r\n").as_bytes());
                    return;
                }
                assemble_reply(assemble, replies, &self.pool.cursors)
                    .encode_for(self.protocol, out);
            }
        }
    }
}

fn has_ttl_option(argv: &[&[u8]]) -> bool {
    argv[3.min(argv.len())..].iter().any(|a| {
        ["ex", "px", "exat", "pxat", "keepttl"]
            .iter()
            .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
    })
}

fn assemble_reply(
    assemble: Assemble,
    replies: Vec<Frame>,
    cursors: &crate::cursors::ScanCursors,
) -> Frame {
    match assemble {
        Assemble::MGet(positions, count) => {
            let mut result = vec![Frame::Null; count];
            for (part, idx) in replies.into_iter().zip(positions) {
                if let Frame::Array(values) = part {
                    for (v, i) in values.into_iter().zip(idx) {
                        result[i] = v;
                    }
                }
            }
            Frame::Array(result)
        }
        Assemble::Sum => Frame::Integer(
            replies
                .iter()
                .map(|f| if let Frame::Integer(n) = f { *n } else { 0 })
                .sum(),
        ),
        Assemble::AllOk => Frame::Simple("OK".into()),
        Assemble::Same => {
            let mut it = replies.into_iter();
            let first = it.next().unwrap_or(Frame::Null);
            if it.all(|r| r == first) {
                first
            } else {
                Frame::Error("ERR the backends answered differently".into())
            }
        }
        Assemble::AllOf => {
            let mut all: Option<Vec<i64>> = None;
            for r in replies {
                let Frame::Array(items) = r else {
                    return Frame::Error("ERR a backend sent an invalid reply".into());
                };
                let flags: Vec<i64> = items
                    .iter()
                    .map(|f| matches!(f, Frame::Integer(1)) as i64)
                    .collect();
                all = Some(match all {
                    None => flags,
                    Some(acc) => acc.iter().zip(&flags).map(|(a, b)| a & b).collect(),
                });
            }
            Frame::Array(
                all.unwrap_or_default()
                    .into_iter()
                    .map(Frame::Integer)
                    .collect(),
            )
        }
        Assemble::Concat => Frame::Array(
            replies
                .into_iter()
                .flat_map(|f| match f {
                    Frame::Array(v) => v,
                    _ => Vec::new(),
                })
                .collect(),
        ),
        Assemble::Scan { index, count } => {
            let Some(Frame::Array(mut parts)) = replies.into_iter().next() else {
                return Frame::Error("ERR a backend sent an invalid SCAN reply".into());
            };
            if parts.len() != 2 {
                return Frame::Error("ERR a backend sent an invalid SCAN reply".into());
            }
            let keys = parts.pop().expect("two parts");
            let inner: u64 = parts[0].as_text().and_then(|t| t.parse().ok()).unwrap_or(0);
            let next = if inner != 0 {
                cursors.encode(index, inner)
            } else if index + 1 < count {
                cursors.encode(index + 1, 0)
            } else {
                0
            };
            Frame::Array(vec![Frame::Bulk(next.to_string().into_bytes()), keys])
        }
        Assemble::Info => {
            let (mut keys, mut expires) = (0u64, 0u64);
            for f in &replies {
                let text = f.as_text().unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with("db0:")) {
                    for field in line[4..].split(',') {
                        match field.split_once('=') {
                            Some(("keys", n)) => keys += n.parse::<u64>().unwrap_or(0),
                            Some(("expires", n)) => expires += n.parse::<u64>().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
            let mut text = format!(
                "# Proxy\r\nproxy:shardcache\r\nproxy_version:{}\r\nbackends:{}\r\n\r\n# Keyspace\r\n",
                env!("CARGO_PKG_VERSION"),
                replies.len()
            );
            if keys > 0 {
                text += &format!("db0:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
            Frame::Bulk(text.into_bytes())
        }
    }
}
