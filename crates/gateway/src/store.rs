//! Where entries live: a Shard-Cache (or Redis) cluster, through the cluster client, or a
//! ring of Redis servers placed as the seed gateway placed them (`CACHE_SHARD_URLS`,
//! `VIRTUAL_NODES`), through the proxy's pool (same ring, same ejection of dead servers).

use std::sync::Arc;

use bytes::Bytes;
use resp::Frame;
use upstream::cluster::{encode, parse_one};
use upstream::ClusterClient;

pub enum Store {
    Cluster(Arc<ClusterClient>),
    Ring(Arc<proxy::Pool>),
}

/// The value of a GET reply without copying it (`$-1`: none).
fn bulk_of(reply: Bytes) -> Result<Option<Bytes>, String> {
    match reply.first() {
        Some(b'$') => {
            let end = reply
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("truncated reply")?;
            let len: i64 = std::str::from_utf8(&reply[1..end])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad length")?;
            if len < 0 {
                return Ok(None);
            }
            let start = end + 2;
            let stop = start + len as usize;
            if reply.len() < stop {
                return Err("truncated reply".into());
            }
            Ok(Some(reply.slice(start..stop)))
        }
        Some(b'_') => Ok(None),
        Some(b'-') => Err(String::from_utf8_lossy(&reply[1..]).trim_end().to_string()),
        _ => Err("unexpected reply".into()),
    }
}

fn checked(reply: Bytes) -> Result<Bytes, String> {
    if reply.first() == Some(&b'-') {
        Err(String::from_utf8_lossy(&reply[1..]).trim_end().to_string())
    } else {
        Ok(reply)
    }
}

impl Store {
    /// Runs one single-key command where the key lives.
    async fn call(&self, key: &[u8], argv: &[&[u8]]) -> Result<Bytes, String> {
        match self {
            Store::Cluster(c) => c
                .call_slot(Some(placement::slot::key_slot(key)), encode(argv), 1)
                .await
                .map_err(|e| e.to_string()),
            Store::Ring(pool) => {
                let i = pool
                    .backend_for(key)
                    .ok_or("no cache server is available")?;
                let reply = pool.backends[i]
                    .send(encode(argv))
                    .await
                    .map_err(|_| "cache server connection closed".to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                match &reply {
                    Ok(_) => pool.note_success(i),
                    Err(_) => pool.note_failure(i),
                }
                reply
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, String> {
        bulk_of(self.call(key.as_bytes(), &[b"GET", key.as_bytes()]).await?)
    }

    pub async fn put(&self, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), String> {
        let ttl = ttl_ms.max(1).to_string();
        let argv: [&[u8]; 5] = [b"SET", key.as_bytes(), value, b"PX", ttl.as_bytes()];
        checked(self.call(key.as_bytes(), &argv).await?).map(|_| ())
    }

    pub async fn del(&self, key: &str) -> Result<(), String> {
        checked(self.call(key.as_bytes(), &[b"DEL", key.as_bytes()]).await?).map(|_| ())
    }

    /// Where `key` lives, as a URL (`X-Cache-Shard`).
    pub fn shard(&self, key: &str) -> String {
        match self {
            Store::Cluster(c) => c
                .owner_of(placement::slot::key_slot(key.as_bytes()))
                .map(|a| format!("redis://{a}"))
                .unwrap_or_else(|| "none".into()),
            Store::Ring(pool) => pool
                .backend_for(key.as_bytes())
                .map(|i| pool.backends[i].label.clone())
                .unwrap_or_else(|| "none".into()),
        }
    }

    /// Deletes every key matching `glob` on every server; the number deleted.
    pub async fn clear(&self, glob: &str) -> Result<u64, String> {
        let servers: Vec<String> = match self {
            Store::Cluster(c) => c.map().shards.iter().map(|s| s.primary.clone()).collect(),
            Store::Ring(pool) => (0..pool.backends.len()).map(|i| i.to_string()).collect(),
        };
        let mut deleted = 0;
        for server in servers {
            let mut cursor = b"0".to_vec();
            loop {
                let scan: [&[u8]; 6] = [
                    b"SCAN",
                    &cursor,
                    b"MATCH",
                    glob.as_bytes(),
                    b"COUNT",
                    b"1000",
                ];
                let reply = match self {
                    Store::Cluster(c) => c
                        .call_node(&server, encode(&scan))
                        .await
                        .map_err(|e| e.to_string())?,
                    Store::Ring(pool) => {
                        let i: usize = server.parse().expect("an index");
                        pool.backends[i]
                            .send(encode(&scan))
                            .await
                            .map_err(|_| "cache server connection closed".to_string())?
                            .map_err(|e| e.to_string())?
                    }
                };
                let Ok(Frame::Array(mut parts)) = parse_one(&reply) else {
                    return Err(format!("SCAN failed on {server}"));
                };
                let keys = match parts.pop() {
                    Some(Frame::Array(k)) => k,
                    _ => Vec::new(),
                };
                for k in keys {
                    if let Frame::Bulk(k) = k {
                        self.call(&k, &[b"DEL", &k]).await?;
                        deleted += 1;
                    }
                }
                cursor = match parts.pop() {
                    Some(Frame::Bulk(c)) => c,
                    _ => b"0".to_vec(),
                };
                if cursor == b"0" {
                    break;
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_replies_are_sliced_not_copied() {
        assert_eq!(
            bulk_of(Bytes::from_static(b"$3\r\nabc\r\n")).unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert_eq!(bulk_of(Bytes::from_static(b"$-1\r\n")).unwrap(), None);
        assert_eq!(
            bulk_of(Bytes::from_static(b"$0\r\n\r\n")).unwrap(),
            Some(Bytes::new())
        );
        assert!(bulk_of(Bytes::from_static(b"-ERR x\r\n")).is_err());
        assert!(bulk_of(Bytes::from_static(b"$9\r\nab\r\n")).is_err());
    }
}
