//! A client of a whole cluster (Shard-Cache or Redis Cluster), or of one server without
//! cluster mode: every command goes to the primary that owns its key's slot, over the
//! shared pipelined connections of [`crate::backend`].
//!
//! What a cluster answers is followed here, so callers (the cluster-aware proxy, the gRPC
//! service, the HTTP gateway) never see a redirect:
//! - `-MOVED slot addr`: the slot belongs elsewhere now; the map is patched at once and
//!   refreshed from `CLUSTER SLOTS` in the background, and the command goes to `addr`;
//! - `-ASK slot addr`: the slot is moving and this key is already there: `ASKING` and the
//!   command are sent to `addr` together, on one connection (ASKING lasts one command);
//! - `-TRYAGAIN`: the slot is switching owners (a few ms): the command is sent again, with
//!   a short pause, for up to [`Options::retry_for`];
//! - `-CLUSTERDOWN` and unreachable nodes: the map is refreshed and the command retried for
//!   the same time; then the error is the answer.
//!
//! A command is only sent again when it cannot have run: a redirect or TRYAGAIN means the
//! node did not execute it, and a connection that could not be made sent nothing. A
//! connection that breaks after sending fails the command (it may have run).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::RwLock;
use resp::Frame;

use crate::backend::{Backend, BackendError, ConnSettings};
use crate::keys::{KeyTable, Keys};
use crate::slots::SlotMap;

/// How to reach and talk to the cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of nodes to learn the map from (any one that answers will do).
    pub seeds: Vec<String>,
    pub settings: ConnSettings,
    /// Pipelined connections per node.
    pub connections: usize,
    /// Redirections followed for one command before giving up (Redis clients use 5-16).
    pub max_redirects: u32,
    /// How long TRYAGAIN, CLUSTERDOWN and unreachable nodes are waited out.
    pub retry_for: Duration,
}

impl Options {
    pub fn new(seeds: Vec<String>) -> Options {
        Options {
            seeds,
            settings: ConnSettings {
                username: None,
                password: None,
                db: 0,
                readonly: false,
                tls: None,
                connect_timeout: Duration::from_secs(1),
                request_timeout: None,
                retry_after: Duration::from_millis(100),
            },
            connections: 2,
            max_redirects: 16,
            retry_for: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("no node of the cluster answered ({0})")]
    Unreachable(String),
    #[error("too many cluster redirections")]
    TooManyRedirects,
    #[error("the cluster sent an invalid reply")]
    Protocol,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub moved: AtomicU64,
    pub ask: AtomicU64,
    pub tryagain: AtomicU64,
    pub refreshes: AtomicU64,
}

pub struct ClusterClient {
    options: Options,
    map: RwLock<Arc<SlotMap>>,
    nodes: RwLock<HashMap<String, Arc<Backend>>>,
    /// Connections to replicas (READONLY sent first).
    replicas: RwLock<HashMap<String, Arc<Backend>>>,
    /// Round-robin over a shard's replicas.
    next_replica: std::sync::atomic::AtomicUsize,
    keys: RwLock<Option<Arc<KeyTable>>>,
    /// One refresh at a time; `last_refresh` lets callers that waited skip another.
    refresh_lock: tokio::sync::Mutex<Option<Instant>>,
    pub stats: ClusterStats,
    /// Itself, for background refreshes (the client always lives in an Arc).
    me: std::sync::Weak<ClusterClient>,
}

/// What a reply asks the client to do instead of returning it.
#[derive(Debug, PartialEq, Eq)]
enum Redirect {
    Moved(u16, String),
    Ask(String),
    TryAgain,
    Down,
}

fn redirect(reply: &[u8]) -> Option<Redirect> {
    if reply.first() != Some(&b'-') {
        return None;
    }
    let line = reply.split(|&b| b == b'\r').next().unwrap_or(reply);
    let text = std::str::from_utf8(&line[1..]).ok()?;
    let mut words = text.split(' ');
    match words.next()? {
        "MOVED" => {
            let slot = words.next()?.parse().ok()?;
            Some(Redirect::Moved(slot, words.next()?.to_string()))
        }
        "ASK" => {
            words.next()?;
            Some(Redirect::Ask(words.next()?.to_string()))
        }
        "TRYAGAIN" => Some(Redirect::TryAgain),
        "CLUSTERDOWN" => Some(Redirect::Down),
        _ => None,
    }
}

pub fn encode(argv: &[&[u8]]) -> Bytes {
    let mut wire = Vec::new();
    resp::request::encode_command(argv, &mut wire);
    Bytes::from(wire)
}

impl ClusterClient {
    /// Connects and learns the slot map (an error when no seed answers).
    pub async fn connect(options: Options) -> Result<Arc<ClusterClient>, ClusterError> {
        let client = ClusterClient::new(options);
        client.refresh(None).await?;
        Ok(client)
    }

