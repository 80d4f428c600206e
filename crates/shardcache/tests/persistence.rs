//! Snapshots (real processes): SAVE and a warm restart with every type and TTLs; BGSAVE under
//! a transfer workload yields a snapshot equal to the keyspace at one instant (the sum of
//! the counters is constant); a failed save is reported and changes nothing; a corrupt file
//! is refused at start with its offset; SHUTDOWN SAVE.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cli, conn, spawn_on_free_port, BIN};
use redis::Commands;

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("persist-{name}"))
}

fn info_field(port: u16, field: &str) -> String {
    common::persistence_field(port, field)
}

fn stop(child: &mut std::process::Child) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
}

fn start(dir: &Path) -> (std::process::Child, u16) {
    let (child, port, _) = spawn_on_free_port(&["--threads", "2", "--dir", dir.to_str().unwrap()]);
    (child, port)
}

/// Waits until the node has loaded its snapshot (commands answer -LOADING until then).
fn loaded(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(port, "loading") != "0" {
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn save_and_warm_restart_keep_every_key_and_ttl() {
    let dir = temp_dir("warm");
    let (mut node, port) = start(&dir);
    let mut c = conn(port);
    let mut pipe = redis::pipe();
    for i in 0..100_000 {
        pipe.set(format!("k:{i}"), format!("value-{i}")).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("a")
        .arg(1)
        .arg("b")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let _: () = c.rpush("l", &["x", "y", "z"]).unwrap();
    let _: () = c.sadd("s", &[1, 2, 3]).unwrap();
    let _: () = c.zadd("z", "m", 2.5).unwrap();
    let _: () = c.set_ex("ttl", "v", 1000).unwrap();
    assert_ne!(info_field(port, "rdb_changes_since_last_save"), "0");
    let before: i64 = cli(port, &["LASTSAVE"]).parse().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    assert_eq!(cli(port, &["SAVE"]), "OK");
    eprintln!("SAVE of 100,005 keys: {:?}", started.elapsed());
    assert!(cli(port, &["LASTSAVE"]).parse::<i64>().unwrap() > before);
    assert_eq!(info_field(port, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(port, "rdb_last_bgsave_status"), "ok");
    // Redis's own checker accepts the node's file.
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("RDB looks OK"));
    stop(&mut node);

    let (mut node, port) = start(&dir);
    loaded(port);
    let mut c = conn(port);
    assert_eq!(cli(port, &["DBSIZE"]), "100005");
    let v: String = c.get("k:77777").unwrap();
    assert_eq!(v, "value-77777");
    let h: HashMap<String, String> = c.hgetall("h").unwrap();
    assert_eq!(h["b"], "2");
    let l: Vec<String> = c.lrange("l", 0, -1).unwrap();
    assert_eq!(l, vec!["x", "y", "z"]);
    assert_eq!(cli(port, &["OBJECT", "ENCODING", "s"]), "intset");
    let z: f64 = c.zscore("z", "m").unwrap();
    assert_eq!(z, 2.5);
    let ttl: i64 = c.ttl("ttl").unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");

    // SHUTDOWN SAVE writes what changed since.
    let _: () = c.set("after", "restart").unwrap();
    let _ = cli(port, &["SHUTDOWN", "SAVE"]);
    let _ = node.wait();
    let (mut node, port) = start(&dir);
    loaded(port);
    assert_eq!(cli(port, &["GET", "after"]), "restart");
    stop(&mut node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Transfers between 100 counters run in MULTI/EXEC on four connections while BGSAVE runs
/// five times: every snapshot sums to the same total, so each is the keyspace at one instant.
#[test]
fn bgsave_under_writes_is_a_point_in_time_snapshot() {
    let dir = temp_dir("bgsave");
    let (mut node, port) = start(&dir);
    let mut c = conn(port);
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.set(format!("acct:{i}"), 1000).ignore();
    }
    for i in 0..50_000 {
        pipe.set(format!("filler:{i}"), "x".repeat(50)).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop_flag = stop_flag.clone();
            std::thread::spawn(move || {
                let mut c = conn(port);
                let mut n = 0u64;
                while !stop_flag.load(Ordering::Relaxed) {
                    let (a, b) = ((n * 7 + w) % 100, (n * 13 + 3 * w + 1) % 100);
                    let amount = (n % 9 + 1) as i64;
                    let _: () = redis::pipe()
                        .atomic()
                        .decr(format!("acct:{a}"), amount)
                        .incr(format!("acct:{b}"), amount)
                        .query(&mut c)
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 0..5 {
        assert_eq!(cli(port, &["BGSAVE"]), "Background saving started");
        let deadline = Instant::now() + Duration::from_secs(30);
        std::thread::sleep(Duration::from_millis(20));
        while info_field(port, "rdb_bgsave_in_progress") != "0" {
            assert!(Instant::now() < deadline, "BGSAVE never finished");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(info_field(port, "rdb_last_bgsave_status"), "ok");
        let (sum, keys) = sum_of_accounts(&dir.join("dump.rdb"));
        assert_eq!(keys, 50_100, "round {round}");
        assert_eq!(
            sum, 100_000,
            "round {round}: the snapshot mixes two instants"
        );
    }
    stop_flag.store(true, Ordering::Relaxed);
    let transfers: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    eprintln!("{transfers} transfers ran during 5 BGSAVEs");
    assert!(transfers > 100);
    stop(&mut node);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sum_of_accounts(path: &Path) -> (i64, usize) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let (mut sum, mut keys) = (0, 0);
    for item in rdb::read::Reader::new(file).unwrap() {
        if let rdb::read::Item::Entry(e) = item.unwrap() {
            keys += 1;
            if e.key.starts_with(b"acct:") {
                let rdb::Value::String(v) = e.value else {
                    panic!()
                };
                sum += String::from_utf8(v).unwrap().parse::<i64>().unwrap();
            }
        }
    }
    (sum, keys)
}

#[test]
fn a_failed_save_is_reported_and_a_corrupt_file_refused_at_start() {
    let dir = temp_dir("faults");
    let (mut node, port) = start(&dir);
    assert_eq!(cli(port, &["SET", "k", "v"]), "OK");
    assert_eq!(cli(port, &["SAVE"]), "OK");
    let good = std::fs::read(dir.join("dump.rdb")).unwrap();
    // A directory where no file can be created: the save fails, the node serves on, the
    // previous file is untouched.
    assert_eq!(cli(port, &["CONFIG", "SET", "dir", "/proc"]), "OK");
    assert_eq!(cli(port, &["BGSAVE"]), "Background saving started");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(port, "rdb_last_bgsave_status") != "err" {
        assert!(Instant::now() < deadline, "the failure was not reported");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cli(port, &["SAVE"]).starts_with("ERR"));
    assert_eq!(cli(port, &["GET", "k"]), "v");
    assert_eq!(
        cli(port, &["CONFIG", "SET", "dir", "/nonexistent/x"]),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory"
    );
    assert_eq!(std::fs::read(dir.join("dump.rdb")).unwrap(), good);
    stop(&mut node);
    // A flipped byte: the node refuses to start and says where.
    let mut bad = good.clone();
    let at = bad.len() - 3;
    bad[at] ^= 0xff;
    std::fs::write(dir.join("dump.rdb"), &bad).unwrap();
    let out = Command::new(BIN)
        .args(["server", "--port", "0", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrong checksum") && err.contains("offset"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--save "1 5"`: five writes and a second later the node saves by itself; CONFIG SET save
/// changes the schedule ("" turns it off) and refuses nonsense as Redis does.
#[test]
fn save_points_trigger_background_saves() {
    let dir = temp_dir("schedule");
    let (mut node, port, _) = spawn_on_free_port(&[
        "--threads",
        "1",
        "--dir",
        dir.to_str().unwrap(),
        "--save",
        "1 5",
    ]);
    assert_eq!(cli(port, &["CONFIG", "GET", "save"]), "save\n1 5");
    for i in 0..5 {
        assert_eq!(cli(port, &["SET", &format!("k{i}"), "v"]), "OK");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("dump.rdb").exists() || info_field(port, "rdb_changes_since_last_save") != "0" {
        assert!(Instant::now() < deadline, "no automatic save");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        cli(port, &["CONFIG", "SET", "save", "60"]),
        "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"
    );
    assert_eq!(cli(port, &["CONFIG", "SET", "save", ""]), "OK");
    let saved = std::fs::metadata(dir.join("dump.rdb"))
        .unwrap()
        .modified()
        .unwrap();
    for i in 0..20 {
        cli(port, &["SET", &format!("more{i}"), "v"]);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        std::fs::metadata(dir.join("dump.rdb"))
            .unwrap()
            .modified()
            .unwrap(),
        saved,
        "no save without save points"
    );
    stop(&mut node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// While a large snapshot loads, the port is open and commands get Redis's -LOADING (INFO,
/// which Redis allows while loading, says `loading:1`); then the data is there.
#[test]
fn clients_get_loading_while_the_snapshot_loads() {
    let dir = temp_dir("loading");
    let (mut node, port) = start(&dir);
    let mut c = conn(port);
    for chunk in 0..10 {
        let mut pipe = redis::pipe();
        for i in 0..50_000 {
            pipe.set(format!("k:{chunk}:{i}"), i).ignore();
        }
        pipe.query::<()>(&mut c).unwrap();
    }
    assert_eq!(cli(port, &["SAVE"]), "OK");
    stop(&mut node);
    let (mut node, port) = start(&dir);
    let (mut loading_seen, mut info_seen) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = cli(port, &["GET", "k:9:49999"]);
        if reply == "49999" {
            break;
        }
        assert!(
            reply.starts_with("LOADING Redis is loading the dataset in memory"),
            "{reply}"
        );
        loading_seen = true;
        info_seen |= info_field(port, "loading") == "1";
        assert!(Instant::now() < deadline, "never loaded");
    }
    assert!(loading_seen, "the load finished before the first command");
    assert!(info_seen);
    assert_eq!(cli(port, &["DBSIZE"]), "500000");
    assert_eq!(info_field(port, "rdb_last_load_keys_loaded"), "500000");
    stop(&mut node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cluster member on fixed ports (a restarted member must come back where the topology
/// says it is), its state and snapshot in `dir`.
fn start_member(port: u16, dir: &Path, join: Option<u16>) -> std::process::Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["server", "--cluster-enabled", "--threads", "1"])
        .args(["--port", &port.to_string(), "--loglevel", "warning"])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(j) = join {
        cmd.args(["--join", &format!("127.0.0.1:{j}")]);
    }
    cmd.spawn().expect("start a member")
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cluster_ok(port: u16, nodes: usize) -> bool {
    let info = cli(port, &["CLUSTER", "INFO"]);
    info.contains("cluster_state:ok")
        && info.contains(&format!("cluster_known_nodes:{nodes}"))
        && info.contains("cluster_slots_moving:0")
}

/// A cluster member restarts with its keys when the cluster did not change while it was
/// down; when slots moved meanwhile (a node joined), it discards its snapshot rather than
/// risk serving values that were overwritten elsewhere. Fault: a member stopped and
/// restarted (SIGTERM), once with a membership change in between.
#[test]
fn a_cluster_member_restarts_with_its_keys_unless_the_cluster_changed() {
    let base = common::free_base(4);
    let ports: Vec<u16> = (0..4).map(|i| base + i).collect();
    let dirs: Vec<PathBuf> = (0..4).map(|i| temp_dir(&format!("member{i}"))).collect();
    let mut a = start_member(ports[0], &dirs[0], None);
    eventually("a bootstraps", || cluster_ok(ports[0], 1));
    let mut b = start_member(ports[1], &dirs[1], Some(ports[0]));
    let mut c = start_member(ports[2], &dirs[2], Some(ports[0]));
    eventually("three members", || {
        ports[..3].iter().all(|p| cluster_ok(*p, 3))
    });
    let urls: Vec<String> = ports[..3]
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut con = client.get_connection().unwrap();
    const KEYS: usize = 3000;
    for i in 0..KEYS {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    let _: () = con.hset("{h}hash", "f", "v").unwrap();
    let _: () = con.set_ex("{t}ttl", "v", 1000).unwrap();
    let on_b: usize = cli(ports[1], &["DBSIZE"]).parse().unwrap();
    assert!(on_b > KEYS / 5, "b holds {on_b} keys");
    assert_eq!(cli(ports[1], &["SAVE"]), "OK");
    stop(&mut b);

    // Restart with the cluster unchanged: the keys are back, on the same slots.
    let mut b = start_member(ports[1], &dirs[1], None);
    eventually("b serves again", || {
        cluster_ok(ports[1], 3) && info_field(ports[1], "loading") == "0"
    });
    assert_eq!(cli(ports[1], &["DBSIZE"]), on_b.to_string());
    let mut con = client.get_connection().unwrap();
    for i in 0..KEYS {
        let v: Option<usize> = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, Some(i), "key:{i}");
    }
    let v: Option<String> = con.hget("{h}hash", "f").unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let ttl: i64 = con.ttl("{t}ttl").unwrap();
    assert!((900..=1000).contains(&ttl), "{ttl}");
    // Per-slot counts agree with the keys the node holds.
    let slot: u16 = cli(ports[1], &["CLUSTER", "KEYSLOT", "key:1"])
        .parse()
        .unwrap();
    let count = cli(ports[1], &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]);
    let listed = cli(
        ports[1],
        &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "100"],
    );
    assert_eq!(listed.lines().count().to_string(), count);

    // Saved, stopped, and a fourth member joins while b is down: slots are planned to move
    // (the epoch changes; b's moves wait for b), so b's snapshot may be stale and is
    // discarded.
    assert_eq!(cli(ports[1], &["SAVE"]), "OK");
    stop(&mut b);
    let mut d = start_member(ports[3], &dirs[3], Some(ports[0]));
    eventually("d joined", || {
        cli(ports[3], &["CLUSTER", "INFO"]).contains("cluster_known_nodes:4")
    });
    let mut b = start_member(ports[1], &dirs[1], None);
    eventually("b serves again", || {
        cluster_ok(ports[1], 4) && info_field(ports[1], "loading") == "0"
    });
    assert_eq!(cli(ports[1], &["DBSIZE"]), "0");
    for child in [&mut a, &mut b, &mut c, &mut d] {
        stop(child);
    }
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}
