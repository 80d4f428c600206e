//! HTTP authentication for the admin API: what a request presents (`Authorization: Basic`
//! with a user and password, or `Bearer` with the admin token), the 401/403/429 refusals in
//! the API's JSON form, and a limit on failed attempts.
//!
//! Who is accepted is the server's decision (the node checks its ACL users); this module
//! only parses, refuses and counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;

/// What a request authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { user: Vec<u8>, password: Vec<u8> },
    Bearer(String),
}

/// The request's credentials: `Ok(None)` without an `Authorization` header, `Err` when the
/// header is there but not a well-formed Basic or Bearer value.
pub fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "malformed Authorization header")?;
    let (scheme, rest) = value
        .trim()
        .split_once(' ')
        .ok_or("malformed Authorization header")?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| "malformed Basic credentials")?;
        let colon = decoded
            .iter()
            .position(|&c| c == b':')
            .ok_or("malformed Basic credentials")?;
        Ok(Some(Credentials::Basic {
            user: decoded[..colon].to_vec(),
            password: decoded[colon + 1..].to_vec(),
        }))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(Credentials::Bearer(rest.trim().to_string())))
    } else {
        Err("unsupported Authorization scheme (use Basic or Bearer)")
    }
}

/// 401 with a `WWW-Authenticate` challenge, so browsers and curl know to send credentials.
pub fn unauthorized(why: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": why })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"shardcache\", charset=\"UTF-8\""),
    );
    response
}

/// 403: authenticated, but not allowed to do this.
pub fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// 429 with `Retry-After`: too many failed attempts lately.
fn too_many() -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(serde_json::json!({ "error": "too many failed authentications; retry later" })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Failed authentications allowed per second (per server, whatever the source: a guesser
/// spreading over many addresses gains nothing); past it, requests with credentials are
/// refused with 429 until the second ends, without being checked.
#[derive(Debug)]
pub struct FailureLimit {
    per_second: u64,
    /// (second, failures in it), packed: second << 20 | count.
    window: AtomicU64,
    pub total: AtomicU64,
}

const COUNT_BITS: u32 = 20;

impl FailureLimit {
    pub fn new(per_second: u64) -> FailureLimit {
        FailureLimit {
            per_second,
            window: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    fn now_second() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }

    /// `Some(429)` while this second's failures are used up.
    pub fn check(&self) -> Option<Response> {
        let w = self.window.load(Ordering::Relaxed);
        let (second, count) = (w >> COUNT_BITS, w & ((1 << COUNT_BITS) - 1));
        (second == Self::now_second() && count >= self.per_second).then(too_many)
    }

    /// Counts a failure (and logs it, sparingly).
    pub fn failed(&self, peer: Option<std::net::SocketAddr>, user: &str) {
        let now = Self::now_second();
        let _ = self
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let (second, count) = (w >> COUNT_BITS, w & ((1 << COUNT_BITS) - 1));
                let count = if second == now { count + 1 } else { 1 };
                Some(now << COUNT_BITS | count.min((1 << COUNT_BITS) - 1))
            });
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        if total <= 3 || total.is_power_of_two() {
            tracing::warn!(
                ?peer,
                user,
                failures = total,
                "admin HTTP: authentication failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_and_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(credentials(&h), Ok(None));
        h.insert(header::AUTHORIZATION, "Basic YWxpY2U6cDpx".parse().unwrap());
        assert_eq!(
            credentials(&h),
            Ok(Some(Credentials::Basic {
                user: b"alice".to_vec(),
                password: b"p:q".to_vec()
            }))
        );
        h.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(credentials(&h), Ok(Some(Credentials::Bearer("tok".into()))));
        for bad in ["Basic !!!", "Basic YWxpY2U=", "Digest x", "Basic"] {
            h.insert(header::AUTHORIZATION, bad.parse().unwrap());
            assert!(credentials(&h).is_err(), "{bad}");
        }
    }

    #[test]
    fn failures_past_the_limit_are_refused_until_the_second_ends() {
        let limit = FailureLimit::new(2);
        assert!(limit.check().is_none());
        limit.failed(None, "x");
        limit.failed(None, "x");
        let refused = limit.check().expect("limited");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