    /// A client that has not learnt the map yet: it sends everything to the first seed
    /// and learns from the redirects (and from a refresh started here) until it has.
    pub fn new(options: Options) -> Arc<ClusterClient> {
        let first = options.seeds.first().cloned().unwrap_or_default();
        Arc::new_cyclic(|me| ClusterClient {
            map: RwLock::new(Arc::new(SlotMap::standalone(&first))),
            nodes: RwLock::new(HashMap::new()),
            replicas: RwLock::new(HashMap::new()),
            next_replica: Default::default(),
            keys: RwLock::new(None),
            refresh_lock: tokio::sync::Mutex::new(None),
            stats: ClusterStats::default(),
            options,
            me: me.clone(),
        })
    }

    /// The current slot map.
    pub fn map(&self) -> Arc<SlotMap> {
        self.map.read().clone()
    }

    /// The shared connections to `addr` (made on first use).
    pub fn node(&self, addr: &str) -> Arc<Backend> {
        if let Some(b) = self.nodes.read().get(addr) {
            return b.clone();
        }
        self.nodes
            .write()
            .entry(addr.to_string())
            .or_insert_with(|| {
                Backend::start(
                    addr.to_string(),
                    addr.to_string(),
                    self.options.connections,
                    self.options.settings.clone(),
                )
            })
            .clone()
    }

