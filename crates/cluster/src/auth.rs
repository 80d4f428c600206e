//! Cluster bus authentication: a mutual HMAC-SHA256 challenge-response at the start of
//! every bus connection, so only nodes that know the cluster secret can send Raft messages
//! or membership requests, and a node only talks to peers that know it too. The secret
//! itself never crosses the wire.
//!
//! # Handshake (all fixed-size, so nothing large is read from an unproven peer)
//! 1. server -> client: `MAGIC`, one byte (1 = a secret is required, 0 = an open bus), a
//!    32-byte random challenge `sc`;
//! 2. client -> server: a 32-byte random challenge `cc` and `HMAC(secret, "client" sc cc)`
//!    (zeros on an open bus);
//! 3. server -> client: `HMAC(secret, "server" cc sc)`, after checking the client's.
//!
//! A node with a secret refuses a peer without one, in both directions (an open server
//! could be anyone). Fresh challenges on both sides mean a recorded handshake cannot be
//! replayed. Frames after the handshake are not authenticated one by one: an attacker who
//! can inject into an established TCP stream is what TLS on the bus will address.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 8] = b"SCBUS/1\n";
const NONCE: usize = 32;
const MAC: usize = 32;

/// The shared secret of a cluster's bus.
#[derive(Clone)]
pub struct BusSecret(std::sync::Arc<[u8]>);

impl std::fmt::Debug for BusSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusSecret(..)")
    }
}

impl BusSecret {
    pub fn new(secret: &[u8]) -> BusSecret {
        BusSecret(secret.into())
    }

    /// The secret a cluster uses when none is given: derived from the client password
    /// (`requirepass`) that every member of a cluster shares, so a password-protected
    /// cluster has an authenticated bus without further configuration.
    pub fn from_password(password: &str) -> BusSecret {
        let mut h = Sha256::new();
        h.update(b"shardcache cluster bus secret v1\0");
        h.update(password.as_bytes());
        BusSecret(h.finalize().as_slice().into())
    }

    fn mac(&self, role: &[u8], first: &[u8], second: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(role);
        m.update(first);
        m.update(second);
        m
    }
}

fn refused(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, why.to_string())
}

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// The accepting side: succeeds only if the peer proved the secret (or both run open).
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&BusSecret>,
) -> std::io::Result<()> {
    let sc = nonce();
    let mut hello = Vec::with_capacity(MAGIC.len() + 1 + NONCE);
    hello.extend_from_slice(MAGIC);
    hello.push(secret.is_some() as u8);
    hello.extend_from_slice(&sc);
    s.write_all(&hello).await?;
    let mut answer = [0u8; NONCE + MAC];
    s.read_exact(&mut answer).await?;
    let (cc, client_mac) = answer.split_at(NONCE);
    let Some(secret) = secret else {
        return Ok(());
    };
    secret
        .mac(b"client", &sc, cc)
        .verify_slice(client_mac)
        .map_err(|_| refused("wrong cluster secret"))?;
    let proof = secret.mac(b"server", cc, &sc).finalize().into_bytes();
    s.write_all(&proof).await
}

/// The connecting side: succeeds only if the server proved the secret (or both run open).
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&BusSecret>,
) -> std::io::Result<()> {
    let mut hello = [0u8; MAGIC.len() + 1 + NONCE];
    s.read_exact(&mut hello).await?;
    if &hello[..MAGIC.len()] != MAGIC {
        return Err(refused("not a Shard-Cache cluster bus"));
    }
    let required = hello[MAGIC.len()] == 1;
    let sc = &hello[MAGIC.len() + 1..];
    let cc = nonce();
    match (secret, required) {
        (None, true) => return Err(refused("the peer requires a cluster secret; none is set")),
        (Some(_), false) => {
            return Err(refused(
                "the peer runs an open bus (no cluster secret); refusing to talk to it",
            ))
        }
        _ => {}
    }
    let mut answer = Vec::with_capacity(NONCE + MAC);
    answer.extend_from_slice(&cc);
    match secret {
        Some(secret) => {
            answer.extend_from_slice(&secret.mac(b"client", sc, &cc).finalize().into_bytes())
        }
        None => answer.extend_from_slice(&[0u8; MAC]),
    }
    s.write_all(&answer).await?;
    if let Some(secret) = secret {
        let mut proof = [0u8; MAC];
        s.read_exact(&mut proof).await?;
        secret
            .mac(b"server", &cc, sc)
            .verify_slice(&proof)
            .map_err(|_| refused("the peer does not know the cluster secret"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(
        server: Option<BusSecret>,
        client: Option<BusSecret>,
    ) -> (std::io::Result<()>, std::io::Result<()>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let s = tokio::spawn(async move { server_handshake(&mut a, server.as_ref()).await });
        let c = client_handshake(&mut b, client.as_ref()).await;
        drop(b);
        (s.await.unwrap(), c)
    }

    #[tokio::test]
    async fn same_secret_passes_both_ways() {
        let k = BusSecret::from_password("pw");
        let (s, c) = pair(Some(k.clone()), Some(k)).await;
        assert!(s.is_ok() && c.is_ok(), "{s:?} {c:?}");
    }

    #[tokio::test]
    async fn wrong_or_missing_secret_is_refused() {
        let (s, c) = pair(
            Some(BusSecret::from_password("a")),
            Some(BusSecret::from_password("b")),
        )
        .await;
        assert!(s.is_err() && c.is_err(), "{s:?} {c:?}");
        let (s, c) = pair(Some(BusSecret::new(b"k")), None).await;
        assert!(c
            .unwrap_err()
            .to_string()
            .contains("requires a cluster secret"));
        assert!(s.is_err());
        let (_, c) = pair(None, Some(BusSecret::new(b"k"))).await;
        assert!(c.unwrap_err().to_string().contains("open bus"));
    }

    #[tokio::test]
    async fn open_bus_needs_no_secret() {
        let (s, c) = pair(None, None).await;
        assert!(s.is_ok() && c.is_ok());
    }

    #[test]
    fn derived_secrets_differ_by_password() {
        let mac = |k: BusSecret| k.mac(b"r", b"x", b"y").finalize().into_bytes();
        assert_ne!(
            mac(BusSecret::from_password("a")),
            mac(BusSecret::from_password("b"))
        );
        assert_eq!(
            mac(BusSecret::from_password("a")),
            mac(BusSecret::from_password("a"))
        );
    }
}
