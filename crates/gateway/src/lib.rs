//! The HTTP caching gateway (`shardcache gateway`): in front of an HTTP API, GET and HEAD
//! responses are cached in a Shard-Cache cluster (`--cluster`) or on a ring of Redis
//! servers (`CACHE_SHARD_URLS`, `VIRTUAL_NODES`), and every response says how it was served:
//! `X-Cache: HIT | MISS | BYPASS | STALE`, `X-Cache-Shard: redis://...` (where the entry
//! lives) and `Age`.
//!
//! - Keys: method + URL + the route's key headers ([`key`]); responses with `Vary` are kept
//!   per variant. Requests with `Authorization` or `Cookie` are passed through uncached
//!   unless the route keys on that header, so one user's response never reaches another.
//! - Freshness from `Cache-Control: s-maxage/max-age`, else the route's or the default
//!   TTL; `no-store`, `private`, `no-cache`, `Set-Cookie` and uncacheable statuses are
//!   never stored ([`policy`]). A request's `no-cache` fetches anew and updates the entry;
//!   `no-store` passes through (both BYPASS).
//! - Concurrent misses for one key make one upstream request ([`flight`]).
//! - `stale-while-revalidate`: a stale entry is served (STALE) while one refresh runs;
//!   `stale-if-error`: served when the upstream fails. Otherwise an unreachable upstream is
//!   502, a slow one 504.
//! - Bodies over `max_object_bytes` are streamed on to the client, never stored; a body that breaks
//!   off is never stored (only complete responses are).
//! - POST, PUT, PATCH and DELETE pass through and invalidate the URL's entry.
//! - `GET /api/cache/stats`, `POST /api/cache/clear?pattern=<glob on path?query>` (from
//!   loopback, or with `Authorization: Bearer <admin token>` when one is set).

pub mod config;
pub mod entry;
pub mod flight;
pub mod key;
pub mod local;
pub mod policy;
pub mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::config::{Route, Routes};
use crate::entry::{Entry, Stored};
use crate::flight::{land, Flights, Joined};
use crate::policy::{cache_control, freshness, request_mode, Defaults, RequestMode};
pub use crate::store::Store;

#[derive(Debug, Clone)]
pub struct Options {
    /// The API behind the gateway: `http://host:port` (no path).
    pub upstream: String,
    /// Seconds a response without `max-age`/`s-maxage` stays fresh (`CACHE_DEFAULT_TTL`);
    /// 0 = such responses are not stored.
    pub default_ttl: u64,
    pub routes: Routes,
    /// Larger bodies are streamed through and not stored.
    pub max_object_bytes: usize,
    /// For the upstream's response headers, and again for its body.
    pub upstream_timeout: Duration,
    /// Opens `POST /api/cache/clear` from anywhere (else loopback only).
    pub admin_token: Option<String>,
    /// Requests in flight at once; more get 503 with Retry-After (0 = no bound).
    pub max_concurrent: usize,
    /// 503 while the process uses more than this share of all cores over the window.
    pub cpu_shed_threshold: f64,
    pub cpu_shed_window: Duration,
    /// Bytes of the near cache in this process (0 = none; see [`local`]).
    pub local_cache_bytes: usize,
    /// How long an entry is kept in the near cache at most.
    pub local_cache_ttl: Duration,
}

impl Options {
    pub fn new(upstream: String) -> Options {
        Options {
            upstream,
            default_ttl: 300,
            routes: Routes::default(),
            max_object_bytes: 8 << 20,
            upstream_timeout: Duration::from_secs(30),
            admin_token: None,
            max_concurrent: 0,
            cpu_shed_threshold: 0.0,
            cpu_shed_window: Duration::from_secs(10),
            local_cache_bytes: 0,
            local_cache_ttl: Duration::from_secs(1),
        }
    }
}

/// Counters (`/api/cache/stats`).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub bypass: AtomicU64,
    pub stale: AtomicU64,
    /// Misses answered by another request's upstream fetch.
    pub coalesced: AtomicU64,
    pub upstream_requests: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub stored: AtomicU64,
    pub store_errors: AtomicU64,
    pub invalidations: AtomicU64,
}

