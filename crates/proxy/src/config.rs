//! Proxy configuration: twemproxy's nutcracker.yml (pools of servers), or the seed gateway's
//! list of `redis://` URLs.
//!
//! The YAML is read with yaml-rust2's event parser so every error names its line, as
//! `nutcracker -t` does; an unknown key is an error (twemproxy refuses them too), so a typo
//! never silently changes where keys go.

use std::time::Duration;

use placement::{Distribution, HashKind, Ring, ServerSpec};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A configuration error, with the line it is on when it comes from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

fn error(line: Option<usize>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        line,
        message: message.into(),
    }
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub weight: u32,
    pub alias: Option<String>,
    /// How the server is shown in stats: the URL, or `host:port:weight [alias]`.
    pub label: String,
    /// From a `redis://:password@host` URL (else the pool's `redis_auth`).
    pub password: Option<String>,
    /// From a `redis://host/3` URL (else the pool's `redis_db`).
    pub db: Option<u32>,
    /// A `rediss://` URL: the connections speak TLS (with the pool's `backend_tls`).
    pub tls: bool,
}

impl ServerConfig {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// How keys are placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// twemproxy's: `hash`, `distribution`, `hash_tag`.
    Twemproxy {
        hash: HashKind,
        distribution: Distribution,
        hash_tag: Option<[u8; 2]>,
    },
    /// The seed gateway's ring: `VIRTUAL_NODES` points per backend; `{tag}`s honoured.
    VirtualNodes(u32),
}

/// One pool: a listener and the servers its keys are spread over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub name: String,
    pub listen: String,
    pub placement: Placement,
    /// Per-request timeout (twemproxy's `timeout`, ms; none by default).
    pub timeout: Option<Duration>,
    pub auto_eject_hosts: bool,
    pub server_retry_timeout: Duration,
    pub server_failure_limit: u32,
    pub redis_auth: Option<String>,
    pub redis_db: u32,
    /// Connections kept to each server (twemproxy's `server_connections`).
    pub server_connections: usize,
    /// TTL (seconds) added to SETs that carry none (`CACHE_DEFAULT_TTL`).
    pub default_ttl: Option<u64>,
    /// Password clients must AUTH with (ours; twemproxy has none separate from the backends').
    pub requirepass: Option<String>,
    /// ACL users for clients (`--user`, redis.conf's `user` lines without the word):
    /// see [`crate::users`].
    pub users: Vec<String>,
    /// Redis's `client-output-buffer-limit normal` for this pool's clients (0 = none).
    pub client_output_limit: OutputLimit,
    /// Redis's `client-query-buffer-limit`: a client whose unparsed input exceeds it is
    /// disconnected.
    pub client_query_buffer_limit: u64,
    pub servers: Vec<ServerConfig>,
    /// How `rediss://` servers are checked (`--backend-tls-ca-cert-file`).
    pub backend_tls: Option<BackendTls>,
}

/// A TLS client configuration for backends (compared by identity: a reload that keeps it
/// keeps the pool's connections).
#[derive(Clone)]
pub struct BackendTls(pub std::sync::Arc<tls::rustls::ClientConfig>);

impl PartialEq for BackendTls {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BackendTls {}

impl BackendTls {
    /// From PEM files: the CA that signs the backends' certificates, and optionally our
    /// certificate and key (for backends that ask for one).
    pub fn from_files(
        ca: &std::path::Path,
        identity: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<BackendTls, String> {
        tls::client_config_to(ca, identity).map(BackendTls)
    }
}

/// Gives every pool with a `rediss://` server the TLS configuration (an error when one is
/// needed and none given).
pub fn apply_backend_tls(pools: &mut [PoolConfig], tls: Option<BackendTls>) -> Result<(), String> {
    for p in pools {
        if p.servers.iter().any(|s| s.tls) && tls.is_none() {
            return Err(format!(
                "pool {}: rediss:// backends need --backend-tls-ca-cert-file (the CA that signs their certificates)",
                p.name
            ));
        }
        p.backend_tls = tls.clone();
    }
    Ok(())
}

impl std::fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackendTls")
    }
}

