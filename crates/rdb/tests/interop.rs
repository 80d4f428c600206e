//! Interop with a real redis-server (7.0, installed by the test script), both directions:
//! a dump.rdb that redis-server writes is read here with identical contents; a file written
//! here loads into redis-server with identical contents and passes `redis-check-rdb`; DUMP
//! payloads of each side RESTORE on the other. Every type, in its small and large encodings
//! (listpack, quicklist, intset, hashtable, skiplist), integer and LZF strings, and TTLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdb::read::{Item, Reader};
use rdb::write::Writer;
use rdb::{Entry, Value};
use redis::Commands;

struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path, dbfilename: &str) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", dir.to_str().unwrap(), "--dbfilename", dbfilename])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (installed by the test script)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) {
                if let Ok(mut c) = c.get_connection() {
                    // Loading answers -LOADING until done.
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdb-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// The dataset: every type in its small and large encodings.
fn dataset() -> Vec<Entry> {
    let mut v = Vec::new();
    let mut add = |key: &str, value: Value, ttl: bool| {
        let mut e = Entry::new(key, value);
        if ttl {
            e.expire_ms = Some(4_000_000_000_000);
        }
        v.push(e);
    };
    add("str:int8", Value::String(b("12")), false);
    add("str:int16", Value::String(b("-3000")), false);
    add("str:int32", Value::String(b("2000000000")), true);
    add("str:int64", Value::String(b("1234567890123")), false);
    add("str:notint", Value::String(b("007")), false);
    add("str:raw", Value::String(b("hello world")), false);
    add("str:empty", Value::String(vec![]), false);
    add("str:lzf", Value::String(b("abcdefgh").repeat(200)), true);
    add(
        "str:bin",
        Value::String((0..=255u8).chain(0..=255u8).rev().collect()),
        false,
    );
    add(
        "list:small",
        Value::List(vec![b("a"), b("1"), b("-7"), b(""), b("bb")].into()),
        false,
    );
    add(
        "list:big",
        Value::List((0..500).map(|i| format!("{i:0100}").into_bytes()).collect()),
        true,
    );
    add(
        "list:hugeitem",
        Value::List(vec![b("x").repeat(20_000), b("y")].into()),
        false,
    );
    add(
        "set:intset",
        Value::Set(vec![b("1"), b("-7"), b("300000"), b("5000000000")].into()),
        false,
    );
    add(
        "set:bigints",
        Value::Set((0..600).map(|i| i.to_string().into_bytes()).collect()),
        false,
    );
    add(
        "set:strings",
        Value::Set(vec![b("a"), b("b"), b("c")].into()),
        true,
    );
    add(
        "zset:small",
        Value::SortedSet(
            vec![
                (b("one"), 1.0),
                (b("half"), 0.5),
                (b("neg"), -2.25),
                (b("inf"), f64::INFINITY),
                (b("ninf"), f64::NEG_INFINITY),
                (b("big"), 1e300),
                (b("tiny"), 1e-300),
            ]
            .into(),
        ),
        false,
    );
    add(
        "zset:big",
        Value::SortedSet(
            (0..300)
                .map(|i| (format!("m{i}").into_bytes(), f64::from(i) / 7.0))
                .collect(),
        ),
        false,
    );
    add(
        "hash:small",
        Value::Hash(vec![(b("f"), b("v")), (b("n"), b("42")), (b("e"), vec![])].into()),
        true,
    );
    add(
        "hash:big",
        Value::Hash(
            (0..600)
                .map(|i| (format!("f{i}").into_bytes(), format!("v{i}").into_bytes()))
                .collect(),
        ),
        false,
    );
    add(
        "hash:longvalue",
        Value::Hash(vec![(b("f"), b("v").repeat(100))].into()),
        false,
    );
    v
}

/// Writes the dataset through redis commands.
fn load_into_redis(c: &mut redis::Connection, data: &[Entry]) {
    for e in data {
        let k = &e.key;
        match &e.value {
            Value::String(s) => {
                let _: () = c.set(k, s).unwrap();
            }
            Value::List(items) => {
                let _: () = c.rpush(k, items.to_vecs()).unwrap();
            }
            Value::Set(m) => {
                let _: () = c.sadd(k, m.to_vecs()).unwrap();
            }
            Value::SortedSet(p) => {
                let mut cmd = redis::cmd("ZADD");
                cmd.arg(k);
                for (m, s) in p.iter() {
                    cmd.arg(redis_score(s)).arg(m);
                }
                let _: () = cmd.query(c).unwrap();
            }
            Value::Hash(p) => {
                let _: () = c.hset_multiple(k, &p.to_vecs()).unwrap();
            }
            Value::Stream(_) => unreachable!("the dataset holds no streams"),
        }
        if let Some(ms) = e.expire_ms {
            let _: () = redis::cmd("PEXPIREAT").arg(k).arg(ms).query(c).unwrap();
        }
    }
}

fn redis_score(s: f64) -> String {
    if s == f64::INFINITY {
        "+inf".into()
    } else if s == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{s:e}")
    }
}

/// Reads a key's value back through redis commands.
fn read_from_redis(c: &mut redis::Connection, key: &[u8]) -> Value {
    let t: String = redis::cmd("TYPE").arg(key).query(c).unwrap();
    match t.as_str() {
        "string" => Value::String(c.get(key).unwrap()),
        "list" => Value::List(c.lrange::<_, Vec<Vec<u8>>>(key, 0, -1).unwrap().into()),
        "set" => Value::Set(c.smembers::<_, Vec<Vec<u8>>>(key).unwrap().into()),
        "zset" => {
            let raw: Vec<(Vec<u8>, String)> = c.zrange_withscores(key, 0, -1).unwrap();
            Value::SortedSet(
                raw.into_iter()
                    .map(|(m, s)| (m, rdb::read::parse_score(s.as_bytes()).unwrap()))
                    .collect(),
            )
        }
        "hash" => Value::Hash(c.hgetall::<_, Vec<(Vec<u8>, Vec<u8>)>>(key).unwrap().into()),
        other => panic!("unexpected type {other}"),
    }
}

