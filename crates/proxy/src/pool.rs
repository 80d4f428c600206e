//! A running pool: its backends, its ring (rebuilt when a backend is ejected or returns),
//! and its counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use placement::Ring;

use crate::backend::{Backend, ConnSettings};
use crate::config::PoolConfig;

/// Counters in the seed gateway's `cache_stats` shape.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub total_requests: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub sets: AtomicU64,
    pub errors: AtomicU64,
}

pub struct Pool {
    pub config: PoolConfig,
    pub backends: Vec<Arc<Backend>>,
    ring: RwLock<Arc<Ring>>,
    /// When an ejected backend's retry time comes (ms since `started`); u64::MAX = never.
    next_rebuild_ms: AtomicU64,
    started: Instant,
    pub stats: PoolStats,
    /// SCAN cursors that name a backend (see [`crate::cursors`]).
    pub cursors: crate::cursors::ScanCursors,
    /// Who the pool's clients may be and what they may do.
    pub users: Arc<crate::users::Users>,
}

impl Pool {
    /// Starts the backend connections (lazily connected) and builds the ring.
    pub fn start(config: PoolConfig) -> Arc<Pool> {
        let backends = config
            .servers
            .iter()
            .map(|s| {
                let settings = ConnSettings {
                    username: None,
                    readonly: false,
                    tls: s
                        .tls
                        .then(|| config.backend_tls.as_ref().map(|t| t.0.clone()))
                        .flatten(),
                    password: s.password.clone().or_else(|| config.redis_auth.clone()),
                    db: s.db.unwrap_or(config.redis_db),
                    connect_timeout: config.timeout.unwrap_or(Duration::from_secs(1)),
                    request_timeout: config.timeout,
                    // Without ejection, a dead backend is retried soon; with it, the pool
                    // decides (server_retry_timeout).
                    retry_after: if config.auto_eject_hosts {
                        Duration::from_millis(100)
                    } else {
                        config.server_retry_timeout.min(Duration::from_secs(1))
                    },
                };
                Backend::start(
                    s.label.clone(),
                    s.addr(),
                    config.server_connections,
                    settings,
                )
            })
            .collect();
        let ring = Arc::new(config.ring(&[]));
        Arc::new(Pool {
            backends,
            ring: RwLock::new(ring),
            next_rebuild_ms: AtomicU64::new(u64::MAX),
            started: Instant::now(),
            stats: PoolStats::default(),
            cursors: Default::default(),
            // The lines were checked when the configuration was read (`--user`); should
            // they not build, no client gets in rather than every client.
            users: Arc::new(
                crate::users::Users::new(config.requirepass.as_deref(), &config.users)
                    .unwrap_or_else(|e| {
                        tracing::error!(pool = %config.name, error = %e, "bad users: every client is refused");
                        crate::users::Users::locked()
                    }),
            ),
            config,
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The current ring (brings ejected backends back once their retry time has come).
    pub fn ring(&self) -> Arc<Ring> {
        let next = self.next_rebuild_ms.load(Ordering::Relaxed);
        if next != u64::MAX && self.now_ms() >= next {
            self.rebuild();
        }
        self.ring.read().clone()
    }

    /// The backend for `key`; `None` when no backend is live.
    pub fn backend_for(&self, key: &[u8]) -> Option<usize> {
        self.ring().pick(key)
    }

    /// Whether each backend is in the ring now.
    pub fn live(&self) -> Vec<bool> {
        let now = Instant::now();
        self.backends
            .iter()
            .map(|b| {
                let mut h = b.health.lock();
                if h.ejected && h.down_until.is_none_or(|t| now >= t) {
                    h.ejected = false;
                    h.failures = 0;
                }
                !h.ejected
            })
            .collect()
    }

    fn rebuild(&self) {
        let live = self.live();
        let next = self
            .backends
            .iter()
            .filter_map(|b| {
                let h = b.health.lock();
                h.ejected
                    .then(|| h.down_until)
                    .flatten()
                    .map(|t| t.saturating_duration_since(self.started).as_millis() as u64)
            })
            .min()
            .unwrap_or(u64::MAX);
        self.next_rebuild_ms.store(next, Ordering::Relaxed);
        *self.ring.write() = Arc::new(self.config.ring(&live));
    }

    /// A request to backend `i` failed: with `auto_eject_hosts`, `server_failure_limit`
    /// consecutive failures take it out of the ring for `server_retry_timeout`.
    pub fn note_failure(&self, i: usize) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        if !self.config.auto_eject_hosts {
            return;
        }
        let eject = {
            let mut h = self.backends[i].health.lock();
            h.failures += 1;
            self.backends[i].suspect.store(true, Ordering::Relaxed);
            if !h.ejected && h.failures >= self.config.server_failure_limit {
                h.ejected = true;
                h.down_until = Some(Instant::now() + self.config.server_retry_timeout);
                true
            } else {
                false
            }
        };
        if eject {
            tracing::warn!(
                backend = %self.backends[i].label,
                "ejecting backend for {:?}",
                self.config.server_retry_timeout
            );
            self.rebuild();
        }
    }

    pub fn note_success(&self, i: usize) {
        // Only a backend with failures on record needs its count reset (no lock otherwise).
        if !self.config.auto_eject_hosts || !self.backends[i].suspect.load(Ordering::Relaxed) {
            return;
        }
        let mut h = self.backends[i].health.lock();
        if !h.ejected {
            h.failures = 0;
            self.backends[i].suspect.store(false, Ordering::Relaxed);
        }
    }
}
