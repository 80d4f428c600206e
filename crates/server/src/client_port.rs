//! CONFIG SET port / bind: the plain client listener moves while the node runs, as in Redis.
//!
//! The new port or address is bound by CONFIG SET itself, before any parameter of the command is
//! applied, so a port that cannot be had fails the whole command and changes nothing
//! (Redis's "Unable to listen on this port", with its rollback). The bound listener is then
//! handed to the accept loop, which drops the old one: connections already open stay, and
//! a client connecting to the new port at once waits in its backlog, never refused.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::CmdError;

/// The one address the client listener binds, from Redis's `bind` syntax: `*` is every
/// IPv4 address. Redis binds a list (`"* -::*"`); one listener here takes one address, and
/// a list is refused rather than bound in part.
pub fn listen_address(bind: &str) -> Result<String, String> {
    let words: Vec<&str> = bind.split_whitespace().collect();
    match words.as_slice() {
        [one] => Ok(match one.trim_start_matches('-') {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            addr => addr.to_string(),
        }),
        _ => Err("Failed to bind to specified addresses.".to_string()),
    }
}

/// For CONFIG SET: the listener to move to when `port` or `bind` (looked up with `given`)
/// names another place than the current one — bound now, before anything is applied. `None`:
/// nothing moves; `Some(None)`: stop listening (port 0).
pub fn prepare<'a>(
    shared: &crate::Shared,
    given: impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<Option<std::net::TcpListener>>, CmdError> {
    let (port_given, bind_given) = (given("port"), given("bind"));
    if port_given.is_none() && bind_given.is_none() {
        return Ok(None);
    }
    let live = &shared.live;
    let failed = |name: &str, why: &str| {
        CmdError::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    let current_port = live.port.load(Ordering::Relaxed);
    let port = match port_given {
        Some(v) => v
            .parse::<u16>()
            .map_err(|_| failed("port", "invalid port"))?,
        None => current_port,
    };
    let current_bind = live.bind.read().clone();
    let bind = bind_given.unwrap_or(&current_bind);
    if port == current_port && listen_address(bind) == listen_address(&current_bind) {
        return Ok(None);
    }
    let name = if port != current_port { "port" } else { "bind" };
    if shared.cluster.is_some() {
        // The topology lists each member's client address; clients are sent there.
        return Err(failed(
            name,
            "a cluster member's client address is part of the topology: restart the node with --port / --bind",
        ));
    }
    let address = listen_address(bind).map_err(|e| failed("bind", &e))?;
    PortChange::bind(&address, port)
        .map(Some)
        .map_err(|e| failed(name, &e))
}

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
