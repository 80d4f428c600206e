//! What both proxy modes' admin ports share: who may use them, and the dashboard.
//!
//! Anyone may while no client needs a password (no `requirepass`, no `--user`) and no
//! `--admin-token` is set; otherwise `Authorization: Basic` as one of the proxy's users
//! (`default` with `requirepass`, or a `--user`) or `Bearer` with the token. A user's own
//! rules then decide what it may change (see [`AdminUser::may`]). Failures are logged and
//! limited (10/s, then 429). `/health` and the dashboard's stylesheet and script stay open.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use upstream::backend::Backend;

use crate::users::{UserId, Users};

/// The user sets an admin port accepts (each pool's, or the cluster front's), read per
/// request so a reload's new users count at once.
type UserSets = Box<dyn Fn() -> Vec<Arc<Users>> + Send + Sync>;

pub struct Gate {
    token: Option<String>,
    failures: adminhttp::auth::FailureLimit,
    users: UserSets,
}

impl Gate {
    pub fn new(
        token: Option<String>,
        users: impl Fn() -> Vec<Arc<Users>> + Send + Sync + 'static,
    ) -> Arc<Gate> {
        Arc::new(Gate {
            token: token.filter(|t| !t.is_empty()),
            failures: adminhttp::auth::FailureLimit::new(10),
            users: Box::new(users),
        })
    }
}

/// Who an admin request comes from: the token or an open API (every right), or one of the
/// proxy's users, whose rules decide what it may change.
#[derive(Clone)]
pub enum AdminUser {
    Anyone,
    User(Arc<Users>, UserId),
}

impl AdminUser {
    /// Whether it may run `args` (checked as the proxy checks its clients' commands): a clear
    /// asks for UNLINK of its pattern and SCAN (`~cache:*` may clear `cache:*`, only `~*` may
    /// clear `*`), a reload for CONFIG SET.
    pub fn may(&self, args: &[&[u8]]) -> bool {
        match self {
            AdminUser::Anyone => true,
            AdminUser::User(users, id) => {
                let owned: resp::request::OwnedArgs = args.iter().copied().collect();
                users.check(*id, owned.as_args()).is_ok()
            }
        }
    }
}

/// Compares without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: authenticates the request and hands the handlers an [`AdminUser`].
pub async fn authenticate(
    State(gate): State<Arc<Gate>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use adminhttp::auth::{credentials, unauthorized, Credentials};
    let sets = (gate.users)();
    let open = sets.iter().all(|u| u.open() && !u.restricted());
    let presented = match credentials(req.headers()) {
        Ok(c) => c,
        Err(why) => return unauthorized(why),
    };
    if presented.is_some() {
        if let Some(refused) = gate.failures.check() {
            return refused;
        }
    }
    let accepted = match &presented {
        None if open && gate.token.is_none() => Some(AdminUser::Anyone),
        None => return unauthorized(
            "authentication required (Basic with a user, default:<requirepass>, or Bearer with the admin token)",
        ),
        Some(Credentials::Bearer(t)) => gate
            .token
            .as_deref()
            .is_some_and(|want| same(want.as_bytes(), t.as_bytes()))
            .then_some(AdminUser::Anyone),
        Some(Credentials::Basic { user, password }) => sets.iter().find_map(|u| {
            u.authenticate(user, password)
                .map(|id| AdminUser::User(u.clone(), id))
        }),
    };
    let Some(who) = accepted else {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        gate.failures.failed(peer, "admin");
        return unauthorized("invalid credentials");
    };
    req.extensions_mut().insert(who);
    next.run(req).await
}

/// The proxy's dashboard: one page, embedded in the binary, that polls
/// `/api/proxy/backends` (and `/api/cache/stats` where there is one; see `dashboard.html`).
pub async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        include_str!("dashboard.html"),
    )
}

/// One backend as `/api/proxy/backends` shows it: counters as they stand (cumulative: a
/// reader takes the difference of two readings for rates and an interval's latency).
pub fn backend_json(name: &str, b: &Backend, address: &str, tls: bool, ejected: bool) -> Value {
    use std::sync::atomic::Ordering::Relaxed;
    let st = &b.stats;
    let buckets: Vec<u64> = st.latency_buckets.iter().map(|n| n.load(Relaxed)).collect();
    json!({
        "backend": name,
        "address": address,
        "tls": tls,
        "connected": b.connected(),
        "ejected": ejected,
        "requests": st.requests.load(Relaxed),
        "errors": st.errors.load(Relaxed),
        "latency_us_sum": st.latency_us_sum.load(Relaxed),
        "latency_buckets": buckets,
    })
}
