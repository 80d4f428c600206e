//! The node's TLS: Redis's `tls-*` parameters (kept with the other tunables, so CONFIG GET
//! shows them and CONFIG SET changes them) turned into the client port's acceptor and the
//! replication links' client configuration (see the `tls` crate).

use std::sync::Arc;

use crate::config::Live;

fn value(live: &Live, name: &str) -> String {
    crate::tunables::find(name)
        .map(|t| live.tunables.get(t))
        .unwrap_or_default()
}

/// The names CONFIG SET may change that make the acceptor rebuild.
pub const RELOADING: &[&str] = &[
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphersuites",
    "tls-ciphers",
];

/// The settings `lookup` (a parameter's value by name) describes; `None` without a
/// certificate.
pub fn settings_with(lookup: impl Fn(&str) -> String) -> Option<tls::Settings> {
    let cert = lookup("tls-cert-file");
    if cert.is_empty() {
        return None;
    }
    let mut s = tls::Settings::new(cert.into(), lookup("tls-key-file").into());
    let ca = lookup("tls-ca-cert-file");
    s.ca_cert_file = (!ca.is_empty()).then(|| ca.into());
    s.auth_clients =
        tls::AuthClients::parse(&lookup("tls-auth-clients")).unwrap_or(tls::AuthClients::Yes);
    s.protocols = lookup("tls-protocols");
    s.ciphersuites = lookup("tls-ciphersuites");
    s.ciphers = lookup("tls-ciphers");
    Some(s)
}

pub fn settings(live: &Live) -> Option<tls::Settings> {
    settings_with(|name| value(live, name))
}

/// The client port's acceptor, when TLS is on (`tls-port`, or a TLS listener handed in).
pub fn acceptor(live: &Live, wanted: bool) -> Result<Option<Arc<tls::Acceptor>>, String> {
    if !wanted {
        return Ok(None);
    }
    let settings = settings(live).ok_or("TLS needs tls-cert-file and tls-key-file")?;
    tls::Acceptor::new(settings).map(|a| Some(Arc::new(a)))
}

/// Whether replication links use TLS (`tls-replication yes`).
pub fn for_replication(live: &Live) -> bool {
    value(live, "tls-replication") == "yes"
}

/// The configuration of an outgoing TLS link: our client certificate (`tls-client-cert-file`
/// and key, else the server's), the CA to check the other side with.
pub fn client_config(live: &Live) -> Result<Arc<tls::rustls::ClientConfig>, String> {
    let client_cert = value(live, "tls-client-cert-file");
    let lookup = |name: &str| match name {
        "tls-cert-file" if !client_cert.is_empty() => client_cert.clone(),
        "tls-key-file" if !client_cert.is_empty() => value(live, "tls-client-key-file"),
        other => value(live, other),
    };
    let settings =
        settings_with(lookup).ok_or("tls-replication needs tls-cert-file and tls-key-file")?;
    tls::client_config(&settings)
}
