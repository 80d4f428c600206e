//! Proxy mode: a twemproxy-compatible sharding gateway over existing Redis servers.
//!
//! `run(pools, shutdown)` serves every pool on its listener until `shutdown` completes. Keys
//! are placed exactly as twemproxy 0.5 places them for the same nutcracker.yml
//! (`placement::Ring`, verified against the real nutcracker), so a twemproxy deployment can
//! switch without moving a key.

pub mod backend;
pub mod commands;
pub mod config;
mod conn;
pub mod pool;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::{ConfigError, PoolConfig};
pub use pool::Pool;

/// Serves the pools on listeners the caller bound (tests bind port 0), until `shutdown`.
pub async fn run_with_listeners(
    pools: Vec<(Arc<Pool>, TcpListener)>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (pool, listener) in pools {
        tracing::info!(
            pool = %pool.config.name,
            addr = ?listener.local_addr().ok(),
            backends = pool.backends.len(),
            "proxy listening"
        );
        tasks.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(conn::serve(pool.clone(), stream));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    shutdown.await;
    tasks.abort_all();
    Ok(())
}

/// Binds each pool's `listen` address and serves until `shutdown`.
pub async fn run(
    configs: Vec<PoolConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut pools = Vec::new();
    for c in configs {
        let listener = TcpListener::bind(&c.listen).await?;
        pools.push((Pool::start(c), listener));
    }
    run_with_listeners(pools, shutdown).await
}
