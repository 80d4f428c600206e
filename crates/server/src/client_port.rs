//! CONFIG SET port: the plain client listener moves while the node runs, as in Redis.
//!
//! The new port is bound by CONFIG SET itself, before any parameter of the command is
//! applied, so a port that cannot be had fails the whole command and changes nothing
//! (Redis's "Unable to listen on this port", with its rollback). The bound listener is then
//! handed to the accept loop, which drops the old one: connections already open stay, and
//! a client connecting to the new port at once waits in its backlog, never refused.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A listener waiting for the accept loop to take it over.
#[derive(Default)]
pub struct PortChange {
    /// `Some(None)`: stop listening on a plain port (`port 0`).
    next: Mutex<Option<Option<std::net::TcpListener>>>,
    changed: Notify,
}

impl PortChange {
    /// Binds `port` on the node's address (0: none). The error is Redis's text.
    pub fn bind(bind: &str, port: u16) -> Result<Option<std::net::TcpListener>, String> {
        if port == 0 {
            return Ok(None);
        }
        let listener = std::net::TcpListener::bind((bind, port))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                // Redis's words; the reason goes to the log, as Redis logs it.
                tracing::warn!(port, error = %e, "CONFIG SET port: unable to listen");
                "Unable to listen on this port. Check server logs.".to_string()
            })?;
        Ok(Some(listener))
    }

    /// Hands a bound listener to the accept loop and records the port in force.
    pub fn hand_over(&self, live: &crate::config::Live, listener: Option<std::net::TcpListener>) {
        let port = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(0, |a| a.port());
        live.port.store(port, Ordering::Relaxed);
        *self.next.lock() = Some(listener);
        self.changed.notify_one();
    }

    /// Waits for the next listener (for the accept loop).
    pub async fn next(&self) -> Option<std::net::TcpListener> {
        loop {
            if let Some(next) = self.next.lock().take() {
                return next;
            }
            self.changed.notified().await;
        }
    }
}