/// A file's entries by key, and its auxiliary fields.
type FileContents = (BTreeMap<Vec<u8>, Entry>, Vec<(Vec<u8>, Vec<u8>)>);

fn read_file(path: &Path) -> FileContents {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut entries = BTreeMap::new();
    let mut aux = Vec::new();
    for item in Reader::new(file).unwrap() {
        match item.unwrap() {
            Item::Entry(e) => {
                entries.insert(e.key.clone(), e);
            }
            Item::Aux(k, v) => aux.push((k, v)),
            Item::SizeHint { .. } | Item::Function(_) => {}
            Item::Skipped { what, key } => panic!("skipped {what} {key:?}"),
        }
    }
    (entries, aux)
}

#[test]
fn a_dump_written_by_redis_reads_with_identical_contents() {
    let dir = temp_dir("from-redis");
    let redis = Redis::start(&dir, "dump.rdb");
    let mut c = redis.conn();
    let data = dataset();
    load_into_redis(&mut c, &data);
    // The encodings Redis chose, so the test covers what it claims to.
    let enc = |k: &str, c: &mut redis::Connection| -> String {
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(k)
            .query(c)
            .unwrap()
    };
    assert_eq!(enc("set:intset", &mut c), "intset");
    assert_eq!(enc("set:bigints", &mut c), "hashtable");
    assert_eq!(enc("zset:small", &mut c), "listpack");
    assert_eq!(enc("zset:big", &mut c), "skiplist");
    assert_eq!(enc("hash:small", &mut c), "listpack");
    assert_eq!(enc("hash:big", &mut c), "hashtable");
    assert_eq!(enc("list:big", &mut c), "quicklist");
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let (got, aux) = read_file(&redis.dir.join("dump.rdb"));
    assert!(aux.iter().any(|(k, _)| k == b"redis-ver"), "{aux:?}");
    assert_eq!(got.len(), data.len());
    for want in &data {
        let e = &got[&want.key];
        assert_eq!(
            e.value.normalized(),
            want.value.normalized(),
            "{}",
            String::from_utf8_lossy(&want.key)
        );
        assert_eq!(e.expire_ms, want.expire_ms, "{:?}", want.key);
    }
}

#[test]
fn a_dump_written_here_loads_into_redis_and_passes_its_checker() {
    let dir = temp_dir("to-redis");
    let data = dataset();
    let file = std::fs::File::create(dir.join("ours.rdb")).unwrap();
    let mut w = Writer::new(file, &[("redis-ver", "7.0.15"), ("redis-bits", "64")]).unwrap();
    let expires = data.iter().filter(|e| e.expire_ms.is_some()).count() as u64;
    w.select_db(0, data.len() as u64, expires).unwrap();
    for e in &data {
        w.entry(e).unwrap();
    }
    w.finish().unwrap();
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("ours.rdb"))
        .output()
        .expect("redis-check-rdb");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("RDB looks OK"), "{text}");
    // Our reader agrees with itself too.
    let (ours, _) = read_file(&dir.join("ours.rdb"));
    assert_eq!(ours.len(), data.len());
    let redis = Redis::start(&dir, "ours.rdb");
    let mut c = redis.conn();
    let keys: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(keys, data.len());
    for want in &data {
        let got = read_from_redis(&mut c, &want.key);
        assert_eq!(
            got.normalized(),
            want.value.normalized(),
            "{}",
            String::from_utf8_lossy(&want.key)
        );
        let pttl: i64 = c.pttl(&want.key).unwrap();
        assert_eq!(
            pttl > 0,
            want.expire_ms.is_some(),
            "{:?} pttl {pttl}",
            want.key
        );
    }
}

#[test]
fn dump_payloads_restore_in_both_directions() {
    let dir = temp_dir("payloads");
    let redis = Redis::start(&dir, "dump.rdb");
    let mut c = redis.conn();
    let data = dataset();
    load_into_redis(&mut c, &data);
    for e in &data {
        // Theirs, decoded here.
        let payload: Vec<u8> = redis::cmd("DUMP").arg(&e.key).query(&mut c).unwrap();
        let value = rdb::dump::decode(&payload).unwrap();
        assert_eq!(value.normalized(), e.value.normalized(), "{:?}", e.key);
        // Ours, restored there.
        let mut copy = b"copy:".to_vec();
        copy.extend_from_slice(&e.key);
        let ours = rdb::dump::encode(&e.value);
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&ours)
            .query(&mut c)
            .unwrap();
        assert_eq!(
            read_from_redis(&mut c, &copy).normalized(),
            e.value.normalized(),
            "{:?}",
            e.key
        );
    }
    // A payload with a flipped byte: Redis and we refuse it alike.
    let mut bad = rdb::dump::encode(&Value::String(b("hello")));
    bad[2] ^= 0x40;
    let err = redis::cmd("RESTORE")
        .arg("bad")
        .arg(0)
        .arg(&bad)
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains(rdb::dump::BAD_PAYLOAD), "{err}");
    assert_eq!(
        rdb::dump::decode(&bad).unwrap_err().to_string(),
        rdb::dump::BAD_PAYLOAD
    );
}
