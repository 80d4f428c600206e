//! The real binary: configuration, signals, and redis-cli against it.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, spawn_on_free_port, BIN};

fn redis_cli() -> String {
    for p in ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("redis-cli not found: run the README's test command (it installs redis-tools)");
}

struct Running {
    child: Child,
    port: u16,
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl Running {
    /// Starts the binary on a port it picks itself (`--port 0`).
    fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        assert!(env.is_empty(), "use start_expecting for environment tests");
        let (child, port, log) = spawn_on_free_port(args);
        Running {
            child,
            port,
            log: Some(log),
        }
    }

    /// Starts the binary with exactly `args`, expecting it to listen on `port`.
    fn start_expecting(port: u16, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(BIN);
        cmd.arg("server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start shardcache");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "node did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Running {
            child,
            port,
            log: None,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(redis_cli())
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN)
        .args(["server", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--port",
        "--bind",
        "--admin-port",
        "--maxmemory",
        "--maxmemory-policy",
        "--requirepass",
        "--maxclients",
        "--timeout",
        "--config",
        "--client-query-buffer-limit",
        "--client-output-buffer-limit",
        "--proto-max-bulk-len",
        "--loglevel",
        "--busy-poll-us",
    ] {
        assert!(text.contains(opt), "--help lacks {opt}:\n{text}");
    }
}

#[test]
fn bad_configuration_is_refused_with_a_message() {
    let out = Command::new(BIN)
        .args(["server", "--maxmemory", "lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a memory value"));
    let dir = std::env::temp_dir().join(format!("sc-bad-{}", std::process::id()));
    std::fs::write(&dir, "maxmemory-policy = \"sometimes\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["server", "--config", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown maxmemory-policy"));
}

#[test]
fn config_file_environment_and_flags_in_that_precedence() {
    let port = free_port();
    let file = std::env::temp_dir().join(format!("sc-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!("port = {port}\nmaxmemory = \"64mb\"\nmaxclients = 77\ntimeout = 5\n"),
    )
    .unwrap();
    let node = Running::start_expecting(
        port,
        &["--config", file.to_str().unwrap(), "--timeout", "9"],
        &[("SHARDCACHE_MAXCLIENTS", "88")],
    );
    assert_eq!(
        node.cli(&["config", "get", "maxmemory"]),
        format!("maxmemory\n{}", 64 << 20)
    );
    assert_eq!(
        node.cli(&["config", "get", "maxclients"]),
        "maxclients\n88",
        "env beats file"
    );
    assert_eq!(
        node.cli(&["config", "get", "timeout"]),
        "timeout\n9",
        "flag beats file"
    );
}

/// CONFIG REWRITE writes what CONFIG SET changed into the TOML file the node started with
/// (comments and untouched lines kept), and a restart from the file has those values;
/// Redis parameters beyond the start-up options are read from the file too.
#[test]
fn config_rewrite_writes_the_file_back_and_a_restart_reads_it() {
    let port = free_port();
    let file = std::env::temp_dir().join(format!("sc-rewrite-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!("# kept\nport = {port}\nmaxmemory = \"64mb\" # cap\nlist-max-listpack-size = -2\n"),
    )
    .unwrap();
    let args = ["--config", file.to_str().unwrap()];
    let mut node = Running::start_expecting(port, &args, &[]);
    for (name, value) in [
        ("maxmemory", "32mb"),
        ("hash-max-listpack-entries", "17"),
        ("notify-keyspace-events", "KEA"),
        ("list-max-listpack-size", "5"),
    ] {
        assert_eq!(node.cli(&["config", "set", name, value]), "OK", "{name}");
    }
    assert_eq!(node.cli(&["config", "rewrite"]), "OK");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(&format!(
            "# kept\nport = {port}\nmaxmemory = {} # cap\nlist-max-listpack-size = 5\n",
            32 << 20
        )),
        "{text}"
    );
    assert!(text.contains("hash-max-listpack-entries = 17"), "{text}");
    assert!(
        !text.contains("maxclients"),
        "defaults are not added: {text}"
    );
    node.signal(libc::SIGTERM);
    assert!(node.wait_exit().success());
    let node = Running::start_expecting(port, &args, &[]);
    assert_eq!(
        node.cli(&["config", "get", "maxmemory"]),
        format!("maxmemory\n{}", 32 << 20)
    );
    assert_eq!(
        node.cli(&["config", "get", "hash-max-listpack-entries"]),
        "hash-max-listpack-entries\n17"
    );
    assert_eq!(
        node.cli(&["config", "get", "list-max-listpack-size"]),
        "list-max-listpack-size\n5"
    );
    assert_eq!(
        node.cli(&["config", "get", "notify-keyspace-events"]),
        "notify-keyspace-events\nAKE"
    );
    // The notifications read from the file are on: a write is announced.
    let mut sub = std::process::Command::new(redis_cli())
        .args(["-p", &port.to_string(), "subscribe", "__keyevent@0__:set"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(node.cli(&["set", "k", "v"]), "OK");
    std::thread::sleep(Duration::from_millis(300));
    let _ = sub.kill();
    let mut seen = String::new();
    sub.stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    let _ = sub.wait();
    assert!(seen.contains("__keyevent@0__:set\nk"), "{seen}");
    let _ = std::fs::remove_file(&file);
}

/// Without a configuration file CONFIG REWRITE answers Redis's error.
#[test]
fn config_rewrite_without_a_file_is_refused() {
    let node = Running::start(&[], &[]);
    assert_eq!(
        node.cli(&["config", "rewrite"]),
        "ERR The server is running without a config file"
    );
}

#[test]
fn sigterm_and_sigint_exit_cleanly() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut node = Running::start(&[], &[]);
        assert_eq!(node.cli(&["set", "k", "v"]), "OK");
        node.signal(sig);
        let status = node.wait_exit();
        assert!(
            status.success(),
            "exit status {status:?} after signal {sig}"
        );
    }
}

