//! One client of the cluster proxy: pipelined commands are sent at once (each to its slot's
//! owner, split ones to several) and answered in order as the replies come back.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] commands of one client wait for nodes at once (a deeper
//! pipeline is read as replies come back), replies are written once [`FLUSH_AT`] bytes wait,
//! and a client whose unprocessed input passes [`QUERY_LIMIT`] (Redis's default
//! `client-query-buffer-limit`) is disconnected.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{FuturesOrdered, StreamExt};
use resp::{Args, Frame, Limits, Parsed, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use upstream::cluster::{encode, parse_one};
use upstream::{ClusterClient, ClusterError};

use super::split::{assemble, split, Kind, Part};
use super::ClusterFront;
use crate::commands::{BLOCKING, PUBSUB, TRANSACTIONS};
use crate::resp3::{shape, to_resp3, Shape};

const MAX_IN_FLIGHT: usize = 128;
const FLUSH_AT: usize = 64 * 1024;
const QUERY_LIMIT: usize = 1 << 30;

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// The bytes to write for one command, once they are known.
type Answer = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

fn ready(bytes: Vec<u8>) -> Answer {
    Box::pin(std::future::ready(bytes))
}

fn error(msg: &str) -> Answer {
    ready(format!("-{msg}\r\n").into_bytes())
}

/// A node's reply, or the error the proxy answers instead.
pub(super) fn reply_bytes(r: Result<Bytes, ClusterError>) -> Vec<u8> {
    match r {
        Ok(b) => b.to_vec(),
        Err(ClusterError::Unreachable(e)) => {
            format!("-CLUSTERDOWN no node answered for this slot ({e})\r\n").into_bytes()
        }
        Err(e) => format!("-ERR {e}\r\n").into_bytes(),
    }
}

fn frame_of(r: Result<Bytes, ClusterError>) -> Frame {
    match r.and_then(|b| parse_one(&b)) {
        Ok(f) => f,
        Err(ClusterError::Unreachable(e)) => {
            Frame::Error(format!("CLUSTERDOWN no node answered ({e})"))
        }
        Err(e) => Frame::Error(format!("ERR {e}")),
    }
}

/// Encodes `frame` for the client's protocol.
fn encoded(frame: &Frame, protocol: u8) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode_for(protocol, &mut out);
    out
}

struct Session {
    front: Arc<ClusterFront>,
    id: u64,
    /// Who the client is (`None`: not authenticated yet).
    user: Option<crate::users::UserId>,
    name: Option<Vec<u8>>,
    close: bool,
    /// 2 or 3 (HELLO): nodes answer RESP2; RESP3 clients get replies reshaped.
    protocol: u8,
}

