//! `cache.CacheService`: each call becomes the Redis commands a client would send, run on
//! the key's owner through the cluster client (which follows MOVED/ASK/TRYAGAIN), so the
//! gRPC client never sees a redirect.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use resp::Frame;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use upstream::cluster::{encode, parse_one};
use upstream::ClusterClient;

use crate::pb;
use crate::pb::cache_service_server::CacheService;
use crate::status::{from_cluster, from_reply};

/// Counters for /metrics and logs.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Refused at once by load shedding.
    pub shed: AtomicU64,
}

impl Stats {
    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            ("requests_total", "gRPC calls received.", &self.requests),
            (
                "errors_total",
                "gRPC calls answered with an error status.",
                &self.errors,
            ),
            (
                "shed_total",
                "gRPC calls refused by load shedding.",
                &self.shed,
            ),
        ] {
            out += &format!(
                "# HELP shardcache_grpc_{name} {help}\n# TYPE shardcache_grpc_{name} counter\nshardcache_grpc_{name} {}\n",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

pub struct Cache {
    pub(crate) cluster: Arc<ClusterClient>,
    /// This node's own RESP address (Health describes it).
    pub(crate) local: String,
    /// In-flight bound and CPU guard: above them a request is refused, not queued.
    pub(crate) shedder: Arc<shed::Shedder>,
    pub(crate) stats: Arc<Stats>,
}

/// A TTL from the request: positive, whole milliseconds (rounded up from nanoseconds).
fn ttl_ms(ttl: &Option<prost_types::Duration>) -> Result<Option<u64>, Status> {
    let Some(d) = ttl else {
        return Ok(None);
    };
    if !(0..1_000_000_000).contains(&d.nanos) || d.seconds < 0 {
        return Err(Status::invalid_argument(
            "ttl must be a positive duration (seconds >= 0, 0 <= nanos < 1e9)",
        ));
    }
    let ms = (d.seconds as u128) * 1000 + (d.nanos as u128).div_ceil(1_000_000);
    if ms == 0 {
        return Err(Status::invalid_argument("ttl must be longer than zero"));
    }
    // Redis refuses expire times whose absolute time overflows; keep well inside it.
    if ms > (i64::MAX / 2) as u128 {
        return Err(Status::invalid_argument("ttl is too long"));
    }
    Ok(Some(ms as u64))
}

fn duration_of_ms(ms: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A reply that must not be an error.
fn ok(frame: Frame) -> Result<Frame, Status> {
    match frame {
        Frame::Error(e) => Err(from_reply(&e)),
        f => Ok(f),
    }
}

/// `grpc-timeout` (`<digits><H|M|S|m|u|n>`), as the gRPC HTTP/2 protocol defines it.
fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let v = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl Cache {
    /// Admits a request (or refuses it at once when the node is over its load limits).
    fn admit(&self) -> Result<shed::Admitted<'_>, Status> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.shedder.admit().map_err(|why| {
            self.stats.shed.fetch_add(1, Ordering::Relaxed);
            Status::resource_exhausted(format!(
                "this node is shedding load ({}); retry later",
                why.reason()
            ))
        })
    }

    /// Runs `work` within the caller's deadline. tonic's own timeout answers CANCELLED; the
    /// protocol says DEADLINE_EXCEEDED, so this one ends a little earlier.
    async fn within<T, F>(&self, limit: Option<Duration>, work: F) -> Result<T, Status>
    where
        F: std::future::Future<Output = Result<T, Status>>,
    {
        let result = match limit {
            None => work.await,
            Some(d) => {
                let margin = (d / 20).min(Duration::from_millis(5));
                match tokio::time::timeout(d.saturating_sub(margin), work).await {
                    Ok(r) => r,
                    Err(_) => Err(Status::deadline_exceeded("deadline exceeded")),
                }
            }
        };
        if result.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Runs commands that all touch `slot` (one round trip), answering each reply.
    async fn run(&self, slot: u16, commands: &[Vec<&[u8]>]) -> Result<Vec<Frame>, Status> {
        let mut wire = Vec::new();
        for c in commands {
            resp::request::encode_command(c, &mut wire);
        }
        let bytes = self
            .cluster
            .call_slot(Some(slot), Bytes::from(wire), commands.len() as u32)
            .await
            .map_err(from_cluster)?;
        let mut frames = Vec::with_capacity(commands.len());
        let mut at = 0;
        while frames.len() < commands.len() {
            match Frame::parse(&bytes[at..]) {
                Ok(Some((f, n))) => {
                    frames.push(f);
                    at += n;
                }
                _ => return Err(Status::internal("the node sent an invalid reply")),
            }
        }
        Ok(frames)
    }

    async fn set(&self, r: pb::SetRequest) -> Result<pb::SetResponse, Status> {
        let ttl = ttl_ms(&r.ttl)?.map(|ms| ms.to_string());
        let mut cmd: Vec<&[u8]> = vec![b"SET", r.key.as_bytes(), &r.value];
        if let Some(ms) = &ttl {
            cmd.extend([b"PX".as_slice(), ms.as_bytes()]);
        }
        match pb::Condition::try_from(r.condition) {
            Ok(pb::Condition::Always) => {}
            Ok(pb::Condition::IfAbsent) => cmd.push(b"NX"),
            Ok(pb::Condition::IfPresent) => cmd.push(b"XX"),
            Err(_) => return Err(Status::invalid_argument("unknown condition")),
        }
        let slot = placement::slot::key_slot(r.key.as_bytes());
        let reply = self.run(slot, &[cmd]).await?.remove(0);
        Ok(pb::SetResponse {
            stored: !matches!(ok(reply)?, Frame::Null),
        })
    }

    async fn get(&self, r: pb::GetRequest) -> Result<pb::GetResponse, Status> {
        let key = r.key.as_bytes();
        let slot = placement::slot::key_slot(key);
        let mut replies = self
            .run(slot, &[vec![b"GET", key], vec![b"PTTL", key]])
            .await?
            .into_iter();
        let value = ok(replies.next().expect("two replies"))?;
        let pttl = ok(replies.next().expect("two replies"))?;
        Ok(match value {
            Frame::Bulk(v) => pb::GetResponse {
                found: true,
                value: v,
                ttl: match pttl {
                    Frame::Integer(ms) if ms >= 0 => Some(duration_of_ms(ms)),
                    _ => None,
                },
            },
            _ => pb::GetResponse::default(),
        })
    }

    async fn delete(&self, r: pb::DeleteRequest) -> Result<pb::DeleteResponse, Status> {
        let key = r.key.as_bytes();
        let reply = self
            .run(placement::slot::key_slot(key), &[vec![b"DEL", key]])
            .await?
            .remove(0);
        Ok(pb::DeleteResponse {
            deleted: matches!(ok(reply)?, Frame::Integer(n) if n > 0),
        })
    }

    /// Key positions grouped by slot (a slot's keys go to its owner in one command).
    fn by_slot<'k>(keys: impl Iterator<Item = &'k [u8]>) -> BTreeMap<u16, Vec<usize>> {
        let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, k) in keys.enumerate() {
            groups
                .entry(placement::slot::key_slot(k))
                .or_default()
                .push(i);
        }
        groups
    }

    async fn mget(self: &Arc<Self>, r: pb::MGetRequest) -> Result<pb::MGetResponse, Status> {
        if r.keys.is_empty() {
            return Err(Status::invalid_argument("no keys given"));
        }
        let keys = Arc::new(r.keys);
        let groups = Self::by_slot(keys.iter().map(|k| k.as_bytes()));
        let mut tasks = Vec::with_capacity(groups.len());
        for (slot, positions) in groups {
            let (me, keys) = (self.clone(), keys.clone());
            tasks.push(tokio::spawn(async move {
                let mut cmd: Vec<&[u8]> = vec![b"MGET"];
                cmd.extend(positions.iter().map(|&i| keys[i].as_bytes()));
                let reply = ok(me.run(slot, &[cmd]).await?.remove(0))?;
                Ok::<_, Status>((positions, reply))
            }));
        }
        let mut values = vec![pb::Value::default(); keys.len()];
        for t in tasks {
            let (positions, reply) = t
                .await
                .map_err(|e| Status::internal(format!("MGet part failed: {e}")))??;
            let Frame::Array(items) = reply else {
                return Err(Status::internal(
                    "MGET answered something else than an array",
                ));
            };
            for (i, item) in positions.into_iter().zip(items) {
                if let Frame::Bulk(v) = item {
                    values[i] = pb::Value {
                        found: true,
                        value: v,
                    };
                }
            }
        }
        Ok(pb::MGetResponse { values })
    }

    async fn mset(self: &Arc<Self>, r: pb::MSetRequest) -> Result<pb::MSetResponse, Status> {
        if r.entries.is_empty() {
            return Err(Status::invalid_argument("no entries given"));
        }
        let ttl = ttl_ms(&r.ttl)?.map(|ms| ms.to_string());
        let entries = Arc::new(r.entries);
        let groups = Self::by_slot(entries.iter().map(|e| e.key.as_bytes()));
        let mut tasks = Vec::with_capacity(groups.len());
        for (slot, positions) in groups {
            let (me, entries, ttl) = (self.clone(), entries.clone(), ttl.clone());
            tasks.push(tokio::spawn(async move {
                // Without a TTL one MSET per slot (atomic on its node); with one, a SET PX
                // per key, sent together.
                let commands: Vec<Vec<&[u8]>> = match &ttl {
                    None => {
                        let mut cmd: Vec<&[u8]> = vec![b"MSET"];
                        for &i in &positions {
                            cmd.extend([entries[i].key.as_bytes(), &entries[i].value]);
                        }
                        vec![cmd]
                    }
                    Some(ms) => positions
                        .iter()
                        .map(|&i| {
                            vec![
                                b"SET".as_slice(),
                                entries[i].key.as_bytes(),
                                &entries[i].value,
                                b"PX",
                                ms.as_bytes(),
                            ]
                        })
                        .collect(),
                };
                for reply in me.run(slot, &commands).await? {
                    ok(reply)?;
                }
                Ok::<_, Status>(())
            }));
        }
        for t in tasks {
            t.await
                .map_err(|e| Status::internal(format!("MSet part failed: {e}")))??;
        }
        Ok(pb::MSetResponse {})
    }

    /// Every primary's keys, one SCAN batch per message.
    fn scan(
        self: &Arc<Self>,
        r: pb::ScanRequest,
    ) -> mpsc::Receiver<Result<pb::ScanResponse, Status>> {
        let (tx, rx) = mpsc::channel(4);
        let me = self.clone();
        tokio::spawn(async move {
            let count = if r.count == 0 { 100 } else { r.count }.to_string();
            let primaries: Vec<String> = me
                .cluster
                .map()
                .shards
                .iter()
                .map(|s| s.primary.clone())
                .collect();
            for node in primaries {
                let mut cursor = b"0".to_vec();
                loop {
                    let mut cmd: Vec<&[u8]> = vec![b"SCAN", &cursor, b"COUNT", count.as_bytes()];
                    if !r.pattern.is_empty() {
                        cmd.extend([b"MATCH".as_slice(), r.pattern.as_bytes()]);
                    }
                    let reply = me
                        .cluster
                        .call_node(&node, encode(&cmd))
                        .await
                        .map_err(from_cluster)
                        .and_then(|b| parse_one(&b).map_err(from_cluster))
                        .and_then(ok);
                    let (next, keys) = match reply {
                        Ok(Frame::Array(mut parts)) if parts.len() == 2 => {
                            let keys = parts.pop().expect("two parts");
                            let next = parts.pop().expect("two parts");
                            (next, keys)
                        }
                        Ok(_) => {
                            let _ = tx.send(Err(Status::internal("SCAN: invalid reply"))).await;
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    let keys: Vec<String> = match keys {
                        Frame::Array(k) => k.iter().filter_map(|f| f.as_text()).collect(),
                        _ => Vec::new(),
                    };
                    if !keys.is_empty() && tx.send(Ok(pb::ScanResponse { keys })).await.is_err() {
                        return; // The client went away.
                    }
                    cursor = match next {
                        Frame::Bulk(c) => c,
                        _ => b"0".to_vec(),
                    };
                    if cursor == b"0" {
                        break;
                    }
                }
            }
        });
        rx
    }

    /// This node's state, from the node itself.
    pub(crate) async fn health(&self) -> Result<pb::HealthResponse, Status> {
        let mut wire = Vec::new();
        for c in [
            &[b"ROLE".as_slice()][..],
            &[b"CLUSTER", b"INFO"],
            &[b"CLUSTER", b"NODES"],
            &[b"INFO", b"server"],
        ] {
            resp::request::encode_command(c, &mut wire);
        }
        let bytes = self
            .cluster
            .node(&self.local)
            .send_many(Bytes::from(wire), 4)
            .await
            .map_err(|_| Status::unavailable("the node is not answering"))?
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut frames = Vec::new();
        let mut at = 0;
        while let Ok(Some((f, n))) = Frame::parse(&bytes[at..]) {
            frames.push(f);
            at += n;
        }
        let [role, info, nodes, server] = <[Frame; 4]>::try_from(frames)
            .map_err(|_| Status::internal("the node sent an invalid reply"))?;
        let role = match ok(role)? {
            Frame::Array(items) => items.first().and_then(|f| f.as_text()).unwrap_or_default(),
            _ => String::new(),
        };
        let field = |text: &str, name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let (cluster_state, node_id, slots) = match (info, nodes) {
            (Frame::Error(_), _) | (_, Frame::Error(_)) => {
                let run_id = server
                    .as_text()
                    .and_then(|t| field(&t, "run_id"))
                    .unwrap_or_default();
                ("standalone".to_string(), run_id, Vec::new())
            }
            (info, nodes) => {
                let state = info
                    .as_text()
                    .and_then(|t| field(&t, "cluster_state"))
                    .unwrap_or_default();
                let (id, slots) = my_slots(&nodes.as_text().unwrap_or_default());
                (state, id, slots)
            }
        };
        let serving = role.is_empty() || cluster_state == "ok" || cluster_state == "standalone";
        Ok(pb::HealthResponse {
            status: if serving && !role.is_empty() {
                "SERVING"
            } else {
                "NOT_SERVING"
            }
            .into(),
            node_id,
            role,
            slots,
            cluster_state,
        })
    }
}

/// From CLUSTER NODES: my id, and my shard's slot ranges (a replica's are its primary's).
fn my_slots(nodes: &str) -> (String, Vec<pb::SlotRange>) {
    let lines: Vec<Vec<&str>> = nodes.lines().map(|l| l.split(' ').collect()).collect();
    let Some(me) = lines.iter().find(|f| {
        f.get(2)
            .is_some_and(|flags| flags.split(',').any(|x| x == "myself"))
    }) else {
        return (String::new(), Vec::new());
    };
    let id = me[0].to_string();
    let owner = match me.get(3) {
        Some(&primary) if primary != "-" => lines.iter().find(|f| f[0] == primary).unwrap_or(me),
        _ => me,
    };
    let slots = owner
        .iter()
        .skip(8)
        .filter(|r| !r.starts_with('['))
        .filter_map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            Some(pb::SlotRange {
                start: a.parse().ok()?,
                end: b.parse().ok()?,
            })
        })
        .collect();
    (id, slots)
}

