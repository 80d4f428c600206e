//! twemproxy 0.5's server selection (`distribution:` in nutcracker.yml), point for point.
//!
//! `ketama`: each live server gets `floor(weight/total * 40 * live) * 4` points on a 32-bit
//! ring, four per MD5 of `"<name>-<i>"`; a key goes to the first point at or after its hash
//! (wrapping). `modula`: hash modulo the total weight, each server repeated `weight` times.
//! `random`: any live server. A server's *name* is its alias when the config gives one, else
//! `host:port` (just `host` for port 11211, libmemcached's convention twemproxy kept) — so
//! renaming or re-addressing a server moves its keys exactly as with twemproxy.

use crate::hash::{md5_digest, HashKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    Ketama,
    Modula,
    Random,
}

impl Distribution {
    pub fn from_name(name: &str) -> Option<Distribution> {
        match name {
            "ketama" => Some(Distribution::Ketama),
            "modula" => Some(Distribution::Modula),
            "random" => Some(Distribution::Random),
            _ => None,
        }
    }
}

/// A server as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// What ketama hashes: the alias, or `host:port` (`host` alone for port 11211).
    pub name: String,
    pub weight: u32,
}

impl ServerSpec {
    /// The name twemproxy derives for `host:port:weight [alias]`.
    pub fn new(host: &str, port: u16, weight: u32, alias: Option<&str>) -> ServerSpec {
        let name = match alias {
            Some(a) => a.to_string(),
            None if port == 11211 => host.to_string(),
            None => format!("{host}:{port}"),
        };
        ServerSpec { name, weight }
    }
}

/// The order twemproxy keeps a pool's servers in: its config check sorts them by name
/// (shorter names first, then bytewise: its `string_compare`) to find duplicates, and keeps
/// that order. Ketama does not depend on it; `modula` indexes servers in it.
fn twemproxy_order(servers: &[ServerSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..servers.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (servers[a].name.as_bytes(), servers[b].name.as_bytes());
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    });
    order
}

const POINTS_PER_SERVER: f32 = 160.0;
const POINTS_PER_HASH: u32 = 4;

/// A built ring: picks a server index (into the configured list) for a key.
#[derive(Debug, Clone)]
pub struct Ring {
    dist: Distribution,
    hash: HashKind,
    hash_tag: Option<[u8; 2]>,
    /// Servers configured (live or not): twemproxy hashes every key to 0 when it is 1.
    configured: usize,
    /// (point, server index), sorted by point (ketama); server indexes (modula, random).
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// Builds the ring over the servers marked live (ejected ones get no points), in the
    /// configured order.
    pub fn new(
        servers: &[ServerSpec],
        live: &[bool],
        dist: Distribution,
        hash: HashKind,
        hash_tag: Option<[u8; 2]>,
    ) -> Ring {
        let is_live = |i: usize| live.get(i).copied().unwrap_or(true);
        let nlive = (0..servers.len()).filter(|&i| is_live(i)).count();
        let total: u32 = (0..servers.len())
            .filter(|&i| is_live(i))
            .map(|i| servers[i].weight)
            .sum();
        let mut points = Vec::new();
        match dist {
            Distribution::Ketama if nlive > 0 && total > 0 => {
                for (i, s) in servers.iter().enumerate().filter(|(i, _)| is_live(*i)) {
                    // The same single-precision arithmetic as twemproxy's ketama_update.
                    let pct = s.weight as f32 / total as f32;
                    let x = pct * POINTS_PER_SERVER / 4.0 * nlive as f32;
                    let per_server = ((x as f64 + 0.000_000_000_1) as f32).floor() as u32 * 4;
                    for p in 0..per_server / POINTS_PER_HASH {
                        let digest = md5_digest(format!("{}-{}", s.name, p).as_bytes());
                        for a in 0..4 {
                            let w = &digest[a * 4..a * 4 + 4];
                            points.push((u32::from_le_bytes([w[0], w[1], w[2], w[3]]), i));
                        }
                    }
                }
                points.sort_by_key(|&(v, _)| v);
            }
            Distribution::Modula => {
                for i in twemproxy_order(servers).into_iter().filter(|&i| is_live(i)) {
                    points.extend((0..servers[i].weight).map(|_| (0, i)));
                }
            }
            Distribution::Random => {
                let live = twemproxy_order(servers).into_iter().filter(|&i| is_live(i));
                points.extend(live.map(|i| (0, i)));
            }
            Distribution::Ketama => {}
        }
        Ring {
            dist,
            hash,
            hash_tag,
            configured: servers.len(),
            points,
        }
    }

    /// A consistent-hash ring with `virtual_nodes` points per server (the seed gateway's
    /// `VIRTUAL_NODES`, default 150): point `i` of a server is the first 32 bits of
    /// MD5(`"<name>-<i>"`), a key's position the first 32 bits of its MD5, and a key goes to
    /// the next point clockwise. Weights multiply the points; a server of weight 0 gets none.
    pub fn with_virtual_nodes(
        servers: &[ServerSpec],
        virtual_nodes: u32,
        hash_tag: Option<[u8; 2]>,
    ) -> Ring {
        let mut points = Vec::new();
        for (i, s) in servers.iter().enumerate() {
            for p in 0..virtual_nodes * s.weight {
                let d = md5_digest(format!("{}-{}", s.name, p).as_bytes());
                points.push((u32::from_le_bytes([d[0], d[1], d[2], d[3]]), i));
            }
        }
        points.sort_by_key(|&(v, _)| v);
        Ring {
            dist: Distribution::Ketama,
            hash: HashKind::Md5,
            hash_tag,
            configured: servers.len().max(2),
            points,
        }
    }