    /// The connections made so far: (address, to a replica, its backend), primaries first.
    /// Makes none (the admin API's view of them).
    pub fn open_connections(&self) -> Vec<(String, bool, Arc<Backend>)> {
        let by_address = |conns: &HashMap<String, Arc<Backend>>, replica: bool| {
            let mut v: Vec<_> = conns
                .iter()
                .map(|(a, b)| (a.clone(), replica, b.clone()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let mut out = by_address(&self.nodes.read(), false);
        out.extend(by_address(&self.replicas.read(), true));
        out
    }

    /// Whether connections to the nodes speak TLS.
    pub fn uses_tls(&self) -> bool {
        self.options.settings.tls.is_some()
    }

    /// The shared READONLY connections to replica `addr`.
    fn replica(&self, addr: &str) -> Arc<Backend> {
        if let Some(b) = self.replicas.read().get(addr) {
            return b.clone();
        }
        let mut settings = self.options.settings.clone();
        settings.readonly = true;
        self.replicas
            .write()
            .entry(addr.to_string())
            .or_insert_with(|| {
                Backend::start(
                    addr.to_string(),
                    addr.to_string(),
                    self.options.connections,
                    settings,
                )
            })
            .clone()
    }

    /// Whether `slot`'s shard has a replica to read from.
    pub fn has_replica(&self, slot: u16) -> bool {
        self.map()
            .shard(slot)
            .is_some_and(|s| !s.replicas.is_empty())
    }

    /// Sends a read to one of `slot`'s replicas (in turn). No redirect is followed: a
    /// replica that does not serve the slot any more answers an error, which the caller
    /// treats as "no answer from a replica".
    pub async fn call_replica(&self, slot: u16, payload: Bytes) -> Result<Bytes, ClusterError> {
        let addr = {
            let map = self.map();
            let shard = map
                .shard(slot)
                .ok_or(ClusterError::Unreachable("no owner".into()))?;
            if shard.replicas.is_empty() {
                return Err(ClusterError::Unreachable("no replica".into()));
            }
            let i = self.next_replica.fetch_add(1, Ordering::Relaxed) % shard.replicas.len();
            shard.replicas[i].clone()
        };
        let backend = self.replica(&addr);
        let started = Instant::now();
        let reply = backend
            .send(payload)
            .await
            .unwrap_or_else(|_| Err(BackendError::Closed(addr.clone())));
        backend.stats.observe(started.elapsed(), reply.is_ok());
        let reply = reply?;
        if redirect(&reply).is_some() {
            return Err(ClusterError::Unreachable(format!(
                "{addr} does not serve the slot"
            )));
        }
        Ok(reply)
    }

    /// Reads the slot map again from a node that answers (the known primaries, then the
    /// seeds). `since`: skip if a refresh finished after this instant (another caller did
    /// it while this one waited).
    pub async fn refresh(&self, since: Option<Instant>) -> Result<(), ClusterError> {
        let mut last = self.refresh_lock.lock().await;
        if since.is_some_and(|s| last.is_some_and(|l| l > s)) {
            return Ok(());
        }
        self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let mut candidates: Vec<String> = self
            .map()
            .shards
            .iter()
            .map(|s| s.primary.clone())
            .collect();
        for s in &self.options.seeds {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let mut last_error = String::from("no seed given");
        for addr in candidates {
            let reply = self
                .node(&addr)
                .send(encode(&[b"CLUSTER", b"SLOTS"]))
                .await
                .unwrap_or_else(|_| Err(BackendError::Closed(addr.clone())));
            let parsed = match reply {
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
                Ok(bytes) => match Frame::parse(&bytes) {
                    Ok(Some((f, _))) => f,
                    _ => {
                        last_error = format!("{addr} sent an invalid reply");
                        continue;
                    }
                },
            };
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let map = match &parsed {
                Frame::Error(e) if e.contains("cluster support disabled") => {
                    SlotMap::standalone(&addr)
                }
                Frame::Error(e) => {
                    last_error = format!("{addr}: {e}");
                    continue;
                }
                f => match SlotMap::from_cluster_slots(f, host) {
                    // A node that does not know the cluster yet (no slots) is asked last.
                    Ok(m) if m.shards.is_empty() => {
                        last_error = format!("{addr} knows no slots");
                        continue;
                    }
                    Ok(m) => m,
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                },
            };
            *self.map.write() = Arc::new(map);
            *last = Some(Instant::now());
            return Ok(());
        }
        *last = Some(Instant::now());
        Err(ClusterError::Unreachable(last_error))
    }

    /// The server's COMMAND table (asked once).
    pub async fn key_table(&self) -> Result<Arc<KeyTable>, ClusterError> {
        if let Some(t) = self.keys.read().clone() {
            return Ok(t);
        }
        let reply = self.call_slot(None, encode(&[b"COMMAND"]), 1).await?;
        let frame = parse_one(&reply)?;
        let table = Arc::new(KeyTable::from_command_reply(&frame).map_err(|e| {
            tracing::warn!(error = %e, "cannot read the cluster's COMMAND table");
            ClusterError::Protocol
        })?);
        *self.keys.write() = Some(table.clone());
        Ok(table)
    }

    /// The COMMAND table if it was learnt already (the hot path needs no await).
    pub fn key_table_now(&self) -> Option<Arc<KeyTable>> {
        self.keys.read().clone()
    }

    /// [`Self::slot_of`] without a round trip, when the table is known and the command's
    /// keys are where COMMAND says (`None`: ask [`Self::slot_of`]).
    pub fn slot_now(&self, argv: &[&[u8]]) -> Option<Option<u16>> {
        match self.keys.read().as_ref()?.keys(argv) {
            Keys::At(positions) => Some(
                positions
                    .first()
                    .map(|&i| placement::slot::key_slot(argv[i])),
            ),
            Keys::Unknown => Some(None),
            Keys::Movable => None,
        }
    }

    /// The slot of a command's first key (`None`: no key, any node serves it). Keys of
    /// different slots are not checked here: the node answers CROSSSLOT as it would.
    pub async fn slot_of(&self, argv: &[&[u8]]) -> Result<Option<u16>, ClusterError> {
        let table = self.key_table().await?;
        match table.keys(argv) {
            Keys::At(positions) => Ok(positions
                .first()
                .map(|&i| placement::slot::key_slot(argv[i]))),
            Keys::Unknown => Ok(None),
            Keys::Movable => {
                let mut ask: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
                ask.extend_from_slice(argv);
                let reply = self.call_slot(None, encode(&ask), 1).await?;
                Ok(match parse_one(&reply)? {
                    Frame::Array(keys) => keys.first().and_then(|k| match k {
                        Frame::Bulk(k) => Some(placement::slot::key_slot(k)),
                        _ => None,
                    }),
                    // No keys, or arguments the server rejects: it answers when it runs.
                    _ => None,
                })
            }
        }
    }

    /// Runs one command where its keys live.
    pub async fn call(&self, argv: &[&[u8]]) -> Result<Bytes, ClusterError> {
        let slot = self.slot_of(argv).await?;
        self.call_slot(slot, encode(argv), 1).await
    }

    /// Sends `payload` (`replies` commands, all for `slot`; `None`: any node) to the slot's
    /// primary, following redirects; answers the commands' replies, concatenated.
    pub async fn call_slot(
        &self,
        slot: Option<u16>,
        payload: Bytes,
        replies: u32,
    ) -> Result<Bytes, ClusterError> {
        let deadline = Instant::now() + self.options.retry_for;
        let mut redirects = 0;
        let mut ask: Option<String> = None;
        let mut pause = Duration::from_millis(1);
        loop {
            let target = match &ask {
                Some(a) => Some(a.clone()),
                None => self.owner(slot),
            };
            let outcome = match &target {
                None => None,
                Some(addr) => {
                    let backend = self.node(addr);
                    let started = Instant::now();
                    let reply = match &ask {
                        None => backend.send_many(payload.clone(), replies).await,
                        Some(_) => {
                            let mut both = BytesMut::from(&b"*1\r\n$6\r\nASKING\r\n"[..]);
                            both.extend_from_slice(&payload);
                            backend.send_many(both.freeze(), replies + 1).await
                        }
                    };
                    let reply =
                        reply.unwrap_or_else(|_| Err(BackendError::Closed(addr.to_string())));
                    backend.stats.observe(started.elapsed(), reply.is_ok());
                    match reply {
                        Ok(bytes) if ask.is_some() => Some(skip_first(bytes)?),
                        Ok(bytes) => Some(bytes),
                        // Never sent: try again once the map is fresh.
                        Err(BackendError::Unavailable(_)) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            let step = match &outcome {
                None => Some(Redirect::Down),
                Some(bytes) => redirect(bytes),
            };
            match step {
                None => return Ok(outcome.expect("a reply")),
                Some(Redirect::Moved(moved_slot, addr)) => {
                    self.stats.moved.fetch_add(1, Ordering::Relaxed);
                    let patched = self.map().moved(moved_slot, &addr);
                    *self.map.write() = Arc::new(patched);
                    self.refresh_soon();
                    ask = None;
                    redirects += 1;
                }
                Some(Redirect::Ask(addr)) => {
                    self.stats.ask.fetch_add(1, Ordering::Relaxed);
                    ask = Some(addr);
                    redirects += 1;
                }
                Some(wait @ (Redirect::TryAgain | Redirect::Down)) => {
                    if Instant::now() >= deadline {
                        return match outcome {
                            Some(bytes) => Ok(bytes),
                            None => Err(ClusterError::Unreachable(
                                target.unwrap_or_else(|| "no node owns the slot".into()),
                            )),
                        };
                    }
                    if wait == Redirect::TryAgain {
                        self.stats.tryagain.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let _ = self.refresh(Instant::now().checked_sub(pause)).await;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                    ask = None;
                }
            }
            if redirects > self.options.max_redirects {
                return Err(ClusterError::TooManyRedirects);
            }
        }
    }

    /// Sends `payload` to one node as it is (no redirects followed): for commands every
    /// primary must run (SCAN, DBSIZE, FLUSHALL, ...).
    pub async fn call_node(&self, addr: &str, payload: Bytes) -> Result<Bytes, ClusterError> {
        let backend = self.node(addr);
        let started = Instant::now();
        let reply = backend
            .send(payload)
            .await
            .unwrap_or_else(|_| Err(BackendError::Closed(addr.to_string())));
        backend.stats.observe(started.elapsed(), reply.is_ok());
        reply.map_err(Into::into)
    }

    /// The primary serving `slot` (any primary for `None`).
    fn owner(&self, slot: Option<u16>) -> Option<String> {
        let map = self.map.read();
        match slot {
            Some(s) => map.shard(s).map(|s| s.primary.clone()),
            None => map.shards.first().map(|s| s.primary.clone()),
        }
    }

    /// The primary's address for `slot`, as the map says now (for `X-Cache-Shard` and the
    /// like).
    pub fn owner_of(&self, slot: u16) -> Option<String> {
        self.owner(Some(slot))
    }

    /// Refreshes the map in the background (after a MOVED).
    fn refresh_soon(&self) {
        let Some(me) = self.me() else { return };
        let asked = Instant::now();
        tokio::spawn(async move {
            let _ = me.refresh(Some(asked)).await;
        });
    }

    fn me(&self) -> Option<Arc<ClusterClient>> {
        self.me.upgrade()
    }
}

/// The replies after the first (ASKING's `+OK`).
fn skip_first(bytes: Bytes) -> Result<Bytes, ClusterError> {
    match resp::frame::frame_len(&bytes) {
        Ok(Some(n)) => Ok(bytes.slice(n..)),
        _ => Err(ClusterError::Protocol),
    }
}

/// The one value of a reply.
pub fn parse_one(bytes: &[u8]) -> Result<Frame, ClusterError> {
    match Frame::parse(bytes) {
        Ok(Some((f, _))) => Ok(f),
        _ => Err(ClusterError::Protocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_read_from_error_replies() {
        assert_eq!(
            redirect(b"-MOVED 3999 127.0.0.1:6381\r\n"),
            Some(Redirect::Moved(3999, "127.0.0.1:6381".into()))
        );
        assert_eq!(
            redirect(b"-ASK 3999 127.0.0.1:6381\r\n"),
            Some(Redirect::Ask("127.0.0.1:6381".into()))
        );
        assert_eq!(
            redirect(b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n"),
            Some(Redirect::TryAgain)
        );
        assert_eq!(
            redirect(b"-CLUSTERDOWN The cluster is down\r\n"),
            Some(Redirect::Down)
        );
        assert_eq!(redirect(b"-ERR wrong type\r\n"), None);
        assert_eq!(redirect(b"+OK\r\n"), None);
        assert_eq!(redirect(b"-MOVED x\r\n"), None);
    }
}
