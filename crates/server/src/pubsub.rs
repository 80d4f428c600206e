//! Publish/subscribe: channel and pattern subscriptions, shard channels (SSUBSCRIBE /
//! SPUBLISH: their own namespace, routed by slot in cluster mode), and message delivery.
//!
//! Each subscribed connection owns an unbounded queue; PUBLISH pushes one shared message
//! (channel and payload are reference-counted, not copied per subscriber) onto the queue of
//! every subscriber and the connection encodes it (RESP2 array or RESP3 push) when it takes
//! it. A subscriber that does not read would make its queue grow without bound, so the bytes
//! waiting for it are counted and checked against the `pubsub` class of
//! `client-output-buffer-limit` at every publish: past the hard limit, or past the soft
//! limit for longer than its seconds, the subscriber is disconnected, as Redis does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use indexmap::IndexSet;
use parking_lot::RwLock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::OutputLimit;
use crate::{ClientState, Shared};

/// One message for one subscriber.
#[derive(Debug, Clone)]
pub enum Message {
    Message {
        channel: Arc<[u8]>,
        payload: Arc<[u8]>,
    },
    PMessage {
        pattern: Arc<[u8]>,
        channel: Arc<[u8]>,
        payload: Arc<[u8]>,
    },
    /// A shard channel's message (SPUBLISH).
    SMessage {
        channel: Arc<[u8]>,
        payload: Arc<[u8]>,
    },
    /// A command another client ran, for a MONITOR client (a status line, escaped).
    Monitor(Arc<str>),
    /// Client-side caching: these keys changed (`None`: every key, FLUSHALL).
    Invalidate(Option<Arc<[Vec<u8>]>>),
    /// Client-side caching: the client invalidations were redirected to is gone.
    RedirectBroken(u64),
}

impl Message {
    /// Writes it as Redis does: a push in RESP3, an array in RESP2.
    pub fn encode(&self, out: &mut resp::ReplyWriter) {
        match self {
            Message::Invalidate(keys) => {
                // RESP3: an `invalidate` push; RESP2 (a redirect target in Pub/Sub mode): a
                // message on `__redis__:invalidate` (dropped by the connection otherwise).
                if out.is_resp3() {
                    out.push(2);
                    out.bulk(b"invalidate");
                } else {
                    out.array(3);
                    out.bulk(b"message");
                    out.bulk(b"__redis__:invalidate");
                }
                match keys {
                    Some(keys) => {
                        out.array(keys.len());
                        keys.iter().for_each(|k| out.bulk(k));
                    }
                    None => out.null(),
                }
            }
            Message::RedirectBroken(id) => {
                out.push(2);
                out.bulk(b"tracking-redir-broken");
                out.int(*id as i64);
            }
            Message::Message { channel, payload } => {
                out.push(3);
                out.bulk(b"message");
                out.bulk(channel);
                out.bulk(payload);
            }
            Message::Monitor(line) => out.simple(line),
            Message::SMessage { channel, payload } => {
                out.push(3);
                out.bulk(b"smessage");
                out.bulk(channel);
                out.bulk(payload);
            }
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => {
                out.push(4);
                out.bulk(b"pmessage");
                out.bulk(pattern);
                out.bulk(channel);
                out.bulk(payload);
            }
        }
    }

    /// Bytes it takes encoded, as counted against the output buffer limit.
    pub fn size(&self) -> usize {
        match self {
            Message::Invalidate(keys) => {
                48 + keys
                    .as_ref()
                    .map_or(0, |k| k.iter().map(|k| k.len() + 16).sum())
            }
            Message::RedirectBroken(_) => 48,
            Message::Message { channel, payload } | Message::SMessage { channel, payload } => {
                32 + channel.len() + payload.len()
            }
            Message::Monitor(line) => 16 + line.len(),
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => 48 + pattern.len() + channel.len() + payload.len(),
        }
    }
}

/// The shared half of a subscribed connection.
#[derive(Debug)]
pub struct Subscriber {
    pub id: u64,
    tx: mpsc::UnboundedSender<Message>,
    /// Bytes queued and not yet taken by the connection.
    pub pending: AtomicUsize,
    /// When `pending` first went over the soft limit (ms since the epoch), 0 when under.
    soft_since: AtomicU64,
    /// The connection's kill switch (the limit disconnects through it).
    kill: CancellationToken,
}

impl Subscriber {
    /// Queues `m` for this connection (client-side caching: no output limit applies, as
    /// in Redis, where invalidations go to the client's ordinary output buffer).
    pub fn send(&self, m: Message) {
        self.pending.fetch_add(m.size(), Ordering::Relaxed);
        let _ = self.tx.send(m);
    }