    /// The part of the key that is hashed (twemproxy's `hash_tag`: the text between the first
    /// opening character and the next closing one, when not empty).
    pub fn hashed_part<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        if let Some([open, close]) = self.hash_tag {
            if let Some(s) = key.iter().position(|&c| c == open) {
                if let Some(len) = key[s + 1..].iter().position(|&c| c == close) {
                    if len > 0 {
                        return &key[s + 1..s + 1 + len];
                    }
                }
            }
        }
        key
    }

    /// twemproxy's `server_pool_hash`.
    pub fn key_hash(&self, key: &[u8]) -> u32 {
        let part = self.hashed_part(key);
        if self.configured == 1 || part.is_empty() {
            0
        } else {
            self.hash.hash(part)
        }
    }

    /// The server (index in the configured list) for `key`; `None` when none is live.
    pub fn pick(&self, key: &[u8]) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        match self.dist {
            Distribution::Ketama => {
                let h = self.key_hash(key);
                let at = self.points.partition_point(|&(v, _)| v < h);
                Some(self.points[if at == self.points.len() { 0 } else { at }].1)
            }
            Distribution::Modula => {
                let h = self.key_hash(key) as usize;
                Some(self.points[h % self.points.len()].1)
            }
            Distribution::Random => {
                use rand::Rng;
                Some(self.points[rand::thread_rng().gen_range(0..self.points.len())].1)
            }
        }
    }

    /// Points per server index (the `hash_ring_distribution` of the stats API).
    pub fn points_per_server(&self) -> Vec<usize> {
        let mut counts = vec![0; self.configured];
        for &(_, i) in &self.points {
            counts[i] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<ServerSpec> {
        (0..3)
            .map(|i| ServerSpec::new("127.0.0.1", 7000 + i, 1, None))
            .collect()
    }

    #[test]
    fn ketama_gives_160_points_per_equal_server_and_moves_a_third_on_removal() {
        let servers = three();
        let ring = Ring::new(&servers, &[], Distribution::Ketama, HashKind::Fnv1a64, None);
        assert_eq!(ring.points_per_server(), vec![160, 160, 160]);
        let without = Ring::new(
            &servers,
            &[true, true, false],
            Distribution::Ketama,
            HashKind::Fnv1a64,
            None,
        );
        let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
        let moved = keys
            .iter()
            .filter(|k| ring.pick(k.as_bytes()) != without.pick(k.as_bytes()))
            .count();
        // Only the removed server's keys move (about a third).
        let on_removed = keys
            .iter()
            .filter(|k| ring.pick(k.as_bytes()) == Some(2))
            .count();
        assert_eq!(moved, on_removed);
        assert!((2_500..4_200).contains(&moved), "{moved}");
    }

    #[test]
    fn virtual_node_rings_balance_and_move_about_one_nth() {
        let servers: Vec<ServerSpec> = (0..4)
            .map(|i| ServerSpec::new("10.0.0.1", 6379 + i, 1, None))
            .collect();
        let ring = Ring::with_virtual_nodes(&servers, 150, None);
        assert_eq!(ring.points_per_server(), vec![150; 4]);
        let grown = {
            let mut more = servers.clone();
            more.push(ServerSpec::new("10.0.0.1", 6400, 1, None));
            Ring::with_virtual_nodes(&more, 150, None)
        };
        let keys: Vec<String> = (0..20_000).map(|i| format!("gw:{i}")).collect();
        let mut per = [0usize; 4];
        for k in &keys {
            per[ring.pick(k.as_bytes()).unwrap()] += 1;
        }
        assert!(per.iter().all(|&n| (3_500..6_500).contains(&n)), "{per:?}");
        let moved = keys
            .iter()
            .filter(|k| ring.pick(k.as_bytes()) != grown.pick(k.as_bytes()))
            .count();
        // Only keys taken by the new server move: about a fifth.
        assert!((2_800..5_200).contains(&moved), "{moved}");
        assert!(keys
            .iter()
            .filter(|k| ring.pick(k.as_bytes()) != grown.pick(k.as_bytes()))
            .all(|k| grown.pick(k.as_bytes()) == Some(4)));
    }

    #[test]
    fn names_follow_twemproxy() {
        assert_eq!(
            ServerSpec::new("10.0.0.1", 6379, 1, None).name,
            "10.0.0.1:6379"
        );
        assert_eq!(ServerSpec::new("10.0.0.1", 11211, 1, None).name, "10.0.0.1");
        assert_eq!(ServerSpec::new("10.0.0.1", 6379, 1, Some("s1")).name, "s1");
    }

    #[test]
    fn hash_tags_and_single_servers() {
        let servers = three();
        let tagged = Ring::new(
            &servers,
            &[],
            Distribution::Ketama,
            HashKind::Md5,
            Some([b'{', b'}']),
        );
        assert_eq!(tagged.hashed_part(b"user:{42}:name"), b"42");
        assert_eq!(tagged.hashed_part(b"user:{}:name"), b"user:{}:name");
        assert_eq!(
            tagged.pick(b"a{x}b"),
            tagged.pick(b"{x}"),
            "same tag, same server"
        );
        let one = Ring::new(
            &servers[..1],
            &[],
            Distribution::Modula,
            HashKind::Md5,
            None,
        );
        assert_eq!(one.key_hash(b"anything"), 0);
    }
}