/// An output buffer limit as Redis's `client-output-buffer-limit` class has it: past `hard`
/// bytes at once, or past `soft` bytes for `soft_seconds`, the client is disconnected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl PoolConfig {
    fn new(name: &str) -> PoolConfig {
        PoolConfig {
            name: name.to_string(),
            listen: String::new(),
            placement: Placement::Twemproxy {
                hash: HashKind::Fnv1a64,
                distribution: Distribution::Ketama,
                hash_tag: None,
            },
            timeout: None,
            auto_eject_hosts: false,
            server_retry_timeout: Duration::from_millis(30_000),
            server_failure_limit: 2,
            redis_auth: None,
            redis_db: 0,
            server_connections: 1,
            default_ttl: None,
            requirepass: None,
            users: Vec::new(),
            client_output_limit: OutputLimit::default(),
            client_query_buffer_limit: 1 << 30,
            servers: Vec::new(),
            backend_tls: None,
        }
    }

    /// The ring over the servers marked live.
    pub fn ring(&self, live: &[bool]) -> Ring {
        let specs = self.specs();
        match &self.placement {
            Placement::Twemproxy {
                hash,
                distribution,
                hash_tag,
            } => Ring::new(&specs, live, *distribution, *hash, *hash_tag),
            Placement::VirtualNodes(n) => {
                let live_specs: Vec<ServerSpec> = specs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ServerSpec {
                        weight: if live.get(i).copied().unwrap_or(true) {
                            s.weight
                        } else {
                            0
                        },
                        ..s.clone()
                    })
                    .collect();
                // Redis-style `{tag}`s group keys here too.
                Ring::with_virtual_nodes(&live_specs, *n, Some(*b"{}"))
            }
        }
    }

    pub fn specs(&self) -> Vec<ServerSpec> {
        self.servers
            .iter()
            .map(|s| match &self.placement {
                Placement::VirtualNodes(_) => ServerSpec {
                    name: s.label.clone(),
                    weight: s.weight,
                },
                Placement::Twemproxy { .. } => {
                    ServerSpec::new(&s.host, s.port, s.weight, s.alias.as_deref())
                }
            })
            .collect()
    }
}

/// A YAML node with the line it starts on.
#[derive(Debug, Clone)]
enum Node {
    Scalar(String, usize),
    Map(Vec<(String, usize, Node)>, usize),
    Seq(Vec<Node>, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, l) | Node::Map(_, l) | Node::Seq(_, l) => *l,
        }
    }
}

/// Builds [`Node`]s from parser events.
#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    /// Pending mapping keys, one per open mapping.
    keys: Vec<Option<(String, usize)>>,
    root: Option<Node>,
    error: Option<ConfigError>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Node::Seq(items, _)) => items.push(node),
            Some(Node::Map(entries, _)) => {
                let slot = self.keys.last_mut().expect("a key slot per open mapping");
                match slot.take() {
                    None => match node {
                        Node::Scalar(k, l) => *slot = Some((k, l)),
                        other => {
                            self.error.get_or_insert(error(
                                Some(other.line()),
                                "keys must be plain text",
                            ));
                        }
                    },
                    Some((k, l)) => entries.push((k, l, node)),
                }
            }
            Some(Node::Scalar(..)) => unreachable!("scalars are never open"),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(v, ..) => self.push_value(Node::Scalar(v, line)),
            Event::MappingStart(..) => {
                self.stack.push(Node::Map(Vec::new(), line));
                self.keys.push(None);
            }
            Event::SequenceStart(..) => self.stack.push(Node::Seq(Vec::new(), line)),
            Event::MappingEnd => {
                self.keys.pop();
                let node = self.stack.pop().expect("open mapping");
                self.push_value(node);
            }
            Event::SequenceEnd => {
                let node = self.stack.pop().expect("open sequence");
                self.push_value(node);
            }
            Event::Alias(_) => {
                self.error
                    .get_or_insert(error(Some(line), "aliases are not supported"));
            }
            _ => {}
        }
    }
}

fn scalar(node: &Node, what: &str) -> Result<String, ConfigError> {
    match node {
        Node::Scalar(s, _) => Ok(s.clone()),
        other => Err(error(
            Some(other.line()),
            format!("{what} must be a single value"),
        )),
    }
}

fn number<T: std::str::FromStr>(node: &Node, what: &str) -> Result<T, ConfigError> {
    let s = scalar(node, what)?;
    s.trim().parse().map_err(|_| {
        error(
            Some(node.line()),
            format!("{what} must be a number, not {s:?}"),
        )
    })
}

fn boolean(node: &Node, what: &str) -> Result<bool, ConfigError> {
    match scalar(node, what)?.as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        other => Err(error(
            Some(node.line()),
            format!("{what} must be true or false, not {other:?}"),
        )),
    }
}

/// Parses `host:port:weight [name]` (twemproxy's server line).
fn parse_server(text: &str, line: usize) -> Result<ServerConfig, ConfigError> {
    let (addr, alias) = match text.trim().split_once(char::is_whitespace) {
        Some((a, n)) => (a, Some(n.trim().to_string())),
        None => (text.trim(), None),
    };
    let bad = || {
        error(
            Some(line),
            format!("server {text:?} is not host:port:weight [name]"),
        )
    };
    let mut parts = addr.rsplitn(3, ':');
    let weight: u32 = parts.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let port: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    if weight == 0 {
        return Err(error(Some(line), format!("server {text:?} has weight 0")));
    }
    Ok(ServerConfig {
        host: host.to_string(),
        port,
        weight,
        alias,
        label: text.trim().to_string(),
        password: None,
        db: None,
        tls: false,
    })
}

