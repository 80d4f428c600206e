//! TLS for Shard-Cache's listeners and links, with Redis's settings (`tls-cert-file`,
//! `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`, `tls-protocols`,
//! `tls-ciphersuites`, `tls-ciphers`) and rustls underneath (ring for the cryptography; no
//! OpenSSL).
//!
//! - [`Settings`] → [`server_config`] / [`client_config`];
//! - [`Acceptor`]: a listener's TLS side, reloadable (SIGHUP, CONFIG SET) without touching
//!   connections already established (each keeps the configuration it started with);
//! - [`Connector`]: the same for outgoing links between nodes;
//! - [`Stream`]: a connection that is plain TCP or TLS, so one code path serves both;
//! - [`dev`]: a throwaway CA and certificates for `shardcache dev --tls` and tests.

pub mod dev;
mod settings;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpStream;

pub use rustls;
pub use settings::{client_config, client_config_to, server_config, AuthClients, Settings};
pub use stream::Stream;

/// A listener's TLS side. The configuration is rebuilt from the files on [`Acceptor::reload`]
/// and replaced only when the new one is valid.
pub struct Acceptor {
    settings: Mutex<Settings>,
    config: RwLock<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("settings", &*self.settings.lock())
            .finish()
    }
}

impl Acceptor {
    pub fn new(settings: Settings) -> Result<Acceptor, String> {
        let config = server_config(&settings)?;
        Ok(Acceptor {
            settings: Mutex::new(settings),
            config: RwLock::new(config),
        })
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().clone()
    }

    /// Reads the certificate, key and CA files again (rotated certificates).
    pub fn reload(&self) -> Result<(), String> {
        let settings = self.settings.lock().clone();
        let config = server_config(&settings)?;
        *self.config.write() = config;
        Ok(())
    }

    /// Changes settings (CONFIG SET tls-*): applied only if the result is a valid
    /// configuration.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<(), String> {
        let mut settings = self.settings.lock().clone();
        change(&mut settings);
        let config = server_config(&settings)?;
        *self.settings.lock() = settings;
        *self.config.write() = config;
        Ok(())
    }

    /// The TLS handshake on an accepted connection, within `timeout` (a peer that stalls
    /// mid-handshake is dropped).
    pub async fn accept(&self, tcp: TcpStream, timeout: Duration) -> std::io::Result<Stream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.read().clone());
        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(s)))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

/// The client side of links between nodes (the cluster bus, migrations, the admin API's
/// calls to other members): a client configuration rebuilt from its files on
/// [`Connector::reload`], like [`Acceptor`]'s, so a rotated client certificate is used by the
/// next connection.
pub struct Connector {
    /// What [`Connector::reload`] rebuilds from (`None`: a fixed configuration).
    settings: Option<Settings>,
    config: RwLock<Arc<rustls::ClientConfig>>,
}

impl Connector {
    pub fn new(settings: Settings) -> Result<Connector, String> {
        let config = client_config(&settings)?;
        Ok(Connector {
            settings: Some(settings),
            config: RwLock::new(config),
        })
    }

    /// A connector with a configuration made elsewhere (e.g. [`client_config_to`]), not
    /// reloaded.
    pub fn with_config(config: Arc<rustls::ClientConfig>) -> Connector {
        Connector {
            settings: None,
            config: RwLock::new(config),
        }
    }

    pub fn reload(&self) -> Result<(), String> {
        if let Some(settings) = &self.settings {
            *self.config.write() = client_config(settings)?;
        }
        Ok(())
    }

    /// The TLS handshake on a connected `tcp` to `host`.
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> std::io::Result<Stream> {
        let config = self.config.read().clone();
        connect(config, host, tcp).await
    }
}

/// Opens a TLS connection to `host` (replication, peers) with `config`. The server's
/// certificate must chain to the configured CA; its name is not checked (as Redis's
/// OpenSSL-based links do not check it).
pub async fn connect(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> std::io::Result<Stream> {
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| rustls_pki_types::ServerName::try_from("shardcache").expect("valid"));
    let s = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(s))))
}
