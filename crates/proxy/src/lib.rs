//! Proxy mode: a twemproxy-compatible sharding gateway over existing Redis servers.
//!
//! Keys are placed exactly as twemproxy 0.5 places them for the same nutcracker.yml
//! (`placement::Ring`, verified against the real nutcracker), so a twemproxy deployment can
//! switch without moving a key. Each pool lives in a [`PoolSlot`]: a reload swaps the pool
//! in it; connections pick up the new one at their next batch of commands while requests
//! already sent finish on the old one.

pub mod admin;
pub mod admin_gate;
pub mod cluster;
pub mod commands;
pub mod config;
mod conn;
pub mod cursors;
pub mod hello;
pub mod pool;
pub mod resp3;
pub mod users;

/// Backend connections live in `upstream` (shared with the cluster client).
pub use upstream::backend;

use std::future::Future;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::TcpListener;

pub use config::{ConfigError, PoolConfig};
pub use pool::Pool;

/// The current pool of one listener.
pub struct PoolSlot {
    current: RwLock<Arc<Pool>>,
}

impl PoolSlot {
    pub fn get(&self) -> Arc<Pool> {
        self.current.read().clone()
    }
}

/// Every pool the proxy serves.
pub struct Proxy {
    pub slots: Vec<Arc<PoolSlot>>,
    /// Clients speak TLS to every pool's listener (`--tls-cert-file` ...); reloaded on
    /// SIGHUP.
    pub tls: RwLock<Option<Arc<tls::Acceptor>>>,
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Pools whose configuration changed (and were rebuilt).
    pub changed: Vec<String>,
    /// Pools in the new file that this process does not serve (new listeners need a
    /// restart), and served pools the file no longer has (kept).
    pub ignored: Vec<String>,
    /// Changes this process cannot make while running (a pool's `listen` address: its
    /// listener stays where it is), each said in a sentence; the rest was applied.
    pub not_applied: Vec<String>,
}

impl Proxy {
    /// Starts the pools (backend connections are made on first use).
    pub fn new(configs: Vec<PoolConfig>) -> Arc<Proxy> {
        Arc::new(Proxy {
            slots: configs
                .into_iter()
                .map(|c| {
                    Arc::new(PoolSlot {
                        current: RwLock::new(Pool::start(c)),
                    })
                })
                .collect(),
            tls: RwLock::new(None),
        })
    }

    /// Serves clients over TLS from now on (new connections).
    pub fn set_tls(&self, acceptor: Option<Arc<tls::Acceptor>>) {
        *self.tls.write() = acceptor;
    }

    pub fn pools(&self) -> Vec<Arc<Pool>> {
        self.slots.iter().map(|s| s.get()).collect()
    }

    /// Applies a new configuration: a pool whose settings changed is rebuilt (its ring over
    /// the new server list, so adding a server moves only the keys the ring gives it). The
    /// listen address of a pool cannot change without a restart. On error nothing changes.
    pub fn reload(&self, mut configs: Vec<PoolConfig>) -> Reloaded {
        let mut report = Reloaded {
            changed: Vec::new(),
            ignored: Vec::new(),
            not_applied: Vec::new(),
        };
        for slot in &self.slots {
            let old = slot.get();
            let Some(at) = configs.iter().position(|c| c.name == old.config.name) else {
                report.ignored.push(old.config.name.clone());
                continue;
            };
            let mut new = configs.remove(at);
            if new.listen != old.config.listen {
                let why = format!(
                    "pool {}: listen changed from {} to {}; the listener cannot move while running: restart the proxy to move it",
                    new.name, old.config.listen, new.listen
                );
                tracing::warn!("{why}");
                report.not_applied.push(why);
                new.listen = old.config.listen.clone();
            }
            if new.requirepass.is_none() {
                new.requirepass = old.config.requirepass.clone();
            }
            if new.users.is_empty() {
                new.users = old.config.users.clone();
            }
            // Set from the command line, not the file: kept.
            new.client_output_limit = old.config.client_output_limit;
            new.client_query_buffer_limit = old.config.client_query_buffer_limit;
            if new != old.config {
                tracing::info!(pool = %new.name, servers = new.servers.len(), "pool reloaded");
                report.changed.push(new.name.clone());
                *slot.current.write() = Pool::start(new);
            }
        }
        report.ignored.extend(configs.into_iter().map(|c| c.name));
        report
    }

    /// Re-reads a nutcracker.yml and applies it; a file with an error changes nothing.
    pub fn reload_yaml(&self, text: &str) -> Result<Reloaded, ConfigError> {
        Ok(self.reload(config::parse_yaml(text)?))
    }
}

/// How long a TLS client has to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves the proxy's pools on the given listeners (one per pool, in order) and the admin
/// HTTP API when given, until `shutdown`. Tests bind port 0.
pub async fn run_with_listeners(
    proxy: Arc<Proxy>,
    listeners: Vec<TcpListener>,
    admin: Option<(TcpListener, admin::Admin)>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (slot, listener) in proxy.slots.iter().cloned().zip(listeners) {
        tracing::info!(
            pool = %slot.get().config.name,
            addr = ?listener.local_addr().ok(),
            "proxy listening"
        );
        let proxy = proxy.clone();
        tasks.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let tls = proxy.tls.read().clone();
                        let slot = slot.clone();
                        tokio::spawn(async move {
                            let stream = match tls {
                                None => tls::Stream::Plain(stream),
                                Some(acceptor) => {
                                    match acceptor.accept(stream, TLS_HANDSHAKE_TIMEOUT).await {
                                        Ok(s) => s,
                                        Err(e) => {
                                            tracing::warn!(%peer, error = %e, "proxy: TLS handshake failed");
                                            return;
                                        }
                                    }
                                }
                            };
                            conn::serve(slot, stream).await
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    if let Some((listener, settings)) = admin {
        tracing::info!(addr = ?listener.local_addr().ok(), "proxy admin HTTP listening");
        tasks.spawn(admin::serve(listener, proxy.clone(), settings));
    }
    shutdown.await;
    tasks.abort_all();
    Ok(())
}

/// Binds each pool's `listen` address (and the admin port, when non-zero) and serves until
/// `shutdown`.
pub async fn run(
    proxy: Arc<Proxy>,
    admin: Option<(String, admin::Admin)>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut listeners = Vec::new();
    for pool in proxy.pools() {
        listeners.push(TcpListener::bind(&pool.config.listen).await?);
    }
    let admin = match admin {
        Some((addr, r)) => Some((TcpListener::bind(addr).await?, r)),
        None => None,
    };
    run_with_listeners(proxy, listeners, admin, shutdown).await
}