/// Parses a nutcracker.yml: one pool per top-level key.
pub fn parse_yaml(text: &str) -> Result<Vec<PoolConfig>, ConfigError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| {
        error(
            Some(e.marker().line()),
            format!("YAML syntax: {}", e.info()),
        )
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    let Some(Node::Map(pools, _)) = builder.root else {
        return Err(error(None, "the file must map pool names to pool settings"));
    };
    let mut out = Vec::new();
    for (name, line, body) in pools {
        let Node::Map(entries, _) = body else {
            return Err(error(
                Some(line),
                format!("pool {name:?} must be a mapping"),
            ));
        };
        let mut pool = PoolConfig::new(&name);
        let (mut hash, mut distribution, mut hash_tag) =
            (HashKind::Fnv1a64, Distribution::Ketama, None);
        for (key, kline, value) in &entries {
            let at = Some(*kline);
            match key.as_str() {
                "listen" => pool.listen = scalar(value, "listen")?,
                "hash" => {
                    let h = scalar(value, "hash")?;
                    hash = HashKind::from_name(&h)
                        .ok_or_else(|| error(at, format!("unknown hash {h:?}")))?;
                }
                "hash_tag" => {
                    let t = scalar(value, "hash_tag")?;
                    let b = t.as_bytes();
                    if b.len() != 2 {
                        return Err(error(at, "hash_tag must be two characters, like \"{}\""));
                    }
                    hash_tag = Some([b[0], b[1]]);
                }
                "distribution" => {
                    let d = scalar(value, "distribution")?;
                    distribution = Distribution::from_name(&d)
                        .ok_or_else(|| error(at, format!("unknown distribution {d:?}")))?;
                }
                "timeout" => {
                    let ms: u64 = number(value, "timeout")?;
                    pool.timeout = (ms > 0).then(|| Duration::from_millis(ms));
                }
                "auto_eject_hosts" => pool.auto_eject_hosts = boolean(value, key)?,
                "server_retry_timeout" => {
                    pool.server_retry_timeout = Duration::from_millis(number(value, key)?)
                }
                "server_failure_limit" => pool.server_failure_limit = number(value, key)?,
                "redis_auth" => pool.redis_auth = Some(scalar(value, key)?),
                "redis_db" => pool.redis_db = number(value, key)?,
                "server_connections" => {
                    pool.server_connections = number::<usize>(value, key)?.max(1)
                }
                "requirepass" => pool.requirepass = Some(scalar(value, key)?),
                "default_ttl" => pool.default_ttl = Some(number(value, key)?).filter(|t| *t > 0),
                "redis" => {
                    if !boolean(value, key)? {
                        return Err(error(at, "only redis pools are supported (redis: true)"));
                    }
                }
                // Accepted for compatibility; they do not change behaviour here.
                "backlog" | "preconnect" | "client_connections" | "tcpkeepalive" | "reuseport" => {
                    scalar(value, key)?;
                }
                "servers" => {
                    let Node::Seq(items, _) = value else {
                        return Err(error(at, "servers must be a list"));
                    };
                    for item in items {
                        let text = scalar(item, "a server")?;
                        pool.servers.push(parse_server(&text, item.line())?);
                    }
                }
                other => return Err(error(at, format!("unknown key {other:?} in pool {name:?}"))),
            }
        }
        if pool.listen.is_empty() {
            return Err(error(
                Some(line),
                format!("pool {name:?} has no listen address"),
            ));
        }
        if pool.servers.is_empty() {
            return Err(error(Some(line), format!("pool {name:?} has no servers")));
        }
        let mut names: Vec<String> = pool.specs().into_iter().map(|s| s.name).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(error(
                Some(line),
                format!("pool {name:?} has two servers named {:?}", w[0]),
            ));
        }
        pool.placement = Placement::Twemproxy {
            hash,
            distribution,
            hash_tag,
        };
        out.push(pool);
    }
    if out.is_empty() {
        return Err(error(None, "no pools"));
    }
    Ok(out)
}