#[test]
fn busy_polling_workers_serve_and_stop() {
    let mut node = Running::start(&["--busy-poll-us", "50", "--threads", "2"], &[]);
    for i in 0..20 {
        assert_eq!(node.cli(&["set", &format!("k{i}"), "v"]), "OK");
    }
    assert_eq!(node.cli(&["dbsize"]), "20");
    node.signal(libc::SIGTERM);
    assert!(node.wait_exit().success());
}

#[test]
fn shutdown_command_exits_zero() {
    let mut node = Running::start(&[], &[]);
    node.cli(&["shutdown"]);
    assert!(node.wait_exit().success());
}

#[test]
fn redis_cli_interactive_style_session() {
    let node = Running::start(&[], &[]);
    assert_eq!(node.cli(&["ping"]), "PONG");
    assert_eq!(node.cli(&["set", "greeting", "hello world"]), "OK");
    assert_eq!(node.cli(&["get", "greeting"]), "hello world");
    assert_eq!(node.cli(&["incrby", "n", "41"]), "41");
    assert_eq!(node.cli(&["incr", "n"]), "42");
    assert_eq!(node.cli(&["--no-raw", "get", "missing"]), "(nil)");
    assert_eq!(node.cli(&["--no-raw", "ttl", "greeting"]), "(integer) -1");
    assert!(node.cli(&["info", "server"]).contains("redis_version:"));
    assert!(node
        .cli(&["nosuchcmd"])
        .contains("ERR unknown command 'nosuchcmd'"));
    // A script piped to redis-cli, as a person at the prompt would type it.
    let mut child = Command::new(redis_cli())
        .args(["-p", &node.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"set a 1\nincr a\nmget a greeting\nexpire a 100\nttl a\nkeys *\n")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..6],
        &["OK", "2", "2", "hello world", "1", "100"],
        "{out}"
    );
}

#[test]
fn redis_cli_pipe_mass_insertion() {
    let node = Running::start(&[], &[]);
    let mut proto = Vec::new();
    for i in 0..50_000 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        proto.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    let mut child = Command::new(redis_cli())
        .args(["-p", &node.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&proto).unwrap();
    let mut report = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_to_string(&mut report)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{report}");
    assert!(report.contains("errors: 0, replies: 50000"), "{report}");
    assert_eq!(node.cli(&["dbsize"]), "50000");
    assert_eq!(node.cli(&["get", "key:49999"]), "value:49999");
}

#[test]
fn logs_go_to_stderr_with_the_chosen_level() {
    let mut node = Running::start(&[], &[]);
    node.signal(libc::SIGTERM);
    node.wait_exit();
    std::thread::sleep(Duration::from_millis(200));
    let log = node.log.as_ref().unwrap().lock().unwrap().clone();
    assert!(
        log.lines()
            .any(|l| l.contains("Ready to accept connections")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("SIGTERM received")), "{log}");
}
