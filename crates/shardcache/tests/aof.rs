//! The append-only file (real processes; faults injected: `kill -9` mid-write, a file cut
//! in half a command, a full disk). Acknowledged writes survive a crash under `appendfsync
//! always`, also across rewrites made while writing; a real redis-server loads the directory
//! we write and we load the one it writes (same DEBUG DIGEST); a truncated file is cut back
//! or refused as `aof-load-truncated` says; a full disk refuses writes with `-MISCONF` and
//! loses nothing acknowledged; CONFIG SET appendonly switches the file on and off at runtime;
//! a replica keeps the file across its full sync.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cli, conn, free_port, spawn_on_free_port, BIN};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("aof-{name}"))
}

fn info_field(port: u16, field: &str) -> String {
    common::persistence_field(port, field)
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn loaded(port: u16) {
    eventually("the load", || info_field(port, "loading") == "0");
}

fn rewritten(port: u16) {
    eventually("the rewrite", || {
        info_field(port, "aof_rewrite_in_progress") == "0"
            && info_field(port, "aof_rewrite_scheduled") == "0"
    });
}

fn signal(child: &mut std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
    let _ = child.wait();
}

fn start(dir: &Path, extra: &[&str]) -> (std::process::Child, u16) {
    let mut args = vec!["--threads", "2", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (child, port, _) = spawn_on_free_port(&args);
    loaded(port);
    (child, port)
}

/// A dataset of every type, with TTLs and a function library.
fn fill(port: u16) {
    let mut c = conn(port);
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("s:{i}")).arg(i).ignore();
        pipe.cmd("RPUSH").arg("list").arg(i).ignore();
        pipe.cmd("SADD").arg("set").arg(i * 7).ignore();
        pipe.cmd("ZADD")
            .arg("zset")
            .arg(i as f64 / 3.0)
            .arg(i)
            .ignore();
        pipe.cmd("HSET")
            .arg("hash")
            .arg(i)
            .arg(format!("v{i}"))
            .ignore();
    }
    pipe.cmd("SET")
        .arg("ttl")
        .arg("x")
        .arg("EX")
        .arg(1000)
        .ignore();
    pipe.cmd("PEXPIRE").arg("hash").arg(900_000).ignore();
    pipe.cmd("SETBIT").arg("bits").arg(1000).arg(1).ignore();
    pipe.cmd("PFADD")
        .arg("hll")
        .arg("a")
        .arg("b")
        .arg("c")
        .ignore();
    // A stream with a tombstone, a consumer group, pending entries and an idle consumer.
    for i in 1..=50 {
        pipe.cmd("XADD")
            .arg("stream")
            .arg(format!("{i}-1"))
            .arg("f")
            .arg(i)
            .ignore();
    }
    pipe.cmd("XDEL").arg("stream").arg("3-1").ignore();
    pipe.cmd("XGROUP")
        .arg("CREATE")
        .arg("stream")
        .arg("g")
        .arg("0")
        .ignore();
    pipe.cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("alice")
        .arg("COUNT")
        .arg(5)
        .arg("STREAMS")
        .arg("stream")
        .arg(">")
        .ignore();
    pipe.cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg("stream")
        .arg("g")
        .arg("bob")
        .ignore();
    pipe.cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=lib\nredis.register_function('one', function() return 1 end)")
        .ignore();
    pipe.query::<()>(&mut c).unwrap();
}

