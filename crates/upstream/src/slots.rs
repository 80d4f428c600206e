//! The slot map of a cluster as `CLUSTER SLOTS` describes it: which shard (a primary and its
//! replicas) owns each of the 16384 slots. Pure: the cluster client fetches the reply.

use resp::Frame;

/// Number of hash slots (Redis Cluster's).
pub const SLOTS: usize = 16384;
const UNOWNED: u32 = u32::MAX;

/// One shard: its primary and replicas, as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub primary: String,
    /// The primary's node id ("" for a standalone server).
    pub id: String,
    pub replicas: Vec<String>,
}

/// Slot -> shard. Invariant: every owner index is `< shards.len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    owner: Vec<u32>,
    pub shards: Vec<Shard>,
    /// False for a server without cluster mode (one shard holds every slot).
    pub cluster: bool,
}

impl SlotMap {
    /// A server without cluster mode: every key lives on it.
    pub fn standalone(addr: &str) -> SlotMap {
        SlotMap {
            owner: vec![0; SLOTS],
            shards: vec![Shard {
                primary: addr.to_string(),
                id: String::new(),
                replicas: Vec::new(),
            }],
            cluster: false,
        }
    }

    /// Reads a `CLUSTER SLOTS` reply. An empty host (Redis's "unknown endpoint") becomes
    /// `default_host`, the host the reply came from.
    pub fn from_cluster_slots(reply: &Frame, default_host: &str) -> Result<SlotMap, String> {
        let Frame::Array(ranges) = reply else {
            return Err(format!("CLUSTER SLOTS: unexpected reply {reply:?}"));
        };
        let mut map = SlotMap {
            owner: vec![UNOWNED; SLOTS],
            shards: Vec::new(),
            cluster: true,
        };
        for range in ranges {
            let Frame::Array(items) = range else {
                return Err("CLUSTER SLOTS: a range is not an array".into());
            };
            let int = |f: Option<&Frame>| match f {
                Some(Frame::Integer(n)) if (0..SLOTS as i64).contains(n) => Ok(*n as usize),
                _ => Err("CLUSTER SLOTS: a slot is not in 0..16383".to_string()),
            };
            let (start, end) = (int(items.first())?, int(items.get(1))?);
            let mut nodes = items[2.min(items.len())..]
                .iter()
                .map(|n| endpoint(n, default_host));
            let Some(primary) = nodes.next() else {
                return Err("CLUSTER SLOTS: a range without a primary".into());
            };
            let (primary, id) = primary?;
            let replicas = nodes.map(|n| n.map(|(a, _)| a)).collect::<Result<_, _>>()?;
            let index = match map.shards.iter().position(|s| s.primary == primary) {
                Some(i) => i,
                None => {
                    map.shards.push(Shard {
                        primary,
                        id,
                        replicas,
                    });
                    map.shards.len() - 1
                }
            };
            for slot in start..=end.max(start) {
                map.owner[slot] = index as u32;
            }
        }
        Ok(map)
    }

    /// The shard that owns `slot` (none while unassigned).
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        let i = *self.owner.get(slot as usize)?;
        self.shards.get(i as usize)
    }

    /// Index in [`Self::shards`] of the owner of `slot`.
    pub fn shard_index(&self, slot: u16) -> Option<usize> {
        let i = *self.owner.get(slot as usize)?;
        (i != UNOWNED).then_some(i as usize)
    }

    /// The map after a `-MOVED slot addr`: `slot` belongs to `addr` (a new shard if the
    /// map does not know it yet).
    pub fn moved(&self, slot: u16, addr: &str) -> SlotMap {
        let mut next = self.clone();
        let index = match next.shards.iter().position(|s| s.primary == addr) {
            Some(i) => i,
            None => {
                next.shards.push(Shard {
                    primary: addr.to_string(),
                    id: String::new(),
                    replicas: Vec::new(),
                });
                next.shards.len() - 1
            }
        };
        if let Some(o) = next.owner.get_mut(slot as usize) {
            *o = index as u32;
        }
        next
    }

    /// Slots with no owner.
    pub fn unowned(&self) -> usize {
        self.owner.iter().filter(|&&o| o == UNOWNED).count()
    }
}

/// `[host, port, id, ...]` -> (`host:port`, id).
fn endpoint(node: &Frame, default_host: &str) -> Result<(String, String), String> {
    let Frame::Array(parts) = node else {
        return Err("CLUSTER SLOTS: a node is not an array".into());
    };
    let host = match parts.first() {
        Some(Frame::Bulk(h)) if !h.is_empty() && h != b"?" => String::from_utf8_lossy(h).into(),
        Some(Frame::Null) | Some(Frame::Bulk(_)) => default_host.to_string(),
        _ => return Err("CLUSTER SLOTS: a node without a host".into()),
    };
    let Some(Frame::Integer(port)) = parts.get(1) else {
        return Err("CLUSTER SLOTS: a node without a port".into());
    };
    let id = parts.get(2).and_then(|f| f.as_text()).unwrap_or_default();
    Ok((join_host_port(&host, *port), id))
}

/// `host:port`, with an IPv6 host in brackets.
pub fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64, id: &str) -> Frame {
        Frame::Array(vec![
            Frame::Bulk(host.into()),
            Frame::Integer(port),
            Frame::Bulk(id.into()),
        ])
    }

    #[test]
    fn ranges_group_into_shards_with_replicas() {
        let reply = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(99),
                node("10.0.0.1", 7000, "a"),
                node("10.0.0.2", 7001, "b"),
            ]),
            Frame::Array(vec![
                Frame::Integer(100),
                Frame::Integer(16383),
                node("", 7002, "c"),
            ]),
            Frame::Array(vec![
                Frame::Integer(50),
                Frame::Integer(50),
                node("10.0.0.1", 7000, "a"),
            ]),
        ]);
        let map = SlotMap::from_cluster_slots(&reply, "seed").unwrap();
        assert_eq!(map.shards.len(), 2);
        assert_eq!(map.shard(0).unwrap().primary, "10.0.0.1:7000");
        assert_eq!(map.shard(0).unwrap().replicas, vec!["10.0.0.2:7001"]);
        assert_eq!(map.shard(100).unwrap().primary, "seed:7002");
        assert_eq!(map.unowned(), 0);
        let moved = map.moved(5, "10.0.0.9:7009");
        assert_eq!(moved.shard(5).unwrap().primary, "10.0.0.9:7009");
        assert_eq!(moved.shard(6).unwrap().primary, "10.0.0.1:7000");
    }

    #[test]
    fn gaps_are_unowned_and_bad_replies_are_errors() {
        let reply = Frame::Array(vec![Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(10),
            node("h", 1, "x"),
        ])]);
        let map = SlotMap::from_cluster_slots(&reply, "seed").unwrap();
        assert!(map.shard(11).is_none());
        assert_eq!(map.unowned(), SLOTS - 11);
        assert!(SlotMap::from_cluster_slots(&Frame::Integer(1), "s").is_err());
        let bad = Frame::Array(vec![Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(99999),
            node("h", 1, "x"),
        ])]);
        assert!(SlotMap::from_cluster_slots(&bad, "s").is_err());
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(join_host_port("::1", 6379), "[::1]:6379");
        assert_eq!(join_host_port("h", 1), "h:1");
    }
}