    pub fn new(
        id: u64,
        kill: CancellationToken,
    ) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Message>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Arc::new(Subscriber {
            id,
            tx,
            pending: AtomicUsize::new(0),
            soft_since: AtomicU64::new(0),
            kill,
        });
        (sub, rx)
    }

    /// Called by the connection for each message it takes.
    pub fn taken(&self, m: &Message) {
        self.pending.fetch_sub(m.size(), Ordering::Relaxed);
    }

    /// Queues `m` unless the subscriber is over its output limit, in which case it is
    /// disconnected; true when the message was queued.
    fn deliver(&self, m: Message, limit: OutputLimit, now_ms: u64, over: &AtomicU64) -> bool {
        if self.kill.is_cancelled() {
            return false;
        }
        let size = m.size();
        let pending = self.pending.fetch_add(size, Ordering::Relaxed) + size;
        let mut cut = limit.hard != 0 && pending as u64 > limit.hard;
        if limit.soft != 0 && pending as u64 > limit.soft {
            let since = match self.soft_since.compare_exchange(
                0,
                now_ms,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => now_ms,
                Err(t) => t,
            };
            cut |= now_ms.saturating_sub(since) >= limit.soft_seconds * 1000;
        } else {
            self.soft_since.store(0, Ordering::Relaxed);
        }
        if cut {
            tracing::warn!(
                client = self.id,
                bytes = pending,
                "closing subscriber that reached the pubsub output buffer limit"
            );
            over.fetch_add(1, Ordering::Relaxed);
            self.kill.cancel();
            return false;
        }
        self.tx.send(m).is_ok()
    }
}

/// Subscribers by channel.
type ChannelMap = HashMap<Arc<[u8]>, Vec<Arc<Subscriber>>>;
/// (pattern, subscriber), one entry per subscription.
type PatternList = Vec<(Arc<[u8]>, Arc<Subscriber>)>;

#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<ChannelMap>,
    patterns: RwLock<PatternList>,
    shard_channels: RwLock<ChannelMap>,
    /// MONITOR clients, and how many (checked on every command, without the lock).
    monitors: RwLock<Vec<Arc<Subscriber>>>,
    monitor_count: AtomicUsize,
    /// Every connection's message queue by client id, once it has one (tracking redirects
    /// find their target here).
    endpoints: RwLock<HashMap<u64, std::sync::Weak<Subscriber>>>,
}

fn add_subscriber(map: &RwLock<ChannelMap>, channel: &[u8], sub: &Arc<Subscriber>) {
    let mut map = map.write();
    match map.get_mut(channel) {
        Some(v) => v.push(sub.clone()),
        None => {
            map.insert(channel.into(), vec![sub.clone()]);
        }
    }
}

fn remove_subscriber(map: &RwLock<ChannelMap>, channel: &[u8], sub: &Arc<Subscriber>) {
    let mut map = map.write();
    if let Some(v) = map.get_mut(channel) {
        v.retain(|s| !Arc::ptr_eq(s, sub));
        if v.is_empty() {
            map.remove(channel);
        }
    }
}

fn list_channels(map: &RwLock<ChannelMap>, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
    map.read()
        .keys()
        .filter(|c| pattern.is_none_or(|p| store::glob::matches(p, c, false)))
        .map(|c| c.to_vec())
        .collect()
}

impl PubSub {
    /// Makes a connection's queue findable by its client id.
    pub fn register_endpoint(&self, sub: &Arc<Subscriber>) {
        self.endpoints.write().insert(sub.id, Arc::downgrade(sub));
    }

    /// The queue of client `id`, if it has one and is connected.
    pub fn endpoint(&self, id: u64) -> Option<Arc<Subscriber>> {
        self.endpoints.read().get(&id)?.upgrade()
    }

    pub fn forget_endpoint(&self, id: u64) {
        self.endpoints.write().remove(&id);
    }