#[test]
fn acknowledged_writes_survive_kill_9_with_appendfsync_always_across_rewrites() {
    let dir = temp_dir("crash");
    let (mut node, port) = start(&dir, &["--appendonly", "yes", "--appendfsync", "always"]);
    fill(port);
    // Two writers: each INCRs its counter and RPUSHes the value it got; the last value
    // acknowledged is recorded after the reply.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Vec<Arc<AtomicI64>> = (0..2).map(|_| Arc::new(AtomicI64::new(0))).collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, acked) = (stop.clone(), acked[w].clone());
            std::thread::spawn(move || {
                let mut c = conn(port);
                while !stop.load(Ordering::Relaxed) {
                    let n: Result<i64, _> = redis::cmd("INCR").arg(format!("n{w}")).query(&mut c);
                    let Ok(n) = n else { return };
                    let pushed: Result<i64, _> = redis::cmd("RPUSH")
                        .arg(format!("seq{w}"))
                        .arg(n)
                        .query(&mut c);
                    if pushed.is_err() {
                        return;
                    }
                    acked.store(n, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Rewrites while the writes go on: each cuts a new base and INCR file.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        let reply = cli(port, &["BGREWRITEAOF"]);
        assert!(
            reply.starts_with("Background append only file rewriting"),
            "{reply}"
        );
        rewritten(port);
    }
    std::thread::sleep(Duration::from_millis(300));
    let acked_before = acked
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .collect::<Vec<_>>();
    signal(&mut node, libc::SIGKILL);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let last: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert!(last.iter().all(|&n| n > 50), "too few writes: {last:?}");
    assert!(last.iter().zip(&acked_before).all(|(a, b)| a >= b));
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert!(manifest.contains("appendonly.aof.4.base.rdb"), "{manifest}");

    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    let mut c = conn(port);
    for (w, &acked) in last.iter().enumerate() {
        let n: i64 = redis::cmd("GET")
            .arg(format!("n{w}"))
            .query(&mut c)
            .unwrap();
        let seq: Vec<i64> = redis::cmd("LRANGE")
            .arg(format!("seq{w}"))
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .unwrap();
        // Every acknowledged write is there (one more may have landed unacknowledged), in
        // order, each once.
        assert!(
            n >= acked && n <= acked + 1,
            "n{w}: {n} after {acked} acknowledged"
        );
        assert!(seq.len() as i64 >= acked, "seq{w}: {} < {acked}", seq.len());
        assert!(seq.iter().enumerate().all(|(i, &v)| v == i as i64 + 1));
    }
    let llen: i64 = redis::cmd("LLEN").arg("list").query(&mut c).unwrap();
    assert_eq!(llen, 2000);
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query(&mut c).unwrap();
    assert!(ttl > 900 && ttl <= 1000, "{ttl}");
    let one: i64 = redis::cmd("FCALL").arg("one").arg(0).query(&mut c).unwrap();
    assert_eq!(one, 1);
    signal(&mut node, libc::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "yes",
            ])
            .args([
                "--enable-debug-command",
                "yes",
                "--dir",
                dir.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by the test script)");
        eventually("redis-server", || cli(port, &["PING"]) == "PONG");
        eventually("redis-server's load", || info_field(port, "loading") == "0");
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The differential test: the same directory read by both servers gives the same data
/// (DEBUG DIGEST, which both compute the same way), whichever wrote it, with an RDB base or
/// a commands base (`aof-use-rdb-preamble no`).
#[test]
fn redis_loads_the_directory_we_write_and_we_load_the_one_redis_writes() {
    for preamble in ["yes", "no"] {
        let dir = temp_dir(&format!("interop-{preamble}"));
        let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
        assert_eq!(
            cli(port, &["CONFIG", "SET", "aof-use-rdb-preamble", preamble]),
            "OK"
        );
        // Our INCR files with `#TS:` annotations, which Redis's loader passes over.
        assert_eq!(
            cli(port, &["CONFIG", "SET", "aof-timestamp-enabled", "yes"]),
            "OK"
        );
        fill(port);
        assert_eq!(
            cli(port, &["BGREWRITEAOF"]),
            "Background append only file rewriting started"
        );
        rewritten(port);
        // After the rewrite: changes in the new INCR file.
        cli(port, &["DEL", "s:1"]);
        cli(port, &["LPOP", "list"]);
        cli(port, &["SET", "after", "rewrite", "PX", "500000"]);
        let ours = cli(port, &["DEBUG", "DIGEST"]);
        let pending = cli(port, &["XPENDING", "stream", "g"]);
        let groups = cli(port, &["XINFO", "GROUPS", "stream"]);
        signal(&mut node, libc::SIGTERM);

        let redis = Redis::start(&dir);
        assert_eq!(
            cli(redis.port, &["DEBUG", "DIGEST"]),
            ours,
            "preamble {preamble}"
        );
        assert_eq!(cli(redis.port, &["XPENDING", "stream", "g"]), pending);
        assert_eq!(cli(redis.port, &["XINFO", "GROUPS", "stream"]), groups);
        assert_eq!(cli(redis.port, &["FCALL", "one", "0"]), "1");
        // Redis writes on: its rewrite, its INCR file.
        assert_eq!(
            cli(
                redis.port,
                &["CONFIG", "SET", "aof-use-rdb-preamble", preamble]
            ),
            "OK"
        );
        // With timestamp annotations (`#TS:...` lines), which a loader passes over.
        assert_eq!(
            cli(
                redis.port,
                &["CONFIG", "SET", "aof-timestamp-enabled", "yes"]
            ),
            "OK"
        );
        cli(redis.port, &["SET", "by", "redis"]);
        cli(redis.port, &["BGREWRITEAOF"]);
        eventually("redis's rewrite", || {
            info_field(redis.port, "aof_rewrite_in_progress") == "0"
        });
        std::thread::sleep(Duration::from_millis(1100));
        cli(redis.port, &["HSET", "hash", "new", "field"]);
        cli(redis.port, &["ZINCRBY", "zset", "2.5", "7"]);
        let theirs = cli(redis.port, &["DEBUG", "DIGEST"]);
        assert_ne!(theirs, ours);
        assert_eq!(cli(redis.port, &["SHUTDOWN"]), "");
        drop(redis);

        let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
        assert_eq!(
            cli(port, &["DEBUG", "DIGEST"]),
            theirs,
            "preamble {preamble}"
        );
        assert_eq!(cli(port, &["GET", "by"]), "redis");
        signal(&mut node, libc::SIGTERM);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_truncated_file_is_cut_back_or_refused_as_aof_load_truncated_says() {
    let dir = temp_dir("truncated");
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["SET", "a", "1"]), "OK");
    assert_eq!(cli(port, &["SET", "b", "2"]), "OK");
    signal(&mut node, libc::SIGTERM);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let whole = std::fs::read(&incr).unwrap();
    // A crash mid-write: half a command at the end.
    let mut cut = whole.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nab");
    std::fs::write(&incr, &cut).unwrap();

    let config = dir.join("strict.toml");
    std::fs::write(&config, "aof-load-truncated = \"no\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["server", "--port", "0", "--appendonly", "yes"])
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unexpected end of file"), "{err}");
    assert_eq!(
        std::fs::read(&incr).unwrap(),
        cut,
        "refused: the file is left alone"
    );

    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["MGET", "a", "b"]), "1\n2");
    assert_eq!(cli(port, &["EXISTS", "c"]), "0");
    assert_eq!(
        std::fs::read(&incr).unwrap(),
        whole,
        "cut back to the last whole command"
    );
    assert_eq!(cli(port, &["SET", "c", "3"]), "OK");
    signal(&mut node, libc::SIGTERM);

    // A transaction never committed (MULTI without EXEC at the end) is cut off too.
    let mut open = std::fs::read(&incr).unwrap();
    let before = open.len();
    open.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n");
    std::fs::write(&incr, &open).unwrap();
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["GET", "c"]), "3");
    assert_eq!(cli(port, &["EXISTS", "d"]), "0");
    assert_eq!(std::fs::metadata(&incr).unwrap().len() as usize, before);
    // Not a command at all: refused whatever the setting.
    signal(&mut node, libc::SIGTERM);
    let mut bad = std::fs::read(&incr).unwrap();
    bad.extend_from_slice(b"garbage\r\n");
    std::fs::write(&incr, &bad).unwrap();
    let out = Command::new(BIN)
        .args(["server", "--port", "0", "--appendonly", "yes"])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad file format"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node restarted with `--appendonly yes` over a snapshot and no file yet starts with
/// the snapshot's data, which becomes the file's first base (Redis would start empty).
#[test]
fn switching_appendonly_on_in_the_configuration_keeps_the_snapshot() {
    let dir = temp_dir("from-snapshot");
    let (mut node, port) = start(&dir, &[]);
    fill(port);
    let digest = cli(port, &["DEBUG", "DIGEST"]);
    assert_eq!(cli(port, &["SAVE"]), "OK");
    signal(&mut node, libc::SIGTERM);
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["DEBUG", "DIGEST"]), digest);
    cli(port, &["SET", "after", "1"]);
    let digest = cli(port, &["DEBUG", "DIGEST"]);
    signal(&mut node, libc::SIGKILL);
    // The file alone holds it now.
    std::fs::remove_file(dir.join("dump.rdb")).unwrap();
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["DEBUG", "DIGEST"]), digest);
    signal(&mut node, libc::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_set_appendonly_switches_the_file_on_and_off_at_runtime() {
    let dir = temp_dir("runtime");
    let (mut node, port) = start(&dir, &[]);
    fill(port);
    assert_eq!(info_field(port, "aof_enabled"), "0");
    assert_eq!(cli(port, &["CONFIG", "SET", "appendonly", "yes"]), "OK");
    rewritten(port);
    assert_eq!(info_field(port, "aof_enabled"), "1");
    assert_eq!(info_field(port, "aof_rewrites"), "1");
    cli(port, &["SET", "later", "1"]);
    let digest = cli(port, &["DEBUG", "DIGEST"]);
    // DEBUG LOADAOF: the file read back gives the same data.
    assert_eq!(cli(port, &["DEBUG", "LOADAOF"]), "OK");
    assert_eq!(cli(port, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(cli(port, &["CONFIG", "SET", "appendonly", "no"]), "OK");
    assert_eq!(info_field(port, "aof_enabled"), "0");
    cli(port, &["SET", "not-in-the-file", "1"]);
    signal(&mut node, libc::SIGKILL);
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(cli(port, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(cli(port, &["EXISTS", "not-in-the-file"]), "0");
    // Errors as Redis words them.
    assert_eq!(
        cli(port, &["CONFIG", "SET", "appendfsync", "sometimes"]),
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no"
    );
    assert_eq!(
        cli(port, &["CONFIG", "SET", "appendonly", "maybe"]),
        "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
    );
    signal(&mut node, libc::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A replica keeps the file too: its full sync replaces the data (the file is rewritten
/// from the new data), then the primary's stream is appended; killed and restarted on its
/// own, it has the primary's data.
#[test]
fn a_replica_with_the_file_restarts_with_its_primarys_data() {
    let (pdir, rdir) = (temp_dir("primary"), temp_dir("replica"));
    let (mut primary, pport) = start(&pdir, &[]);
    let (mut replica, rport) = start(&rdir, &["--appendonly", "yes"]);
    // The replica's own data before it follows: the full sync replaces it.
    assert_eq!(cli(rport, &["SET", "mine", "gone"]), "OK");
    fill(pport);
    assert_eq!(
        cli(rport, &["REPLICAOF", "127.0.0.1", &pport.to_string()]),
        "OK"
    );
    let synced = || {
        cli(rport, &["INFO", "replication"]).contains("master_link_status:up")
            && cli(rport, &["DEBUG", "DIGEST"]) == cli(pport, &["DEBUG", "DIGEST"])
    };
    eventually("the full sync", synced);
    // The file was rewritten from the synced data (a new base and INCR file).
    eventually("the rewrite after the sync", || {
        info_field(rport, "aof_rewrites") == "1"
    });
    rewritten(rport);
    let manifest =
        std::fs::read_to_string(rdir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert!(manifest.contains("appendonly.aof.2.base.rdb"), "{manifest}");
    // The stream after the sync.
    cli(pport, &["SET", "later", "1"]);
    cli(pport, &["LPOP", "list"]);
    cli(pport, &["HDEL", "hash", "7"]);
    eventually("the stream", synced);
    let digest = cli(pport, &["DEBUG", "DIGEST"]);
    std::thread::sleep(Duration::from_millis(300));
    signal(&mut replica, libc::SIGKILL);
    let (mut replica, rport) = start(&rdir, &["--appendonly", "yes"]);
    assert_eq!(cli(rport, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(cli(rport, &["EXISTS", "mine"]), "0");
    signal(&mut replica, libc::SIGTERM);
    signal(&mut primary, libc::SIGTERM);
    let _ = std::fs::remove_dir_all(&pdir);
    let _ = std::fs::remove_dir_all(&rdir);
}

/// A full disk (the node's file-size limit, `RLIMIT_FSIZE`, reached): writes are refused
/// with Redis's `-MISCONF` and INFO says `aof_last_write_status:err`; once there is room
/// again the kept bytes are written, writes are accepted, and after a `kill -9` every
/// acknowledged write is there.
#[test]
fn a_full_disk_refuses_writes_with_misconf_and_loses_nothing_acknowledged() {
    use std::os::unix::process::CommandExt;
    let dir = temp_dir("full");
    let limit: libc::rlim_t = 256 * 1024;
    let (mut node, port, _) = common::spawn_on_free_port_with(
        &[
            "--threads",
            "2",
            "--dir",
            dir.to_str().unwrap(),
            "--appendonly",
            "yes",
        ],
        |cmd| {
            // SAFETY: async-signal-safe calls only, between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let l = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    libc::setrlimit(libc::RLIMIT_FSIZE, &l);
                    Ok(())
                });
            }
        },
    );
    loaded(port);
    let mut c = conn(port);
    let value = "v".repeat(1000);
    let mut acked = 0;
    let refusal = loop {
        assert!(acked < 2000, "the limit was never reached");
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("k{acked}"))
            .arg(&value)
            .query(&mut c);
        match r {
            Ok(()) => acked += 1,
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        refusal.contains("MISCONF") && refusal.contains("AOF"),
        "{refusal}"
    );
    assert_eq!(info_field(port, "aof_last_write_status"), "err");
    // Reads go on.
    assert_eq!(cli(port, &["GET", "k0"]), value);
    // Room again.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit(2) on our own child, with a valid struct.
    let r = unsafe {
        libc::prlimit(
            node.id() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0);
    eventually("the write to succeed again", || {
        info_field(port, "aof_last_write_status") == "ok"
    });
    assert_eq!(cli(port, &["SET", "after", "1"]), "OK");
    signal(&mut node, libc::SIGKILL);
    let (mut node, port) = start(&dir, &["--appendonly", "yes"]);
    let mut c = conn(port);
    for i in 0..acked {
        let v: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(v.as_deref(), Some(value.as_str()), "k{i} of {acked}");
    }
    assert_eq!(cli(port, &["GET", "after"]), "1");
    signal(&mut node, libc::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}