/// A complete upstream response, as every waiter of a flight receives it.
struct Fetched {
    status: u16,
    /// End-to-end headers.
    headers: Vec<(String, Bytes)>,
    body: Bytes,
    /// `Vary` (lowercase names) and this request's values for them.
    vary: Vec<String>,
    vary_values: Vec<(String, Option<Vec<u8>>)>,
    /// Where it was stored (none: not stored).
    stored_at: Option<String>,
}

enum Outcome {
    Complete(Fetched),
    Failed(StatusCode, String),
    /// Over the size limit: streamed to the leader's client only; others fetch for
    /// themselves.
    TooLarge,
}

type Upstream = Client<HttpConnector, Body>;

pub struct Gateway {
    store: Store,
    client: Upstream,
    options: Options,
    pub stats: Stats,
    flights: Flights<Outcome>,
    shedder: Arc<shed::Shedder>,
    local: Option<local::LocalCache>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Headers of one connection, not of the message (RFC 9110 7.6.1), plus those the
/// `Connection` header names.
fn hop_by_hop(name: &str, connection: &[String]) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || connection.iter().any(|c| c == name)
}

/// Removes the connection-level headers of a response passed on.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let connection = connection_names(headers);
    let names: Vec<_> = headers.keys().cloned().collect();
    for n in names {
        if hop_by_hop(n.as_str(), &connection) {
            headers.remove(&n);
        }
    }
}

fn connection_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

fn values(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(format!("{text}\n")))
        .expect("a valid response")
}

/// A body read up to a limit.
enum Collected {
    Full(Bytes),
    /// Over the limit: what was read, and the rest still to come.
    TooBig(Vec<Bytes>, Incoming),
    Broken(String),
}

async fn collect(mut body: Incoming, limit: usize) -> Collected {
    let mut parts = Vec::new();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    size += data.len();
                    parts.push(data);
                    if size > limit {
                        return Collected::TooBig(parts, body);
                    }
                }
            }
            Err(e) => return Collected::Broken(e.to_string()),
        }
    }
    if parts.len() == 1 {
        return Collected::Full(parts.pop().expect("one part"));
    }
    let mut all = Vec::with_capacity(size);
    for p in parts {
        all.extend_from_slice(&p);
    }
    Collected::Full(Bytes::from(all))
}

impl Gateway {
    pub fn new(store: Store, options: Options) -> Arc<Gateway> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(options.upstream_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let shedder = shed::Shedder::new(
            shed::Door::Http,
            options.max_concurrent,
            options.cpu_shed_threshold,
            options.cpu_shed_window,
        );
        let local = (options.local_cache_bytes > 0)
            .then(|| local::LocalCache::new(options.local_cache_bytes, options.local_cache_ttl));
        Arc::new(Gateway {
            store,
            client,
            shedder,
            local,
            options,
            stats: Stats::default(),
            flights: Flights::default(),
        })
    }

    /// The application: the cache in front of the upstream, and the two admin routes.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }

    fn defaults(&self, route: Option<&Route>) -> Defaults {
        Defaults {
            ttl: route
                .and_then(|r| r.ttl)
                .unwrap_or(self.options.default_ttl),
            stale_while_revalidate: route.and_then(|r| r.stale_while_revalidate).unwrap_or(0),
            stale_if_error: route.and_then(|r| r.stale_if_error).unwrap_or(0),
        }
    }