pub async fn serve(front: Arc<ClusterFront>, mut stream: tls::Stream) {
    let _ = stream.set_nodelay(true);
    let mut session = Session {
        user: front.users.open().then_some(crate::users::DEFAULT),
        front,
        id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
        name: None,
        close: false,
        protocol: 2,
    };
    let mut parser = RequestParser::new();
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut waiting: FuturesOrdered<Answer> = FuturesOrdered::new();
    loop {
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        match stream.read_buf(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if rbuf.len() > QUERY_LIMIT {
            tracing::warn!(
                client = session.id,
                "closing client that reached max query buffer length"
            );
            return;
        }
        let mut consumed = 0;
        loop {
            let limits = Limits {
                authenticated: session.user.is_some(),
                ..Limits::default()
            };
            let buf = &rbuf[consumed..];
            match parser.parse(buf, &limits) {
                Ok(Parsed::Command { consumed: used }) => {
                    let args = parser.args(buf);
                    waiting.push_back(session.dispatch(args, &buf[..used]));
                    consumed += used;
                    if session.close {
                        break;
                    }
                    if waiting.len() >= MAX_IN_FLIGHT {
                        if let Some(b) = waiting.next().await {
                            out.extend_from_slice(&b);
                        }
                        if out.len() >= FLUSH_AT {
                            if stream.write_all(&out).await.is_err() {
                                return;
                            }
                            out.clear();
                        }
                    }
                }
                Ok(Parsed::Empty { consumed: used }) => consumed += used,
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    waiting.push_back(error(&format!("ERR {e}")));
                    session.close = true;
                    break;
                }
            }
        }
        rbuf.advance(consumed);
        while let Some(b) = waiting.next().await {
            out.extend_from_slice(&b);
            if out.len() >= FLUSH_AT {
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if session.close {
            return;
        }
    }
}

impl Session {
    fn dispatch(&mut self, args: Args<'_>, raw: &[u8]) -> Answer {
        let name = String::from_utf8_lossy(args.get(0)).to_ascii_lowercase();
        self.front.stats.commands.fetch_add(1, Ordering::Relaxed);
        let argv: Vec<&[u8]> = args.iter().collect();
        let Some(user) = self.user else {
            if !matches!(name.as_str(), "auth" | "hello" | "quit") {
                return error("NOAUTH Authentication required.");
            }
            return self.local(&name, &argv);
        };
        if self.front.users.restricted() {
            if let Err(e) = self.front.users.check(user, args) {
                return error(&e);
            }
        }
        let refuse = |why: &str| {
            self.front.stats.errors.fetch_add(1, Ordering::Relaxed);
            error(&format!("ERR {why}"))
        };
        match name.as_str() {
            "ping" | "echo" | "quit" | "auth" | "hello" | "select" | "client" | "acl" => {
                self.local(&name, &argv)
            }
            "multi" | "exec" | "discard" | "watch" | "unwatch" => refuse(TRANSACTIONS),
            "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax"
            | "bzmpop" | "wait" | "waitaof" => refuse(BLOCKING),
            "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe"
            | "sunsubscribe" | "monitor" => refuse(PUBSUB),
            "cluster" | "readonly" | "readwrite" | "asking" => refuse(
                "the proxy presents the cluster as one server: CLUSTER commands go to a node directly",
            ),
            "dbsize" | "keys" | "flushall" | "flushdb" | "script" => self.broadcast(&name, &argv),
            "scan" => self.scan(&argv),
            "msetnx" => {
                let slots: std::collections::HashSet<u16> = argv
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|k| placement::slot::key_slot(k))
                    .collect();
                if slots.len() > 1 {
                    return error("CROSSSLOT Keys in request don't hash to the same slot (MSETNX is all-or-nothing: give its keys a common hash tag)");
                }
                self.forward(&name, &argv, raw)
            }
            _ => match Kind::of(&name).and_then(|k| Some((k, split(k, &argv)?))) {
                Some((kind, parts)) => self.split(kind, parts),
                None => self.forward(&name, &argv, raw),
            },
        }
    }

    /// The client's RESP3 shape of a command's reply (None for RESP2 clients).
    fn shape(&self, name: &str, argv: &[&[u8]]) -> Option<Shape> {
        (self.protocol >= 3).then(|| shape(name, argv))
    }

    /// One command to its slot's owner, the client's bytes as they are.
    fn forward(&self, name: &str, argv: &[&[u8]], raw: &[u8]) -> Answer {
        let client = self.front.client.clone();
        let payload = if raw.first() == Some(&b'*') {
            Bytes::copy_from_slice(raw)
        } else {
            encode(argv)
        };
        let resp3 = self.shape(name, argv);
        let reshape = move |bytes: Vec<u8>| match resp3 {
            None => bytes,
            Some(shape) => match Frame::parse(&bytes) {
                Ok(Some((f, _))) => encoded(&to_resp3(shape, f), 3),
                _ => bytes,
            },
        };
        let table = client.key_table_now();
        let readonly = table.as_ref().is_some_and(|t| t.is_readonly(argv));
        let write = table.as_ref().is_some_and(|t| t.is_write(argv));
        let front = self.front.clone();
        match client.slot_now(argv) {
            Some(Some(slot))
                if readonly && front.uses_replicas_for_reads() && client.has_replica(slot) =>
            {
                Box::pin(async move { reshape(front.read(slot, payload).await) })
            }
            Some(Some(slot)) if write && front.policy.write_quorum >= 2 => {
                Box::pin(async move { reshape(front.write(slot, payload).await) })
            }
            Some(slot) => {
                Box::pin(
                    async move { reshape(reply_bytes(client.call_slot(slot, payload, 1).await)) },
                )
            }
            None => {
                // The key table is not known yet, or the keys move with the arguments.
                let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
                Box::pin(async move {
                    let argv: Vec<&[u8]> = owned.iter().map(|a| a.as_slice()).collect();
                    let reply = match client.slot_of(&argv).await {
                        Ok(slot) => client.call_slot(slot, payload, 1).await,
                        Err(e) => Err(e),
                    };
                    reshape(reply_bytes(reply))
                })
            }
        }
    }

    /// A multi-key command across slots: every part at once, reassembled in order.
    fn split(&self, kind: Kind, parts: Vec<Part>) -> Answer {
        self.front.stats.split.fetch_add(1, Ordering::Relaxed);
        let client = self.front.client.clone();
        let protocol = self.protocol;
        Box::pin(async move {
            let calls = parts.iter().map(|p| {
                let argv: Vec<&[u8]> = p.argv.iter().map(|a| a.as_slice()).collect();
                client.call_slot(Some(p.slot), encode(&argv), 1)
            });
            let replies = futures_util::future::join_all(calls)
                .await
                .into_iter()
                .map(frame_of)
                .collect();
            encoded(&assemble(kind, &parts, replies), protocol)
        })
    }

    /// A keyspace-wide command: every primary runs it; the replies combine.
    fn broadcast(&self, name: &str, argv: &[&[u8]]) -> Answer {
        let sub = argv
            .get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        if name == "script" && !matches!(sub.as_slice(), b"load" | b"exists" | b"flush") {
            return error(
                "ERR only SCRIPT LOAD, EXISTS and FLUSH go through the proxy (to every primary)",
            );
        }
        let client = self.front.client.clone();
        let payload = encode(argv);
        let (name, protocol) = (name.to_string(), self.protocol);
        Box::pin(async move {
            let primaries = primaries(&client);
            let calls = primaries
                .iter()
                .map(|p| client.call_node(p, payload.clone()));
            let replies: Vec<Frame> = futures_util::future::join_all(calls)
                .await
                .into_iter()
                .map(frame_of)
                .collect();
            if let Some(e) = replies.iter().find(|r| matches!(r, Frame::Error(_))) {
                return encoded(e, protocol);
            }
            let combined = match (name.as_str(), sub.as_slice()) {
                ("dbsize", _) => Frame::Integer(
                    replies
                        .iter()
                        .map(|r| if let Frame::Integer(n) = r { *n } else { 0 })
                        .sum(),
                ),
                ("keys", _) => Frame::Array(
                    replies
                        .into_iter()
                        .flat_map(|r| match r {
                            Frame::Array(v) => v,
                            _ => Vec::new(),
                        })
                        .collect(),
                ),
                ("script", b"load") => {
                    let first = replies.first().cloned().unwrap_or(Frame::Null);
                    if replies.iter().all(|r| *r == first) {
                        first
                    } else {
                        Frame::Error("ERR the nodes answered differently".into())
                    }
                }
                ("script", b"exists") => {
                    let mut all: Option<Vec<bool>> = None;
                    for r in replies {
                        let Frame::Array(items) = r else { continue };
                        let flags: Vec<bool> = items
                            .iter()
                            .map(|f| matches!(f, Frame::Integer(1)))
                            .collect();
                        all = Some(match all {
                            None => flags,
                            Some(acc) => acc.iter().zip(&flags).map(|(a, b)| *a && *b).collect(),
                        });
                    }
                    Frame::Array(
                        all.unwrap_or_default()
                            .into_iter()
                            .map(|b| Frame::Integer(i64::from(b)))
                            .collect(),
                    )
                }
                _ => Frame::Simple("OK".into()),
            };
            encoded(&combined, protocol)
        })
    }

    /// SCAN over every primary in turn (nodes in address order; the cursor names the node,
    /// see [`crate::cursors`]). A topology change during a scan can repeat or miss keys of
    /// the slots that moved, as SCAN's guarantees allow for keys that change.
    fn scan(&self, argv: &[&[u8]]) -> Answer {
        if argv.len() < 2 {
            return error("ERR wrong number of arguments for 'scan' command");
        }
        let Some((index, inner)) = std::str::from_utf8(argv[1])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|c| self.front.cursors.decode(c))
        else {
            return error("ERR invalid cursor");
        };
        let front = self.front.clone();
        let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        let protocol = self.protocol;
        Box::pin(async move {
            let nodes = primaries(&front.client);
            if index >= nodes.len() || nodes.len() > 256 {
                return b"-ERR invalid cursor\r\n".to_vec();
            }
            let inner = inner.to_string();
            let mut argv: Vec<&[u8]> = owned.iter().map(|a| a.as_slice()).collect();
            argv[1] = inner.as_bytes();
            let reply = frame_of(front.client.call_node(&nodes[index], encode(&argv)).await);
            let Frame::Array(mut parts) = reply else {
                return encoded(&reply, protocol);
            };
            if parts.len() != 2 {
                return b"-ERR a node sent an invalid SCAN reply\r\n".to_vec();
            }
            let keys = parts.pop().expect("two parts");
            let inner: u64 = parts[0].as_text().and_then(|t| t.parse().ok()).unwrap_or(0);
            let next = if inner != 0 {
                front.cursors.encode(index, inner)
            } else if index + 1 < nodes.len() {
                front.cursors.encode(index + 1, 0)
            } else {
                0
            };
            encoded(
                &Frame::Array(vec![Frame::Bulk(next.to_string().into_bytes()), keys]),
                protocol,
            )
        })
    }

    fn local(&mut self, name: &str, argv: &[&[u8]]) -> Answer {
        let bulk = |b: &[u8]| encoded(&Frame::Bulk(b.to_vec()), 2);
        let ok = || ready(b"+OK\r\n".to_vec());
        let arity = || {
            error(&format!(
                "ERR wrong number of arguments for '{name}' command"
            ))
        };
        match name {
            "ping" => match argv.len() {
                1 => ready(b"+PONG\r\n".to_vec()),
                2 => ready(bulk(argv[1])),
                _ => arity(),
            },
            "echo" if argv.len() == 2 => ready(bulk(argv[1])),
            "echo" => arity(),
            "quit" => {
                self.close = true;
                ok()
            }
            "auth" => match crate::hello::auth(&self.front.users, argv, self.id) {
                Ok(user) => {
                    self.user = Some(user);
                    ok()
                }
                Err(e) => error(&e),
            },
            "acl" => ready(encoded(
                &crate::hello::acl(&self.front.users, self.user, argv),
                self.protocol,
            )),
            "select" => match argv.get(1).copied() {
                Some(b"0") if argv.len() == 2 => ok(),
                Some(_) if argv.len() == 2 => error("ERR SELECT is not allowed in cluster mode"),
                _ => arity(),
            },
            "hello" => self.hello(argv),
            "client" => ready(encoded(
                &crate::hello::client(argv, &mut self.name, self.id),
                self.protocol,
            )),
            _ => arity(),
        }
    }

    /// HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis 7 (see
    /// [`crate::hello::hello`]).
    fn hello(&mut self, argv: &[&[u8]]) -> Answer {
        let answered = crate::hello::hello(
            &self.front.users,
            argv,
            self.id,
            &mut self.user,
            &mut self.name,
            &mut self.protocol,
        );
        match answered {
            Ok(frame) => ready(encoded(&frame, self.protocol)),
            Err(e) => error(&e),
        }
    }
}

/// The primaries of the current map, in address order (stable across calls).
fn primaries(client: &ClusterClient) -> Vec<String> {
    let mut p: Vec<String> = client
        .map()
        .shards
        .iter()
        .map(|s| s.primary.clone())
        .collect();
    p.sort();
    p
}
