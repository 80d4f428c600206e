//! The admin HTTP listener of the node and the proxy, hardened for a port that can clear a
//! cache:
//!
//! - **A bounded budget of connections** (`max_connections`): past it a connection is
//!   accepted and closed at once, so half-open admin connections can never take the file
//!   descriptors that Redis clients need; one request per connection (no keep-alive), and
//!   a peer has `header_timeout` to send its request headers, then the same for a body.
//! - **Host checks against DNS rebinding**: every endpoint but the probes (`/health`,
//!   `/ready`) answers only requests whose `Host` (and absolute URI, if one is used) names
//!   an IP address, `localhost`, or a name in `allow_hosts`. A rebinding attack needs a
//!   hostname of the attacker's, which is none of these.
//! - **No browser-simple cross-site writes**: a request that changes state (anything but
//!   GET and HEAD) must carry `Content-Type: application/json` or an
//!   `X-Shardcache-Admin` header. A cross-site page can send neither without a CORS
//!   preflight, and this server answers no preflight (it sends no CORS headers at all);
//!   `Sec-Fetch-Site: cross-site` is refused outright.

pub mod auth;

/// The look and the charts both dashboards share (the node's at `/` of its admin port, the
/// proxy's at `/` of its): static, embedded in the binary, public like any stylesheet.
pub fn dashboard_assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    fn asset(content_type: &'static str, body: &'static str) -> Response {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response()
    }
    Router::new()
        .route(
            "/dashboard.css",
            axum::routing::get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("dashboard/dashboard.css"),
                )
            }),
        )
        .route(
            "/dashboard.js",
            axum::routing::get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("dashboard/dashboard.js"),
                )
            }),
        )
}

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The header a script or CLI sends to mark a write as deliberate (any value).
pub const ADMIN_HEADER: &str = "x-shardcache-admin";

/// Largest request body read (a clear request's form or JSON).
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Options {
    /// Simultaneous admin connections; more are closed at once.
    pub max_connections: usize,
    /// Host names (besides IP addresses and `localhost`) requests may be addressed to.
    pub allow_hosts: Vec<String>,
    /// How long a peer has to send its request headers (and then its body).
    pub header_timeout: Duration,
    /// Serve HTTPS with this acceptor (the node's TLS certificate) instead of HTTP.
    pub tls: Option<Arc<tls::Acceptor>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("max_connections", &self.max_connections)
            .field("allow_hosts", &self.allow_hosts)
            .field("header_timeout", &self.header_timeout)
            .field("https", &self.tls.is_some())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 64,
            allow_hosts: Vec::new(),
            header_timeout: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// Serves `app` on `listener` behind the guards above until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let policy = Arc::new(Policy {
        allow_hosts: options
            .allow_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
    });
    let app = app.layer(axum::middleware::from_fn_with_state(policy, guard));
    let budget = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let refused = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin HTTP: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = budget.clone().try_acquire_owned() else {
            // Closed at once: its descriptor is free again. Logged sparingly (a flood would
            // otherwise flood the log too).
            let n = refused.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() || n == 0 {
                tracing::warn!(
                    %peer,
                    refused = n + 1,
                    max = options.max_connections,
                    "admin HTTP: connection budget exhausted; closing new connections"
                );
            }
            drop(stream);
            continue;
        };
        // The peer's address reaches the handlers (an admin failure is logged with it).
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let header_timeout = options.header_timeout;
        let tls = options.tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // HTTPS: the handshake gets the header timeout too.
            let stream = match tls {
                None => tls::Stream::Plain(stream),
                Some(acceptor) => match acceptor.accept(stream, header_timeout).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "admin HTTPS: TLS handshake failed");
                        return;
                    }
                },
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "admin HTTP connection ended");
            }
        });
    }
}

struct Policy {
    allow_hosts: Vec<String>,
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(serde_json::json!({ "error": why }))).into_response()
}

/// Whether a `Host` value (`name[:port]`, `[v6]:port`) may address this server.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host.clone(),
        }
    };
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || allow.iter().any(|a| *a == name || *a == host)
}

/// Whether a request is a write a cross-site page could not have sent without a preflight.
fn deliberate_write(headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    json || headers.contains_key(ADMIN_HEADER)
}

async fn guard(State(policy): State<Arc<Policy>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let probe = matches!(path, "/health" | "/ready");
    if !probe {
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            });
        let header_host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let ok = host
            .as_deref()
            .is_some_and(|h| host_allowed(h, &policy.allow_hosts))
            && header_host.is_none_or(|h| host_allowed(h, &policy.allow_hosts));
        if !ok {
            tracing::warn!(host = ?host, path, "admin HTTP: request for a foreign Host refused");
            return refuse(
                StatusCode::FORBIDDEN,
                "Host not allowed: address this server by IP, localhost, or a name given with --admin-allow-host",
            );
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        if cross_site || !deliberate_write(req.headers()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "state-changing requests need Content-Type: application/json or an X-Shardcache-Admin header",
            );
        }
    }
    next.run(req).await
}

