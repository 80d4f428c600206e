//! Test support: in-process nodes on port 0, a raw RESP client, and a real redis-server.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use resp::Frame;
use server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A node running inside the test process.
pub struct Node {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Node {
    pub async fn start() -> Node {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> Node {
        Self::start_inner(config, false).await
    }

    /// A node reporting (and so answering as) Redis 7.0.15, the version of the redis-server
    /// the differential tests compare with, where Redis 7.2 added to a reply (XINFO's
    /// consumer activity times).
    pub async fn start_as_redis_7_0() -> Node {
        Self::start_with(Config {
            compat_version: "7.0.15".into(),
            ..Config::default()
        })
        .await
    }

    pub async fn start_with_admin(config: Config) -> Node {
        Self::start_inner(config, true).await
    }

    async fn start_inner(mut config: Config, admin: bool) -> Node {
        if config.extra_commands.is_empty() {
            config.extra_commands = scripting::handlers();
        }
        // A directory of its own: a node of another test that saves (SAVE, DEBUG RELOAD)
        // must not leave a dump.rdb that this one loads at start (LOADING meanwhile).
        if config.dir == Config::default().dir {
            config.dir = temp_dir("node");
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_listener = if admin {
            Some(TcpListener::bind("127.0.0.1:0").await.unwrap())
        } else {
            None
        };
        let admin = admin_listener.as_ref().map(|l| l.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::run_with_admin(
            Some(listener),
            admin_listener,
            config,
            async {
                let _ = rx.await;
            },
        ));
        Node {
            addr,
            admin,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap().await.unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A minimal RESP client that shows replies exactly as they arrive.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The kinds of null in the last reply read, in order (`$` for `$-1`, `*` for `*-1`,
    /// `_` for RESP3's null): `Frame` has one `Null` for all three, and a client tells
    /// them apart (redis-py answers None for one, [] for another in some paths).
    pub nulls: String,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
            nulls: String::new(),
        }
    }

    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let mut wire = Vec::new();
        resp::request::encode_command(args, &mut wire);
        self.stream.write_all(&wire).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one reply; `None` if the server closed the connection first.
    pub async fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = Frame::parse(&self.buf).expect("valid RESP from server") {
                self.nulls.clear();
                null_kinds(&self.buf[..used], &mut self.nulls);
                self.buf.drain(..used);
                return Some(frame);
            }
            self.buf.reserve(64 * 1024);
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("reply within 10s")
                    .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Frame {
        self.send(args).await;
        self.read().await.expect("connection open")
    }

    /// Splits a command line on spaces (no quoting) and runs it.
    pub async fn run(&mut self, line: &str) -> Frame {
        let args: Vec<&str> = line.split(' ').collect();
        self.cmd(&args).await
    }

    /// True once the server has closed the connection (reads EOF within the timeout).
    pub async fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

pub fn simple(s: &str) -> Frame {
    Frame::Simple(s.into())
}

pub fn err(s: &str) -> Frame {
    Frame::Error(s.into())
}

/// Path of a Redis tool, failing loudly when the test script did not install it.
pub fn redis_tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} not found: run the README's test command (it installs redis-server and redis-tools)");
}

/// A port nothing listens on now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real redis-server child process, killed on drop. Configured like our node: one
/// database, no persistence.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        Self::start_with(&[]).await
    }

