//! Helpers shared by the binary's test files.
#![allow(dead_code)]

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use std::time::Instant;

pub const BIN: &str = env!("CARGO_BIN_EXE_shardcache");

/// A port that was free a moment ago (for listeners whose port must be known up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `shardcache server --port 0 <args>` and learns the port it bound from its log (no
/// race between picking a free port and binding it). Stderr keeps being drained into the
/// returned buffer so the child never blocks on a full pipe.
pub fn spawn_on_free_port(args: &[&str]) -> (Child, u16, std::sync::Arc<std::sync::Mutex<String>>) {
    spawn_on_free_port_with(args, |_| {})
}

/// [`spawn_on_free_port`], with the command adjusted first (e.g. resource limits).
pub fn spawn_on_free_port_with(
    args: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> (Child, u16, std::sync::Arc<std::sync::Mutex<String>>) {
    use std::io::BufRead;
    let mut cmd = Command::new(BIN);
    cmd.args(["server", "--port", "0", "--loglevel", "info"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    adjust(&mut cmd);
    let mut child = cmd.spawn().expect("start shardcache");
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("Ready to accept connections") {
                let port = line.rsplit(':').next().and_then(|p| {
                    p.trim_matches(|c: char| !c.is_ascii_digit())
                        .parse::<u16>()
                        .ok()
                });
                let _ = tx.send(port);
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .ok()
        .flatten()
        .expect("node reports its port");
    (child, port, log)
}

/// A bare HTTP/1.1 request to 127.0.0.1:`port` (no client crate needed), as a script would
/// send it (with the `X-Shardcache-Admin` header writes need): (status, body).
pub fn http(method: &str, port: u16, path: &str) -> (u16, String) {
    http_raw(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nX-Shardcache-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// Sends `request` as it is to 127.0.0.1:`port`: (status, body).
pub fn http_raw(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("admin port");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A fresh, empty directory under the system's temp dir, named for this test process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `redis` crate connection to 127.0.0.1:`port`.
pub fn conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// A field of INFO persistence (empty when absent).
pub fn persistence_field(port: u16, field: &str) -> String {
    cli(port, &["INFO", "persistence"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `redis-cli -p <port> <args>`, its output trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (installed by the test script)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A base port whose node, bus (+10000) and admin (+1000) ports are free for `n` nodes.
pub fn free_base(n: u16) -> u16 {
    // Tests run in parallel: each call starts its search elsewhere.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let seed = (std::process::id() as u16)
        .wrapping_mul(7)
        .wrapping_add(call * 1009);
    for attempt in 0..200u16 {
        // Below 32768 with the bus ports (+10000) too: Linux hands out ephemeral ports from
        // 32768 up, so an outgoing connection cannot take a port between this check and the
        // node binding it.
        let base = 10000 + seed.wrapping_add(attempt * 37) % 9000;
        if (0..n).all(|i| free(base + i) && free(base + i + 10000) && free(base + i + 1000)) {
            return base;
        }
    }
    panic!("no free ports");
}

/// `shardcache dev`: stopped with SIGINT (as Ctrl-C) when dropped.
pub struct Dev {
    pub child: Child,
    pub base: u16,
}

impl Dev {
    pub fn start(nodes: u16) -> Dev {
        Dev::start_with(nodes, &[])
    }

    /// `shardcache dev --nodes N` with more options (its stdin is a pipe: [`Dev::enter`]).
    pub fn start_with(nodes: u16, options: &[&str]) -> Dev {
        let base = free_base(nodes + 1);
        let mut child = Command::new(BIN)
            .args([
                "dev",
                "--nodes",
                &nodes.to_string(),
                "--base-port",
                &base.to_string(),
            ])
            .args(["--threads", "1"])
            // No gRPC ports (base + 3000 + i): unchecked by free_base, they could collide
            // with a parallel test's ports; no test here uses them.
            .args(["--grpc-base-port", "0"])
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = String::new();
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("dev cluster never came up: {seen}"));
            seen += &line;
            seen.push('\n');
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
        assert!(
            seen.contains(&format!("a {nodes}-node cluster is up")),
            "{seen}"
        );
        assert!(
            seen.contains(&format!("admin http://127.0.0.1:{}", base + 1000)),
            "{seen}"
        );
        Dev { child, base }
    }

    pub fn ports(&self, n: u16) -> Vec<u16> {
        (0..n).map(|i| self.base + i).collect()
    }

    /// Presses Enter on dev's terminal (it restarts dead nodes).
    pub fn enter(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin piped");
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The pid of the node listening on `port`.
    pub fn node_pid(&self, port: u16) -> i32 {
        let out = Command::new("pgrep")
            .args(["-f", "--", &format!("--cluster-enabled --port {port} ")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no node on port {port}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let status = self.child.wait().unwrap();
        assert!(
            status.success() || std::thread::panicking(),
            "dev exited with {status}"
        );
    }
}
