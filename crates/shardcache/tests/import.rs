//! `shardcache import` (real processes): a redis-server 7.0 with 200k keys warms a 3-node
//! `shardcache dev` cluster, live (SCAN + DUMP) and from its dump.rdb; every key lands on its
//! owner with its value and TTL; priority keys, --match, --replace and the summary.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, free_port, Dev, BIN};
use redis::Commands;

struct Redis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server with 200k strings (DEBUG POPULATE), a few hundred collections, TTLs.
fn populated_redis() -> Redis {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("import-src-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--enable-debug-command",
            "yes",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let redis = Redis { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(port, &["PING"]) != "PONG" {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cli(port, &["DEBUG", "POPULATE", "200000", "key"]), "OK");
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    for i in 0..200 {
        let _: () = c.hset(format!("h:{i}"), "f", i).unwrap();
        let _: () = c.rpush(format!("l:{i}"), &[1, 2, i]).unwrap();
        let _: () = c.sadd(format!("s:{i}"), &["a", "b"]).unwrap();
        let _: () = c.zadd(format!("z:{i}"), "m", i).unwrap();
        let _: () = c.pexpire(format!("key:{i}"), 3_600_000 + i).unwrap();
    }
    redis
}

fn import(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).arg("import").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Keys per node and every sampled key's value and TTL, through the cluster client.
fn check_cluster(dev: &Dev, source: u16, expected_keys: u64) {
    let total: u64 = dev
        .ports(3)
        .iter()
        .map(|p| cli(*p, &["DBSIZE"]).parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, expected_keys);
    let urls: Vec<String> = dev
        .ports(3)
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let mut ours = redis::cluster::ClusterClient::new(urls)
        .unwrap()
        .get_connection()
        .unwrap();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{source}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    for i in (0..200_000).step_by(997).chain(0..200) {
        let k = format!("key:{i}");
        let a: Option<String> = ours.get(&k).unwrap();
        let b: Option<String> = theirs.get(&k).unwrap();
        assert_eq!(a, b, "{k}");
        let (ta, tb): (i64, i64) = (ours.pttl(&k).unwrap(), theirs.pttl(&k).unwrap());
        assert_eq!(ta > 0, tb > 0, "{k}: ttl {ta} vs {tb}");
        assert!((ta - tb).abs() < 120_000, "{k}: ttl {ta} vs {tb}");
    }
    for i in (0..200).step_by(37) {
        let h: HashMap<String, String> = ours.hgetall(format!("h:{i}")).unwrap();
        assert_eq!(h["f"], i.to_string());
        let l: Vec<String> = ours.lrange(format!("l:{i}"), 0, -1).unwrap();
        assert_eq!(l, vec!["1".to_string(), "2".into(), i.to_string()]);
        let z: Option<f64> = ours.zscore(format!("z:{i}"), "m").unwrap();
        assert_eq!(z, Some(f64::from(i)));
    }
}

#[test]
fn a_live_redis_and_its_dump_warm_a_cluster() {
    let redis = populated_redis();
    let expected = 200_000 + 800;
    let dev = Dev::start(3);
    let to = format!("127.0.0.1:{}", dev.base);
    let source = format!("redis://127.0.0.1:{}", redis.port);
    let started = Instant::now();
    let (ok, out) = import(&[&source, "--to", &to]);
    let secs = started.elapsed().as_secs_f64();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("imported {expected} of {expected} keys")),
        "{out}"
    );
    assert!(out.contains("into 3 node(s)"), "{out}");
    eprintln!(
        "live import: {expected} keys in {secs:.1} s ({:.0} keys/s)\n{out}",
        expected as f64 / secs
    );
    check_cluster(&dev, redis.port, expected);

    // Again: every key exists now, nothing is overwritten without --replace.
    let (ok, out) = import(&[&source, "--to", &to, "--match", "h:*"]);
    assert!(ok, "{out}");
    assert!(out.contains("imported 0 of 200 keys"), "{out}");
    assert!(out.contains("200 already existed"), "{out}");

    // The dump.rdb of the same Redis, into a fresh cluster, priority keys first.
    assert_eq!(cli(redis.port, &["SAVE"]), "OK");
    let dump = redis.dir.join("dump.rdb");
    drop(dev);
    let dev = Dev::start(3);
    let to = format!("127.0.0.1:{}", dev.base);
    let priority = redis.dir.join("priority.txt");
    std::fs::write(&priority, "h:*\nkey:42\n").unwrap();
    let started = Instant::now();
    let (ok, out) = import(&[
        dump.to_str().unwrap(),
        "--to",
        &to,
        "--priority-keys",
        priority.to_str().unwrap(),
    ]);
    let secs = started.elapsed().as_secs_f64();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("imported {expected} of {expected} keys")),
        "{out}"
    );
    eprintln!(
        "file import: {expected} keys in {secs:.1} s ({:.0} keys/s)\n{out}",
        expected as f64 / secs
    );
    check_cluster(&dev, redis.port, expected);

    // --replace overwrites, --ttl-policy drop forgets TTLs.
    let (ok, out) = import(&[
        dump.to_str().unwrap(),
        "--to",
        &to,
        "--match",
        "key:1?",
        "--replace",
        "--ttl-policy",
        "drop",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("imported 10 of"), "{out}");
    assert_eq!(cli(dev.base, &["-c", "PTTL", "key:15"]), "-1");

    // A target that is not there: a clear error, exit status 2.
    let (ok, out) = import(&[dump.to_str().unwrap(), "--to", "127.0.0.1:1"]);
    assert!(!ok);
    assert!(out.contains("cannot reach 127.0.0.1:1"), "{out}");
}