    /// A redis-server with more command-line settings (e.g. `--dir`, which CONFIG SET
    /// cannot change).
    pub async fn start_with(extra: &[&str]) -> RedisServer {
        let bin = redis_tool("redis-server");
        // Its files (a replica's received snapshot) go to a directory of its own, not the
        // crate's, where a node of another test would load them.
        let own_dir = temp_dir("redis");
        let dir: &[&str] = if extra.contains(&"--dir") {
            &[]
        } else {
            &["--dir", own_dir.to_str().unwrap()]
        };
        for _attempt in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--databases",
                    "1",
                    "--daemonize",
                    "no",
                ])
                .args(dir)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut server = RedisServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(s) = TcpStream::connect(server.addr).await {
                    drop(s);
                    // Whoever answers must be this child: when another test's server took
                    // the port first, ours exits, but the connection above succeeded.
                    if server.answers_as_child().await {
                        return server;
                    }
                    break;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // port taken; try another
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = server.child.kill();
        }
        panic!("could not start redis-server");
    }

    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Whether the server at `addr` is this child process (INFO's `process_id`). A server
    /// started with a password cannot be asked before AUTH: it is taken as the child if
    /// the child is still running a moment later (one that lost the port exits at once).
    async fn answers_as_child(&mut self) -> bool {
        let mut c = self.client().await;
        match c.run("INFO server").await {
            Frame::Bulk(info) => {
                let pid = format!("process_id:{}", self.child.id());
                String::from_utf8_lossy(&info)
                    .lines()
                    .any(|l| l.trim_end() == pid)
            }
            Frame::Error(e) if e.starts_with("NOAUTH") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                matches!(self.child.try_wait(), Ok(None))
            }
            _ => false,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends the kind of every null in the RESP reply `wire` (one whole reply) to `out`, in
/// order: `$` (`$-1`), `*` (`*-1`) or `_`.
pub fn null_kinds(wire: &[u8], out: &mut String) {
    fn line(wire: &[u8], at: usize) -> (&[u8], usize) {
        let end = at + wire[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        (&wire[at + 1..end], end + 2)
    }
    fn walk(wire: &[u8], at: usize, out: &mut String) -> usize {
        let (head, next) = line(wire, at);
        let n = || std::str::from_utf8(head).unwrap().parse::<i64>().unwrap();
        match wire[at] {
            b'$' | b'=' | b'!' if n() >= 0 => next + n() as usize + 2,
            b'$' | b'*' if n() < 0 => {
                out.push(wire[at] as char);
                next
            }
            b'_' => {
                out.push('_');
                next
            }
            b'*' | b'~' | b'>' => (0..n()).fold(next, |p, _| walk(wire, p, out)),
            b'%' | b'|' => (0..2 * n()).fold(next, |p, _| walk(wire, p, out)),
            _ => next,
        }
    }
    let mut at = 0;
    while at < wire.len() {
        at = walk(wire, at, out);
    }
}

/// Sends `args` to both servers; `None` when the replies are equal, otherwise a report (for
/// long arrays, where they part).
pub fn show(f: &Frame) -> String {
    let text = format!("{f:?}");
    text.chars().take(300).collect()
}

pub async fn compare(
    ours: &mut RawClient,
    theirs: &mut RawClient,
    args: &[Vec<u8>],
) -> Option<String> {
    let (a, b) = (ours.cmd(args).await, theirs.cmd(args).await);
    (a != b || ours.nulls != theirs.nulls).then(|| {
        let detail = match (&a, &b) {
            (Frame::Array(x), Frame::Array(y)) => {
                let i = x
                    .iter()
                    .zip(y)
                    .position(|(p, q)| p != q)
                    .unwrap_or(x.len().min(y.len()));
                format!(
                    "\n  first difference at {i} of {}/{}: ours {:?} redis {:?}",
                    x.len(),
                    y.len(),
                    x.get(i),
                    y.get(i)
                )
            }
            _ => String::new(),
        };
        format!(
            "{:?}\n  ours:  {} (nulls {:?})\n  redis: {} (nulls {:?}){detail}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>(),
            show(&a),
            ours.nulls,
            show(&b),
            theirs.nulls
        )
    })
}

/// Splits a test line into arguments: words separated by spaces, or double-quoted strings
/// with `\n`, `\r`, `\t`, `\"` and `\\` escapes (scripts need spaces and new lines).
pub fn split_quoted(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return args;
        };
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => arg.push('\n'),
                        Some('r') => arg.push('\r'),
                        Some('t') => arg.push('\t'),
                        Some(other) => arg.push(other),
                        None => {}
                    },
                    c => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg.into_bytes());
    }
}

/// A fresh directory under the system's temporary directory, for snapshot files.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sc-test-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs every non-empty line of `cases` (split by `split`) on both servers, in RESP3 when
/// asked, and asserts that every reply is the same (listing every mismatch when not).
pub async fn assert_cases_match(
    node: &Node,
    redis: &RedisServer,
    cases: &str,
    split: fn(&str) -> Vec<Vec<u8>>,
    resp3: bool,
) {
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    if resp3 {
        ours.run("HELLO 3").await;
        theirs.run("HELLO 3").await;
    }
    let mut failures = Vec::new();
    for l in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(e) = compare(&mut ours, &mut theirs, &split(l)).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "resp3={resp3}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
