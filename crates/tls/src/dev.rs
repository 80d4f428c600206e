//! Throwaway certificates for local use (`shardcache dev --tls`, tests): a CA, and one
//! certificate for `localhost`/127.0.0.1 that serves both as a server's and a client's.
//! Never for production: the CA key is written next to them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// Where [`write`] put the files.
#[derive(Debug, Clone)]
pub struct DevCerts {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `ca.crt`, `ca.key`, `shardcache.crt` and `shardcache.key` into `dir`, for
/// `hosts` (names and IP addresses) besides localhost and 127.0.0.1.
pub fn write(dir: &Path, hosts: &[&str]) -> Result<DevCerts, String> {
    let err = |e: rcgen::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Shard-Cache development CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    names.extend(hosts.iter().map(|h| h.to_string()));
    names.dedup();
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "shardcache");
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().map_err(err)?;
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(err)?;

    let out = DevCerts {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("shardcache.crt"),
        key: dir.join("shardcache.key"),
    };
    let write = |p: &Path, text: String| std::fs::write(p, text).map_err(|e| e.to_string());
    write(&out.ca_cert, ca_cert.pem())?;
    write(&dir.join("ca.key"), ca_key.serialize_pem())?;
    write(&out.cert, cert.pem())?;
    write(&out.key, key.serialize_pem())?;
    Ok(out)
}