    /// Builds the upstream request: the client's end-to-end headers (without conditionals
    /// when the answer is for the cache: a 304 could not be stored), X-Forwarded-For.
    fn upstream_request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
        peer: Option<SocketAddr>,
        for_cache: bool,
    ) -> Result<http::Request<Body>, String> {
        let connection = connection_names(headers);
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.options.upstream, path_and_query));
        let mut forwarded_for = None;
        for (name, value) in headers {
            let n = name.as_str();
            if hop_by_hop(n, &connection) {
                continue;
            }
            if for_cache && (n.starts_with("if-") || n == "range") {
                continue;
            }
            if n == "x-forwarded-for" {
                forwarded_for = value.to_str().ok().map(str::to_string);
                continue;
            }
            b = b.header(name, value);
        }
        if let Some(peer) = peer {
            let ip = peer.ip().to_string();
            let xff = match forwarded_for {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip,
            };
            b = b.header("x-forwarded-for", xff);
        }
        b.body(body).map_err(|e| e.to_string())
    }

    /// Sends a request upstream within the timeout: its response head, or the status to
    /// answer instead (502 unreachable, 504 too slow).
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, (StatusCode, String)> {
        self.stats.upstream_requests.fetch_add(1, Ordering::Relaxed);
        let result =
            tokio::time::timeout(self.options.upstream_timeout, self.client.request(request)).await;
        let failed = match result {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) => (
                StatusCode::BAD_GATEWAY,
                format!("upstream unreachable: {e}"),
            ),
            Err(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream did not answer in time".to_string(),
            ),
        };
        self.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %failed.1, "upstream request failed");
        Err(failed)
    }

    /// A response passed through as it streams (BYPASS; POST and friends).
    async fn pass(&self, req: Request, peer: Option<SocketAddr>) -> Response {
        self.stats.bypass.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let unsafe_method = !matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let request =
            match self.upstream_request(parts.method, &pq, &parts.headers, body, peer, false) {
                Ok(r) => r,
                Err(e) => return plain(StatusCode::BAD_REQUEST, &e),
            };
        let response = match self.send(request).await {
            Ok(r) => r,
            Err((status, e)) => return plain(status, &e),
        };
        // A successful write through the gateway makes the cached read stale (RFC 9111 4.4).
        if unsafe_method && response.status().as_u16() < 400 {
            let primary = key::primary(&pq, &[]);
            self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
            if let Some(l) = &self.local {
                l.remove(&primary);
            }
            if let Err(e) = self.store.del(&primary).await {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cache invalidation failed");
            }
        }
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        head.headers
            .insert("x-cache", HeaderValue::from_static("BYPASS"));
        Response::from_parts(head, Body::new(body))
    }

    /// A stored response as the client's answer.
    fn answer(&self, s: &Stored, how: &'static str, shard: &str, head: bool, now: u64) -> Response {
        let mut b = Response::builder().status(s.status);
        for (name, value) in &s.headers {
            if matches!(
                name.as_str(),
                "content-length" | "age" | "x-cache" | "x-cache-shard"
            ) {
                continue;
            }
            if let Ok(v) = HeaderValue::from_maybe_shared(value.clone()) {
                b = b.header(name.as_str(), v);
            }
        }
        b = b
            .header(header::AGE, s.age(now))
            .header("x-cache", how)
            .header("x-cache-shard", shard)
            .header(header::CONTENT_LENGTH, s.body.len());
        let body = if head {
            Body::empty()
        } else {
            Body::from(s.body.clone())
        };
        b.body(body)
            .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "invalid stored response"))
    }

    /// The entry under `key` and the shard it lives on: from the near cache, else from
    /// the store (then kept near, for at most its freshness).
    async fn entry(&self, key: &str) -> Option<(Arc<Entry>, Arc<str>)> {
        if let Some(found) = self.local.as_ref().and_then(|l| l.get(key)) {
            return Some(found);
        }
        let bytes = match self.store.get(key).await {
            Ok(v) => v?,
            Err(e) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cache read failed; serving from the upstream");
                return None;
            }
        };
        let entry = Arc::new(Entry::decode(bytes)?);
        let shard: Arc<str> = self.store.shard(key).into();
        if let Some(l) = &self.local {
            let fresh_for = match entry.as_ref() {
                Entry::Response(s) => Duration::from_millis(s.fresh_until.saturating_sub(now_ms())),
                Entry::Vary(_) => Duration::MAX,
            };
            l.put(key, entry.clone(), shard.clone(), fresh_for);
        }
        Some((entry, shard))
    }

    /// The stored response for this request (following a Vary marker), with the shard it
    /// is on.
    async fn lookup(&self, primary: &str, headers: &HeaderMap) -> Option<(Arc<Entry>, Arc<str>)> {
        let (first, shard) = self.entry(primary).await?;
        match first.as_ref() {
            Entry::Response(_) => Some((first, shard)),
            Entry::Vary(names) => {
                let variant = key::variant(primary, &header_values(headers, names));
                let (found, shard) = self.entry(&variant).await?;
                matches!(found.as_ref(), Entry::Response(_)).then_some((found, shard))
            }
        }
    }

    /// GET and HEAD: from the cache, or from the upstream through a coalesced fetch.
    async fn cached(self: &Arc<Self>, req: Request, peer: Option<SocketAddr>) -> Response {
        let head = req.method() == Method::HEAD;
        let path = req.uri().path().to_string();
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let route = self.options.routes.for_path(&path).cloned();
        let keyed = |h: &str| {
            route
                .as_ref()
                .is_some_and(|r| r.key_headers.iter().any(|k| k == h))
        };
        let headers = req.headers();
        let unkeyed_credentials = (headers.contains_key(header::AUTHORIZATION)
            && !keyed("authorization"))
            || (headers.contains_key(header::COOKIE) && !keyed("cookie"));
        let pragma_no_cache =
            values(headers, header::PRAGMA).any(|v| v.to_ascii_lowercase().contains("no-cache"));
        let mode = request_mode(
            &cache_control(values(headers, header::CACHE_CONTROL)),
            pragma_no_cache,
            route.as_ref().is_some_and(|r| r.bypass),
            unkeyed_credentials,
        );
        if mode == RequestMode::Pass || head && mode == RequestMode::Refresh {
            return self.pass(req, peer).await;
        }
        let key_headers = match &route {
            Some(r) => header_values(headers, &r.key_headers),
            None => Vec::new(),
        };
        let primary = key::primary(&pq, &key_headers);
        let now = now_ms();
        let mut stale = None;
        if mode == RequestMode::Lookup {
            if let Some((found, shard)) = self.lookup(&primary, headers).await {
                let Entry::Response(stored) = found.as_ref() else {
                    unreachable!("lookup answers responses")
                };
                if now < stored.fresh_until {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return self.answer(stored, "HIT", &shard, head, now);
                }
                if now < stored.stale_until {
                    // Served stale; one refresh in the background (unless one runs).
                    self.stats.stale.fetch_add(1, Ordering::Relaxed);
                    if !self.flights.busy(&primary) {
                        let (me, parts) = (self.clone(), clone_head(&req));
                        let (primary, route) = (primary.clone(), route.clone());
                        tokio::spawn(async move {
                            // A refresh too large to store streams to no one: dropped.
                            let _ = me.fetch(&primary, &parts, route.as_ref(), peer).await;
                        });
                    }
                    return self.answer(stored, "STALE", &shard, head, now);
                }
                if now < stored.error_until {
                    stale = Some((stored.clone(), shard.to_string()));
                }
            }
        }
        if head {
            // A HEAD miss is answered by the upstream (a HEAD response cannot fill the
            // cache).
            return self.pass(req, peer).await;
        }
        let how = if mode == RequestMode::Refresh {
            "BYPASS"
        } else {
            "MISS"
        };
        let parts = clone_head(&req);
        let (outcome, led, streaming) = self.fetch(&primary, &parts, route.as_ref(), peer).await;
        if let Some(response) = streaming {
            self.count(how);
            return response;
        }
        match outcome.as_deref() {
            // stale-if-error covers upstream 5xx answers too (RFC 5861 4).
            Some(Outcome::Complete(f)) if f.status >= 500 && stale.is_some() => {
                let (s, shard) = stale.expect("checked");
                self.stats.stale.fetch_add(1, Ordering::Relaxed);
                self.answer(&s, "STALE", &shard, false, now)
            }
            Some(Outcome::Complete(f)) => {
                let mine = header_values(&parts.headers, &f.vary);
                if led || mine == f.vary_values {
                    if !led {
                        self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
                    }
                    self.count(how);
                    return self.fetched_answer(f, how);
                }
                // Another variant than the leader's: this one is asked for itself.
                self.pass(req, peer).await
            }
            Some(Outcome::Failed(status, why)) => match stale {
                Some((s, shard)) => {
                    self.stats.stale.fetch_add(1, Ordering::Relaxed);
                    self.answer(&s, "STALE", &shard, false, now)
                }
                None => plain(*status, why),
            },
            // Too large to store (the leader streamed its own), or the leader went away:
            // this request asks for itself.
            Some(Outcome::TooLarge) | None => self.pass(req, peer).await,
        }
    }

    fn count(&self, how: &str) {
        let c = if how == "BYPASS" {
            &self.stats.bypass
        } else {
            &self.stats.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn fetched_answer(&self, f: &Fetched, how: &'static str) -> Response {
        let mut b = Response::builder().status(f.status);
        for (name, value) in &f.headers {
            if matches!(
                name.as_str(),
                "content-length" | "x-cache" | "x-cache-shard"
            ) {
                continue;
            }
            if let Ok(v) = HeaderValue::from_maybe_shared(value.clone()) {
                b = b.header(name.as_str(), v);
            }
        }
        b = b
            .header("x-cache", how)
            .header("x-cache-shard", f.stored_at.as_deref().unwrap_or("none"))
            .header(header::CONTENT_LENGTH, f.body.len());
        b.body(Body::from(f.body.clone()))
            .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "invalid upstream response"))
    }

    /// One upstream GET for `primary`, shared by concurrent callers; stores what may be
    /// stored. Returns the outcome, whether this caller led the flight, and for a leader
    /// whose response was too large to store, that response streaming on.
    async fn fetch(
        &self,
        primary: &str,
        parts: &http::request::Parts,
        route: Option<&Route>,
        peer: Option<SocketAddr>,
    ) -> (Option<Arc<Outcome>>, bool, Option<Response>) {
        let leader = match self.flights.join(primary) {
            Joined::Follower(rx) => return (land(rx).await, false, None),
            Joined::Leader(l) => l,
        };
        let mut streaming = None;
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let outcome =
            match self.upstream_request(Method::GET, pq, &parts.headers, Body::empty(), peer, true)
            {
                Err(e) => Outcome::Failed(StatusCode::BAD_REQUEST, e),
                Ok(request) => match self.send(request).await {
                    Err((status, why)) => Outcome::Failed(status, why),
                    Ok(response) => {
                        self.complete(primary, parts, route, response, &mut streaming)
                            .await
                    }
                },
            };
        let outcome = Arc::new(outcome);
        leader.publish(outcome.clone());
        (Some(outcome), true, streaming)
    }

    /// Reads the upstream's response and stores it when it may be stored.
    async fn complete(
        &self,
        primary: &str,
        parts: &http::request::Parts,
        route: Option<&Route>,
        response: http::Response<Incoming>,
        streaming: &mut Option<Response>,
    ) -> Outcome {
        let (head, body) = response.into_parts();
        let collected = tokio::time::timeout(
            self.options.upstream_timeout,
            collect(body, self.options.max_object_bytes),
        )
        .await;
        let body = match collected {
            Ok(Collected::Full(b)) => b,
            Ok(Collected::TooBig(read, rest)) => {
                // Not stored; the leader's client gets it as it streams on.
                let mut head = head;
                strip_hop_by_hop(&mut head.headers);
                head.headers
                    .insert("x-cache", HeaderValue::from_static("MISS"));
                let body = futures_util::stream::iter(read.into_iter().map(Ok::<_, hyper::Error>))
                    .chain(rest.into_data_stream());
                *streaming = Some(Response::from_parts(head, Body::from_stream(body)));
                return Outcome::TooLarge;
            }
            Ok(Collected::Broken(e)) => {
                self.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
                return Outcome::Failed(
                    StatusCode::BAD_GATEWAY,
                    format!("upstream body broke off: {e}"),
                );
            }
            Err(_) => {
                self.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
                return Outcome::Failed(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream body did not arrive in time".into(),
                );
            }
        };
        let connection = connection_names(&head.headers);
        let headers: Vec<(String, Bytes)> = head
            .headers
            .iter()
            .filter(|(n, _)| !hop_by_hop(n.as_str(), &connection))
            .map(|(n, v)| (n.as_str().to_string(), Bytes::copy_from_slice(v.as_bytes())))
            .collect();
        let mut vary: Vec<String> = values(&head.headers, header::VARY)
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect();
        vary.sort();
        vary.dedup();
        let vary_values = header_values(&parts.headers, &vary);
        let status = head.status.as_u16();
        let directives = cache_control(values(&head.headers, header::CACHE_CONTROL));
        let sets_cookie = head.headers.contains_key(header::SET_COOKIE);
        let upstream_age = head
            .headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let fresh = freshness(status, &directives, sets_cookie, self.defaults(route))
            .filter(|_| !vary.iter().any(|v| v == "*"));
        let mut stored_at = None;
        if let Some(f) = fresh {
            let now = now_ms();
            let stored = Stored {
                status,
                headers: headers.clone(),
                body: body.clone(),
                stored_at: now,
                fresh_until: now + f.ttl_ms,
                stale_until: now + f.ttl_ms + f.stale_while_revalidate_ms,
                error_until: now + f.ttl_ms + f.stale_if_error_ms,
                upstream_age,
            };
            let keep = stored.keep_ms(now);
            let target = if vary.is_empty() {
                primary.to_string()
            } else {
                key::variant(primary, &vary_values)
            };
            let fresh_for = Duration::from_millis(f.ttl_ms);
            let response = Arc::new(Entry::Response(stored));
            let mut result = Ok(());
            if !vary.is_empty() {
                let marker = Arc::new(Entry::Vary(vary.clone()));
                result = self.store.put(primary, &marker.encode(), keep).await;
                if let (Ok(()), Some(l)) = (&result, &self.local) {
                    l.put(primary, marker, self.store.shard(primary).into(), fresh_for);
                }
            }
            if result.is_ok() {
                result = self.store.put(&target, &response.encode(), keep).await;
            }
            match result {
                Ok(()) => {
                    self.stats.stored.fetch_add(1, Ordering::Relaxed);
                    let shard = self.store.shard(&target);
                    if let Some(l) = &self.local {
                        l.put(&target, response, shard.as_str().into(), fresh_for);
                    }
                    stored_at = Some(shard);
                }
                Err(e) => {
                    self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cache write failed");
                }
            }
        }
        Outcome::Complete(Fetched {
            status,
            headers,
            body,
            vary,
            vary_values,
            stored_at,
        })
    }

    /// Prometheus text for the admin port.
    pub fn metrics(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.stats;
        let mut out = String::new();
        for (name, help, value) in [
            (
                "requests_total",
                "Requests served (the stats route aside).",
                g(&s.requests),
            ),
            ("hits_total", "Answered from the cache (fresh).", g(&s.hits)),
            (
                "stale_total",
                "Answered from a stale entry (stale-while-revalidate, stale-if-error).",
                g(&s.stale),
            ),
            (
                "misses_total",
                "Fetched from the upstream for the cache.",
                g(&s.misses),
            ),
            (
                "bypass_total",
                "Passed through without the cache.",
                g(&s.bypass),
            ),
            (
                "coalesced_total",
                "Misses answered by another request's fetch.",
                g(&s.coalesced),
            ),
            (
                "upstream_requests_total",
                "Requests sent to the upstream.",
                g(&s.upstream_requests),
            ),
            (
                "upstream_errors_total",
                "Upstream requests that failed (unreachable, timed out, broken body).",
                g(&s.upstream_errors),
            ),
            ("stored_total", "Responses stored.", g(&s.stored)),
            (
                "store_errors_total",
                "Cache reads or writes that failed.",
                g(&s.store_errors),
            ),
            (
                "invalidations_total",
                "Entries dropped by writes through the gateway.",
                g(&s.invalidations),
            ),
            (
                "shed_total",
                "Requests refused by load shedding (503).",
                shed::shed_counts()[shed::Door::Http as usize].1,
            ),
        ] {
            out += &format!(
                "# HELP shardcache_gateway_{name} {help}\n# TYPE shardcache_gateway_{name} counter\nshardcache_gateway_{name} {value}\n"
            );
        }
        out
    }

    fn stats_json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.stats;
        let (hits, misses) = (g(&s.hits) + g(&s.stale), g(&s.misses));
        json!({
            "total_requests": g(&s.requests),
            "hits": g(&s.hits),
            "stale_hits": g(&s.stale),
            "misses": misses,
            "bypass": g(&s.bypass),
            "coalesced": g(&s.coalesced),
            "upstream_requests": g(&s.upstream_requests),
            "upstream_errors": g(&s.upstream_errors),
            "stored": g(&s.stored),
            "store_errors": g(&s.store_errors),
            "invalidations": g(&s.invalidations),
            "shed": shed::shed_counts()[shed::Door::Http as usize].1,
            "hit_ratio": if hits + misses > 0 { hits as f64 / (hits + misses) as f64 } else { 0.0 },
            "backend": match &self.store {
                Store::Cluster(_) => "cluster",
                Store::Ring(_) => "ring",
            },
        })
    }

    /// `POST /api/cache/clear`: from loopback, or with the admin token.
    async fn clear(&self, req: Request, peer: Option<SocketAddr>) -> Response {
        let token_ok = self.options.admin_token.as_ref().is_some_and(|t| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| {
                    given.len() == t.len()
                        && given
                            .bytes()
                            .zip(t.bytes())
                            .fold(0, |a, (x, y)| a | (x ^ y))
                            == 0
                })
        });
        let local = peer.is_some_and(|p| p.ip().is_loopback());
        let open_locally = local && self.options.admin_token.is_none();
        if !(token_ok || open_locally) {
            return plain(
                StatusCode::UNAUTHORIZED,
                "clearing the cache needs the admin token (Authorization: Bearer ...)",
            );
        }
        let pattern = match adminhttp::clear_pattern(req, Duration::from_secs(10)).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        if let Some(l) = &self.local {
            l.clear();
        }
        match self.store.clear(&key::clear_glob(&pattern)).await {
            Ok(n) => axum::Json(json!({"cleared": n, "pattern": pattern})).into_response_ok(),
            Err(e) => plain(StatusCode::BAD_GATEWAY, &format!("clearing failed: {e}")),
        }
    }
}