    pub fn monitor(&self, sub: &Arc<Subscriber>) {
        self.monitors.write().push(sub.clone());
        self.monitor_count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unmonitor(&self, sub: &Arc<Subscriber>) {
        let mut monitors = self.monitors.write();
        let before = monitors.len();
        monitors.retain(|s| !Arc::ptr_eq(s, sub));
        self.monitor_count
            .fetch_sub(before - monitors.len(), Ordering::Relaxed);
    }

    pub fn has_monitors(&self) -> bool {
        self.monitor_count.load(Ordering::Relaxed) > 0
    }

    /// Sends a command line to every MONITOR client.
    pub fn feed_monitors(&self, line: String, limit: OutputLimit, over: &AtomicU64) {
        let line: Arc<str> = line.into();
        let now = crate::unix_ms();
        for m in self.monitors.read().iter() {
            m.deliver(Message::Monitor(line.clone()), limit, now, over);
        }
    }

    /// Adds a shard-channel subscription (the caller knows it is new for this client).
    pub fn ssubscribe(&self, channel: &[u8], sub: &Arc<Subscriber>) {
        add_subscriber(&self.shard_channels, channel, sub);
    }

    pub fn sunsubscribe(&self, channel: &[u8], sub: &Arc<Subscriber>) {
        remove_subscriber(&self.shard_channels, channel, sub);
    }

    /// Sends to every subscriber of shard channel `channel` (no patterns); how many.
    pub fn spublish(
        &self,
        channel: &[u8],
        payload: &[u8],
        limit: OutputLimit,
        over: &AtomicU64,
    ) -> usize {
        let now = crate::unix_ms();
        let channel: Arc<[u8]> = channel.into();
        let payload: Arc<[u8]> = payload.into();
        let mut received = 0;
        if let Some(subs) = self.shard_channels.read().get(&channel) {
            for s in subs {
                let m = Message::SMessage {
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                received += s.deliver(m, limit, now, over) as usize;
            }
        }
        received
    }

    /// Shard channels with at least one subscriber, optionally matching a pattern.
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        list_channels(&self.shard_channels, pattern)
    }

    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        self.shard_channels.read().get(channel).map_or(0, Vec::len)
    }

    /// Adds a channel subscription (the caller knows it is new for this client).
    pub fn subscribe(&self, channel: &[u8], sub: &Arc<Subscriber>) {
        add_subscriber(&self.channels, channel, sub);
    }

    pub fn unsubscribe(&self, channel: &[u8], sub: &Arc<Subscriber>) {
        remove_subscriber(&self.channels, channel, sub);
    }

    pub fn psubscribe(&self, pattern: &[u8], sub: &Arc<Subscriber>) {
        self.patterns.write().push((pattern.into(), sub.clone()));
    }

    pub fn punsubscribe(&self, pattern: &[u8], sub: &Arc<Subscriber>) {
        self.patterns
            .write()
            .retain(|(p, s)| !(&p[..] == pattern && Arc::ptr_eq(s, sub)));
    }

    /// Sends to every subscriber of `channel` and every matching pattern subscription;
    /// returns how many received it (Redis's PUBLISH reply).
    pub fn publish(
        &self,
        channel: &[u8],
        payload: &[u8],
        limit: OutputLimit,
        over: &AtomicU64,
    ) -> usize {
        let now = crate::unix_ms();
        let channel: Arc<[u8]> = channel.into();
        let payload: Arc<[u8]> = payload.into();
        let mut received = 0;
        if let Some(subs) = self.channels.read().get(&channel) {
            for s in subs {
                let m = Message::Message {
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                received += s.deliver(m, limit, now, over) as usize;
            }
        }
        for (pattern, s) in self.patterns.read().iter() {
            if store::glob::matches(pattern, &channel, false) {
                let m = Message::PMessage {
                    pattern: pattern.clone(),
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                received += s.deliver(m, limit, now, over) as usize;
            }
        }
        received
    }

    /// A client's subscriptions: (channels and shard channels, patterns). A scan of every
    /// subscription, for the rare caller (an ACL change that may revoke some).
    pub fn subscriptions_of(&self, id: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut channels = Vec::new();
        for map in [&self.channels, &self.shard_channels] {
            channels.extend(
                map.read()
                    .iter()
                    .filter(|(_, subs)| subs.iter().any(|s| s.id == id))
                    .map(|(c, _)| c.to_vec()),
            );
        }
        let patterns = self
            .patterns
            .read()
            .iter()
            .filter(|(_, s)| s.id == id)
            .map(|(p, _)| p.to_vec())
            .collect();
        (channels, patterns)
    }

    /// Channels with at least one subscriber, optionally matching a pattern.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        list_channels(&self.channels, pattern)
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.read().get(channel).map_or(0, Vec::len)
    }

    /// Distinct patterns subscribed to (PUBSUB NUMPAT, INFO's `pubsub_patterns`).
    pub fn numpat(&self) -> usize {
        let patterns = self.patterns.read();
        let mut distinct: Vec<&[u8]> = patterns.iter().map(|(p, _)| &p[..]).collect();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.len()
    }

    pub fn numchannels(&self) -> usize {
        self.channels.read().len()
    }
}

/// A connection's subscriptions and its message queue.
#[derive(Debug)]
pub struct ClientSubs {
    pub subscriber: Arc<Subscriber>,
    pub rx: mpsc::UnboundedReceiver<Message>,
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
    pub shard_channels: IndexSet<Vec<u8>>,
    /// In MONITOR mode.
    pub monitoring: bool,
}

impl ClientSubs {
    /// The client's subscription state, created on first use.
    pub fn of(client: &mut ClientState) -> &mut ClientSubs {
        let info = &client.info;
        client.pubsub.get_or_insert_with(|| {
            let (subscriber, rx) = Subscriber::new(info.id, info.kill.clone());
            ClientSubs {
                subscriber,
                rx,
                channels: Default::default(),
                patterns: Default::default(),
                shard_channels: Default::default(),
                monitoring: false,
            }
        })
    }