#[derive(Debug, Default, serde::Deserialize)]
struct ClearParams {
    pattern: Option<String>,
    confirm: Option<String>,
}

/// The pattern of a clear request, from the query string, a form body or a JSON body
/// (`{"pattern": "..."}`), in that order. A pattern is required, and `*` (everything) also
/// needs `confirm=all`. The body is read with the header timeout and a 64 KiB limit.
pub async fn clear_pattern(req: Request, body_timeout: Duration) -> Result<String, Response> {
    let bad = |why: &str| refuse(StatusCode::BAD_REQUEST, why);
    let (parts, body) = req.into_parts();
    let mut params: ClearParams = match parts.uri.query() {
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| bad(&format!("bad query: {e}")))?,
        None => ClearParams::default(),
    };
    let bytes = tokio::time::timeout(
        body_timeout,
        axum::body::to_bytes(Body::new(body), MAX_BODY),
    )
    .await
    .map_err(|_| {
        refuse(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        )
    })?
    .map_err(|_| refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    if !bytes.is_empty() {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let from_body: ClearParams = if content_type.starts_with("application/json") {
            serde_json::from_slice(&bytes).map_err(|e| bad(&format!("bad JSON body: {e}")))?
        } else {
            serde_urlencoded::from_bytes(&bytes).map_err(|e| bad(&format!("bad form body: {e}")))?
        };
        params.pattern = params.pattern.or(from_body.pattern);
        params.confirm = params.confirm.or(from_body.confirm);
    }
    let pattern = params.pattern.filter(|p| !p.is_empty()).ok_or_else(|| {
        bad("a pattern is required (pattern=<glob>; pattern=* with confirm=all clears everything)")
    })?;
    if pattern.bytes().all(|b| b == b'*') && params.confirm.as_deref() != Some("all") {
        return Err(bad(
            "pattern=* clears every key: add confirm=all to do that",
        ));
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    #[test]
    fn hosts() {
        let allow = vec!["cache.internal".to_string()];
        for ok in [
            "127.0.0.1:9121",
            "10.1.2.3",
            "[::1]:80",
            "localhost:9121",
            "LOCALHOST",
            "cache.internal:9121",
        ] {
            assert!(host_allowed(ok, &allow), "{ok}");
        }
        for bad in [
            "evil.example:9121",
            "localhost.evil.example",
            "[::1",
            "",
            "cache.internal.evil",
        ] {
            assert!(!host_allowed(bad, &allow), "{bad}");
        }
    }

    fn app() -> Router {
        let policy = Arc::new(Policy {
            allow_hosts: vec![],
        });
        Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/stats", get(|| async { "stats" }))
            .route(
                "/clear",
                post(|req: Request| async move {
                    match clear_pattern(req, Duration::from_secs(1)).await {
                        Ok(p) => p.into_response(),
                        Err(r) => r,
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(policy, guard))
    }

    async fn call(req: axum::http::Request<Body>) -> (StatusCode, String) {
        let r = app().oneshot(req).await.unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn req(method: &str, uri: &str, host: &str) -> axum::http::request::Builder {
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host)
    }

    #[tokio::test]
    async fn foreign_hosts_are_refused_except_for_probes() {
        let r = req("GET", "/stats", "evil.example")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(r).await.0, StatusCode::FORBIDDEN);
        let r = req("GET", "/health", "evil.example")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(r).await.0, StatusCode::OK);
        let r = req("GET", "/stats", "127.0.0.1:1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(r).await, (StatusCode::OK, "stats".into()));
        // An absolute URI naming a foreign host.
        let r = req("GET", "http://evil.example/stats", "127.0.0.1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(r).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn writes_need_json_or_the_admin_header() {
        // A browser-simple form post.
        let r = req("POST", "/clear", "localhost")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("pattern=a*"))
            .unwrap();
        assert_eq!(call(r).await.0, StatusCode::FORBIDDEN);
        let r = req("POST", "/clear", "localhost")
            .header(ADMIN_HEADER, "1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("pattern=a*"))
            .unwrap();
        assert_eq!(call(r).await, (StatusCode::OK, "a*".into()));
        let r = req("POST", "/clear", "localhost")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"pattern":"b:*"}"#))
            .unwrap();
        assert_eq!(call(r).await, (StatusCode::OK, "b:*".into()));
        let r = req("POST", "/clear", "localhost")
            .header(ADMIN_HEADER, "1")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(r).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn clear_needs_a_pattern_and_confirmation_for_everything() {
        let post = |uri: &str| {
            req("POST", uri, "localhost")
                .header(ADMIN_HEADER, "1")
                .body(Body::empty())
                .unwrap()
        };
        let (status, body) = call(post("/clear")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("pattern is required"), "{body}");
        assert_eq!(
            call(post("/clear?pattern=*")).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(post("/clear?pattern=*&confirm=all")).await,
            (StatusCode::OK, "*".into())
        );
        assert_eq!(
            call(post("/clear?pattern=user:*")).await,
            (StatusCode::OK, "user:*".into())
        );
    }
}