trait IntoOk {
    fn into_response_ok(self) -> Response;
}

impl<T: serde::Serialize> IntoOk for axum::Json<T> {
    fn into_response_ok(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// The request line and headers (a fetch may outlive the request it serves).
fn clone_head(req: &Request) -> http::request::Parts {
    let mut b = http::Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone());
    for (n, v) in req.headers() {
        b = b.header(n, v);
    }
    b.body(())
        .expect("copied from a valid request")
        .into_parts()
        .0
}

/// This request's values of `names` (lowercase).
fn header_values(headers: &HeaderMap, names: &[String]) -> Vec<(String, Option<Vec<u8>>)> {
    names
        .iter()
        .map(|n| {
            let joined: Vec<&[u8]> = headers
                .get_all(n.as_str())
                .iter()
                .map(|v| v.as_bytes())
                .collect();
            (
                n.clone(),
                (!joined.is_empty()).then(|| joined.join(&b","[..])),
            )
        })
        .collect()
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/api/cache/stats") => {
            return axum::response::IntoResponse::into_response(axum::Json(gw.stats_json()))
        }
        (&Method::POST, "/api/cache/clear") => return gw.clear(req, peer).await,
        _ => {}
    }
    gw.stats.requests.fetch_add(1, Ordering::Relaxed);
    // Over the load limits: refused at once (the stats route above never is).
    let _admitted = match gw.shedder.admit() {
        Ok(a) => a,
        Err(why) => {
            let mut r = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the gateway is shedding load ({}); retry later",
                    why.reason()
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
    };
    match *req.method() {
        Method::GET | Method::HEAD => gw.cached(req, peer).await,
        _ => gw.pass(req, peer).await,
    }
}

/// The gateway's admin port: `/health` (200 while the cache store answers a read) and
/// `/metrics`, behind [`adminhttp`]'s guards.
pub async fn serve_admin(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    guard: adminhttp::Options,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use axum::routing::get;
    let health = gateway.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || {
                let gw = health.clone();
                async move {
                    match gw.store.get("gw:health-probe").await {
                        Ok(_) => (StatusCode::OK, "ok\n".to_string()),
                        Err(e) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("cache unreachable: {e}\n"),
                        ),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let gw = gateway.clone();
                async move { gw.metrics() }
            }),
        );
    adminhttp::serve(listener, app, guard, shutdown).await;
}

/// Serves the gateway on `listener` until `shutdown`.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), upstream = %gateway.options.upstream, "gateway listening");
    let app = gateway.router();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
