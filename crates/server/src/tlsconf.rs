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

/// Whether links between cluster members — the bus, migrations, the admin API's calls —
/// use TLS (`tls-cluster yes`).
pub fn for_cluster(live: &Live) -> bool {
    value(live, "tls-cluster") == "yes"
}

/// The settings of an outgoing TLS link: our client certificate (`tls-client-cert-file` and
/// key, else the server's), the CA to check the other side with.
fn client_settings(live: &Live) -> Result<tls::Settings, String> {
    let client_cert = value(live, "tls-client-cert-file");
    let lookup = |name: &str| match name {
        "tls-cert-file" if !client_cert.is_empty() => client_cert.clone(),
        "tls-key-file" if !client_cert.is_empty() => value(live, "tls-client-key-file"),
        other => value(live, other),
    };
    settings_with(lookup).ok_or_else(|| "TLS links need tls-cert-file and tls-key-file".into())
}

/// The configuration of an outgoing TLS link (replication).
pub fn client_config(live: &Live) -> Result<Arc<tls::rustls::ClientConfig>, String> {
    tls::client_config(&client_settings(live)?)
}

/// The reloadable client side of links between members (`tls-cluster yes`).
pub fn connector(live: &Live) -> Result<tls::Connector, String> {
    tls::Connector::new(client_settings(live)?)
}

/// The connector a member dials other members with, from the node's configuration, when
/// links between members use TLS (`tls-cluster yes`): joining through `--join` (which then
/// names a member's TLS port), the bus.
pub fn member_connector(config: &crate::Config) -> Result<Option<tls::Connector>, String> {
    let live = Live::new(config)?;
    if !for_cluster(&live) {
        return Ok(None);
    }
    connector(&live).map(Some)
}

/// The cluster bus's TLS (`tls-cluster yes`), from the node's configuration: an acceptor
/// that requires a certificate from the CA of every member that connects (whatever
/// `tls-auth-clients` says for clients), and the connector this member dials with.
pub fn cluster_bus(
    config: &crate::Config,
) -> Result<Option<(tls::Acceptor, tls::Connector)>, String> {
    let Some(connector) = member_connector(config)? else {
        return Ok(None);
    };
    let live = Live::new(config)?;
    let mut settings = settings(&live).ok_or("tls-cluster needs tls-cert-file and tls-key-file")?;
    if settings.ca_cert_file.is_none() {
        return Err("tls-cluster needs tls-ca-cert-file (members check each other)".into());
    }
    settings.auth_clients = tls::AuthClients::Yes;
    Ok(Some((tls::Acceptor::new(settings)?, connector)))
}