    /// Channel and pattern subscriptions: the count in (p)(un)subscribe replies (shard
    /// channels are counted apart, as Redis).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// The client's message queue, created (and made findable by id) on first use.
pub fn endpoint_of(shared: &Shared, client: &mut ClientState) -> Arc<Subscriber> {
    let fresh = client.pubsub.is_none();
    let sub = ClientSubs::of(client).subscriber.clone();
    if fresh {
        shared.pubsub.register_endpoint(&sub);
    }
    sub
}

/// Whether the client is in subscribed mode (RESP2 then limits what it may run).
/// Writes the messages already queued for `client` (published messages, invalidations)
/// until its output holds `limit` bytes.
pub(crate) fn drain_queued(client: &mut ClientState, out: &mut resp::ReplyWriter, limit: usize) {
    while out.len() < limit {
        match client.pubsub.as_mut().and_then(|s| s.rx.try_recv().ok()) {
            Some(m) => encode_queued(client, out, m),
            None => return,
        }
    }
}

/// Writes one queued message as the connection's protocol takes it: a RESP2 connection takes
/// an invalidation only as a Pub/Sub message, so only while it is subscribed (Redis's rule).
pub(crate) fn encode_queued(client: &ClientState, out: &mut resp::ReplyWriter, m: Message) {
    if let Some(subs) = &client.pubsub {
        subs.subscriber.taken(&m);
    }
    let resp2 = !out.is_resp3();
    match m {
        Message::Invalidate(_) if resp2 && !subscribed(client) => {}
        Message::RedirectBroken(_) if resp2 => {}
        m => m.encode(out),
    }
}

pub fn subscribed(client: &ClientState) -> bool {
    client
        .pubsub
        .as_ref()
        .is_some_and(|p| p.count() + p.shard_channels.len() > 0)
}

/// Drops every subscription (RESET, disconnect).
pub fn unsubscribe_all(shared: &Shared, client: &mut ClientState) {
    shared.pubsub.forget_endpoint(client.info.id);
    client
        .info
        .sub
        .store(0, std::sync::atomic::Ordering::Relaxed);
    client
        .info
        .psub
        .store(0, std::sync::atomic::Ordering::Relaxed);
    if let Some(subs) = client.pubsub.take() {
        for c in &subs.channels {
            shared.pubsub.unsubscribe(c, &subs.subscriber);
        }
        for p in &subs.patterns {
            shared.pubsub.punsubscribe(p, &subs.subscriber);
        }
        for c in &subs.shard_channels {
            shared.pubsub.sunsubscribe(c, &subs.subscriber);
        }
        if subs.monitoring {
            shared.pubsub.unmonitor(&subs.subscriber);
        }
    }
}

/// The MONITOR line for a command (Redis's `replicationFeedMonitors`): the time with
/// microseconds, `[db client-address]`, then each argument quoted as `sdscatrepr` does;
/// passwords are shown as `(redacted)`, as Redis 7 does.
/// A MONITOR line: time, `[db client]` (the client's address, or `lua` for a command a script
/// ran, as Redis writes it), then the quoted arguments.
pub fn monitor_line(client: &dyn std::fmt::Display, args: resp::Args<'_>) -> String {
    use std::fmt::Write as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!("{}.{:06} [0 {client}]", now.as_secs(), now.subsec_micros());
    let redacted = crate::redact::positions(args);
    for (i, a) in args.iter().enumerate() {
        line.push(' ');
        if redacted.contains(&i) {
            line.push_str("\"(redacted)\"");
            continue;
        }
        line.push('"');
        for &c in a {
            match c {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                7 => line.push_str("\\a"),
                8 => line.push_str("\\b"),
                c if c.is_ascii_graphic() || c == b' ' => line.push(c as char),
                c => {
                    let _ = write!(line, "\\x{c:02x}");
                }
            }
        }
        line.push('"');
    }
    line
}
