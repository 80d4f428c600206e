//! Redis's `tls-*` settings and the rustls configurations built from them.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;

/// `tls-auth-clients`: whether clients must present a certificate signed by the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthClients {
    Yes,
    No,
    Optional,
}

impl AuthClients {
    pub fn parse(s: &str) -> Option<AuthClients> {
        match s.to_ascii_lowercase().as_str() {
            "yes" => Some(AuthClients::Yes),
            "no" => Some(AuthClients::No),
            "optional" => Some(AuthClients::Optional),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthClients::Yes => "yes",
            AuthClients::No => "no",
            AuthClients::Optional => "optional",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_cert_file: Option<PathBuf>,
    pub auth_clients: AuthClients,
    /// `tls-protocols`: "TLSv1.2 TLSv1.3" (the default when empty).
    pub protocols: String,
    /// `tls-ciphersuites`: TLS 1.3 suites, colon-separated (empty: rustls's defaults).
    pub ciphersuites: String,
    /// `tls-ciphers`: TLS 1.2 suites in OpenSSL's names, colon-separated (empty: defaults).
    pub ciphers: String,
    /// Application protocols offered in ALPN, most wanted first (`h2` for gRPC; empty: none).
    pub alpn: Vec<Vec<u8>>,
}

impl Settings {
    pub fn new(cert_file: PathBuf, key_file: PathBuf) -> Settings {
        Settings {
            cert_file,
            key_file,
            ca_cert_file: None,
            auth_clients: AuthClients::Yes,
            protocols: String::new(),
            ciphersuites: String::new(),
            ciphers: String::new(),
            alpn: Vec::new(),
        }
    }
}

fn certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

fn key(path: &PathBuf) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

fn roots(settings: &Settings) -> Result<Option<RootCertStore>, String> {
    let Some(path) = &settings.ca_cert_file else {
        return Ok(None);
    };
    let mut roots = RootCertStore::empty();
    for cert in certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
    }
    Ok(Some(roots))
}

/// OpenSSL's names of the TLS 1.2 suites rustls offers, with rustls's.
const TLS12_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

fn suite_name(s: &SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

/// The crypto provider with the suites `tls-ciphersuites` and `tls-ciphers` name (each
/// list left empty keeps that version's defaults).
fn provider(settings: &Settings) -> Result<Arc<CryptoProvider>, String> {
    let mut p = rustls::crypto::ring::default_provider();
    let wanted13: Vec<String> = settings
        .ciphersuites
        .split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let wanted12: Vec<String> = settings
        .ciphers
        .split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            TLS12_NAMES
                .iter()
                .find(|(openssl, _)| openssl.eq_ignore_ascii_case(name))
                .map_or(name.to_string(), |(_, rustls)| rustls.to_string())
        })
        .collect();
    for wanted in wanted13.iter().chain(&wanted12) {
        if !p
            .cipher_suites
            .iter()
            .any(|s| suite_name(s).eq_ignore_ascii_case(wanted))
        {
            return Err(format!("unknown or unsupported cipher suite '{wanted}'"));
        }
    }
    p.cipher_suites.retain(|s| {
        let name = suite_name(s);
        let list = match s {
            SupportedCipherSuite::Tls13(_) => &wanted13,
            SupportedCipherSuite::Tls12(_) => &wanted12,
        };
        list.is_empty() || list.iter().any(|w| w.eq_ignore_ascii_case(&name))
    });
    Ok(Arc::new(p))
}

fn versions(settings: &Settings) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let spec = if settings.protocols.trim().is_empty() {
        "TLSv1.2 TLSv1.3"
    } else {
        settings.protocols.as_str()
    };
    let mut out = Vec::new();
    for p in spec.split_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                return Err(format!("{p} is not supported (TLSv1.2 and TLSv1.3 are)"))
            }
            _ => return Err(format!("invalid tls-protocols value '{p}'")),
        }
    }
    Ok(out)
}

/// The server side: our certificate, and the clients' certificates checked against the CA
/// as `tls-auth-clients` says.
pub fn server_config(settings: &Settings) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = provider(settings)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(settings)?)
        .map_err(|e| e.to_string())?;
    let builder = match (settings.auth_clients, roots(settings)?) {
        (AuthClients::No, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(
                "tls-ca-cert-file must be given when tls-auth-clients is yes or optional".into(),
            )
        }
        (auth, Some(roots)) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if auth == AuthClients::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
    };
    let mut config = builder
        .with_single_cert(certs(&settings.cert_file)?, key(&settings.key_file)?)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = settings.alpn.clone();
    Ok(Arc::new(config))
}

/// The client side (replication and peer links): the server must chain to the CA (any
/// server, without one); our certificate is presented for mutual TLS.
pub fn client_config(settings: &Settings) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = provider(settings)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(settings)?)
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match roots(settings)? {
        Some(roots) => Arc::new(ChainOnly(
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| e.to_string())?,
        )),
        None => return Err("tls-ca-cert-file must be given for TLS links".into()),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = builder
        .with_client_auth_cert(certs(&settings.cert_file)?, key(&settings.key_file)?)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(Arc::new(config))
}

/// The client side of a link to a server that does not ask for a client certificate
/// (`rediss://` backends of the proxy and the gateway): the server must chain to the CA in
/// `ca_cert_file`; a certificate and key are presented when given (mutual TLS).
pub fn client_config_to(
    ca_cert_file: &std::path::Path,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut settings = Settings::new(PathBuf::new(), PathBuf::new());
    settings.ca_cert_file = Some(ca_cert_file.to_path_buf());
    let provider = provider(&settings)?;
    let roots = roots(&settings)?.ok_or("a CA certificate is needed")?;
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(ChainOnly(
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| e.to_string())?,
    ));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(&settings)?)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key_file)) => builder
            .with_client_auth_cert(certs(&cert.to_path_buf())?, key(&key_file.to_path_buf())?)
            .map_err(|e| format!("certificate and key do not fit together: {e}"))?,
    };
    Ok(Arc::new(config))
}

/// Checks the server's chain against the CA but not its name, as Redis's TLS links do
/// (nodes are addressed by IP, certificates often name hosts).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