/// Parses `redis://[:password@]host[:port][/db]` (`rediss://`: over TLS).
pub fn parse_url(url: &str) -> Result<ServerConfig, ConfigError> {
    let bad = |why: &str| error(None, format!("backend {url:?}: {why}"));
    let url_trimmed = url.trim();
    let (rest, tls) = match url_trimmed.strip_prefix("rediss://") {
        Some(rest) => (rest, true),
        None => (
            url_trimmed
                .strip_prefix("redis://")
                .ok_or_else(|| bad("must start with redis:// or rediss://"))?,
            false,
        ),
    };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let password = auth.map(|a| a.split_once(':').map_or(a, |(_, p)| p).to_string());
    let (hostport, db) = match rest.split_once('/') {
        Some((hp, db)) if !db.is_empty() => {
            (hp, Some(db.parse().map_err(|_| bad("bad db number"))?))
        }
        Some((hp, _)) => (hp, None),
        None => (rest, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
        None => (hostport, 6379),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    // The label (and ring name) leaves the password out, and keeps `redis://` for a TLS
    // server too, so turning TLS on does not move keys on the ring.
    let label = format!(
        "redis://{host}:{port}{}",
        db.map(|d: u32| format!("/{d}")).unwrap_or_default()
    );
    Ok(ServerConfig {
        host: host.to_string(),
        port,
        weight: 1,
        alias: None,
        label,
        password: password.filter(|p| !p.is_empty()),
        db,
        tls,
    })
}

/// The seed gateway's configuration: `CACHE_SHARD_URLS`, `VIRTUAL_NODES`,
/// `CACHE_DEFAULT_TTL`.
pub fn from_urls(
    listen: &str,
    urls: &str,
    virtual_nodes: u32,
    default_ttl: Option<u64>,
) -> Result<PoolConfig, ConfigError> {
    let mut pool = PoolConfig::new("default");
    pool.listen = listen.to_string();
    pool.placement = Placement::VirtualNodes(virtual_nodes.max(1));
    pool.default_ttl = default_ttl.filter(|t| *t > 0);
    pool.timeout = Some(Duration::from_millis(2000));
    for url in urls.split(',').filter(|u| !u.trim().is_empty()) {
        pool.servers.push(parse_url(url)?);
    }
    if pool.servers.is_empty() {
        return Err(error(None, "no backends given"));
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  hash_tag: \"{}\"
  distribution: ketama
  auto_eject_hosts: true
  redis: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:6379:1 server1
   - 127.0.0.1:6380:2
beta:
  listen: 127.0.0.1:22122
  hash: md5
  distribution: modula
  servers:
   - 10.0.0.1:6379:1
";

    #[test]
    fn reads_twemproxy_configs() {
        let pools = parse_yaml(SAMPLE).unwrap();
        assert_eq!(pools.len(), 2);
        let a = &pools[0];
        assert_eq!(a.listen, "127.0.0.1:22121");
        assert!(a.auto_eject_hosts);
        assert_eq!(a.server_failure_limit, 1);
        assert_eq!(a.servers[0].alias.as_deref(), Some("server1"));
        assert_eq!(a.servers[1].weight, 2);
        assert_eq!(
            a.placement,
            Placement::Twemproxy {
                hash: HashKind::Fnv1a64,
                distribution: Distribution::Ketama,
                hash_tag: Some(*b"{}")
            }
        );
        assert_eq!(pools[1].servers[0].host, "10.0.0.1");
    }

    #[test]
    fn errors_name_the_line() {
        let bad_hash = SAMPLE.replace("hash: md5", "hash: sha1");
        let e = parse_yaml(&bad_hash).unwrap_err();
        assert_eq!(e.line, Some(15), "{e}");
        assert!(e.to_string().contains("unknown hash \"sha1\""), "{e}");
        let bad_server = SAMPLE.replace("127.0.0.1:6380:2", "127.0.0.1:notaport:2");
        assert_eq!(parse_yaml(&bad_server).unwrap_err().line, Some(12));
        let typo = SAMPLE.replace("distribution: modula", "distribtion: modula");
        assert!(parse_yaml(&typo)
            .unwrap_err()
            .to_string()
            .starts_with("line 16: unknown key"));
        let syntax = "alpha:\n  listen: [oops\n";
        assert!(parse_yaml(syntax).unwrap_err().line.is_some());
    }

    #[test]
    fn reads_urls() {
        let p = from_urls(
            "127.0.0.1:0",
            "redis://h1:6379,redis://:s3cret@h2:6380/2, redis://h3",
            150,
            Some(60),
        )
        .unwrap();
        assert_eq!(p.servers.len(), 3);
        assert_eq!(p.servers[1].password.as_deref(), Some("s3cret"));
        assert_eq!(p.servers[1].db, Some(2));
        assert_eq!(p.servers[1].label, "redis://h2:6380/2");
        assert_eq!(p.servers[2].port, 6379);
        assert!(from_urls("x", "http://h1", 150, None).is_err());
    }
}