/// The tonic service: admission, deadline, then the call.
#[derive(Clone)]
pub struct Service(pub Arc<Cache>);

#[tonic::async_trait]
impl CacheService for Service {
    async fn set(&self, req: Request<pb::SetRequest>) -> Result<Response<pb::SetResponse>, Status> {
        let _permit = self.0.admit()?;
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.set(req.into_inner()))
            .await
            .map(Response::new)
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let _permit = self.0.admit()?;
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.get(req.into_inner()))
            .await
            .map(Response::new)
    }

    async fn delete(
        &self,
        req: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let _permit = self.0.admit()?;
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.delete(req.into_inner()))
            .await
            .map(Response::new)
    }

    async fn health(
        &self,
        req: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        // Never shed: health checks must see an overloaded node as alive.
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.health())
            .await
            .map(Response::new)
    }

    async fn m_get(
        &self,
        req: Request<pb::MGetRequest>,
    ) -> Result<Response<pb::MGetResponse>, Status> {
        let _permit = self.0.admit()?;
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.mget(req.into_inner()))
            .await
            .map(Response::new)
    }

    async fn m_set(
        &self,
        req: Request<pb::MSetRequest>,
    ) -> Result<Response<pb::MSetResponse>, Status> {
        let _permit = self.0.admit()?;
        let limit = deadline(&req);
        self.0
            .within(limit, self.0.mset(req.into_inner()))
            .await
            .map(Response::new)
    }

    type ScanStream = ReceiverStream<Result<pb::ScanResponse, Status>>;

    async fn scan(
        &self,
        req: Request<pb::ScanRequest>,
    ) -> Result<Response<Self::ScanStream>, Status> {
        let _permit = self.0.admit()?;
        Ok(Response::new(ReceiverStream::new(
            self.0.scan(req.into_inner()),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_positive_milliseconds() {
        let d = |seconds, nanos| Some(prost_types::Duration { seconds, nanos });
        assert_eq!(ttl_ms(&None).unwrap(), None);
        assert_eq!(ttl_ms(&d(2, 0)).unwrap(), Some(2000));
        assert_eq!(ttl_ms(&d(0, 1)).unwrap(), Some(1));
        assert!(ttl_ms(&d(0, 0)).is_err());
        assert!(ttl_ms(&d(-1, 0)).is_err());
        assert!(ttl_ms(&d(1, -5)).is_err());
        assert!(ttl_ms(&d(i64::MAX, 0)).is_err());
    }

    #[test]
    fn my_slots_come_from_my_shard() {
        let nodes = "a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99 200 [5->-b]\n\
                     b 127.0.0.1:7001@17001 slave a 0 0 1 connected\n";
        let (id, slots) = my_slots(nodes);
        assert_eq!(id, "a");
        assert_eq!(
            slots,
            vec![
                pb::SlotRange { start: 0, end: 99 },
                pb::SlotRange {
                    start: 200,
                    end: 200
                }
            ]
        );
        let replica = nodes
            .replace("myself,master", "master")
            .replace("slave a", "myself,slave a");
        let (id, slots) = my_slots(&replica);
        assert_eq!(id, "b");
        assert_eq!(slots.len(), 2);
    }
}
