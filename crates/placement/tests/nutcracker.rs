//! Placement equality with the real twemproxy: the same keys through `nutcracker` (0.5, the
//! Debian package) and through our [`Ring`] must land on the same backend, for every hash
//! function, both deterministic distributions, weights, aliases and hash tags.
//!
//! Four redis-servers are the backends; one nutcracker serves one pool per configuration.
//! For each pool the backends are flushed, 1,200 keys are written through nutcracker, and
//! each backend's KEYS tells where twemproxy put them.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use placement::{Distribution, HashKind, Ring, ServerSpec};

fn tool(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!(
        "{name} not found: run the README's test command (it installs redis-server and nutcracker)"
    );
}

/// `n` distinct free ports (the listeners are held until all are chosen).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn free_port() -> u16 {
    free_ports(1)[0]
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis_server() -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(tool("redis-server"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--databases", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    wait_port(port);
    (Proc(child), port)
}

/// One pool: its settings and the servers' (weight, alias).
struct Pool {
    hash: HashKind,
    dist: Distribution,
    tag: Option<&'static str>,
    servers: Vec<(u32, Option<&'static str>)>,
}

fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..800).map(|i| format!("key:{i}").into_bytes()).collect();
    keys.extend((0..150).map(|i| format!("user:{{{}}}:field{i}", i % 40).into_bytes()));
    keys.extend((0..100).map(|i| format!("[t{}]x{i}", i % 7).into_bytes()));
    keys.extend((0..50).map(|i| format!("{{}}empty-tag-{i}").into_bytes()));
    // Bytes >= 0x80 exercise twemproxy's signed-char arithmetic.
    keys.extend((0..100u32).map(|i| {
        vec![
            b'k',
            0x80 + (i % 128) as u8,
            0xff - (i % 50) as u8,
            b'a' + (i % 26) as u8,
            i as u8,
        ]
    }));
    keys
}

/// Pipelines `SET key 1` for every key through the proxy and checks every reply is +OK.
fn set_through_proxy(port: u16, keys: &[Vec<u8>]) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut wire = Vec::new();
    for k in keys {
        wire.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n", k.len()).as_bytes());
        wire.extend_from_slice(k);
        wire.extend_from_slice(b"\r\n$1\r\n1\r\n");
    }
    s.write_all(&wire).unwrap();
    let want = b"+OK\r\n".repeat(keys.len());
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn placement_matches_nutcracker() {
    let backends: Vec<(Proc, u16)> = (0..4).map(|_| redis_server()).collect();
    let mut pools: Vec<Pool> = HashKind::ALL
        .into_iter()
        .map(|hash| Pool {
            hash,
            dist: Distribution::Ketama,
            tag: None,
            servers: vec![(1, None), (1, None), (1, None)],
        })
        .collect();
    pools.push(Pool {
        hash: HashKind::Fnv1a64,
        dist: Distribution::Ketama,
        tag: Some("{}"),
        servers: vec![
            (1, Some("alpha")),
            (2, Some("beta")),
            (3, Some("gamma")),
            (1, Some("delta")),
        ],
    });
    pools.push(Pool {
        hash: HashKind::Md5,
        dist: Distribution::Ketama,
        tag: Some("[]"),
        servers: vec![(5, None), (1, None), (1, Some("third")), (2, None)],
    });
    pools.push(Pool {
        hash: HashKind::Fnv1a64,
        dist: Distribution::Modula,
        tag: None,
        servers: vec![(1, None), (2, None), (1, None)],
    });
    pools.push(Pool {
        hash: HashKind::Murmur,
        dist: Distribution::Modula,
        tag: Some("{}"),
        servers: vec![(3, None), (1, None), (1, None), (2, None)],
    });

    let ports = free_ports(pools.len() + 1);
    let mut yaml = String::new();
    for (i, (pool, port)) in pools.iter().zip(&ports).enumerate() {
        yaml += &format!(
            "pool{i}:\n  listen: 127.0.0.1:{port}\n  hash: {}\n",
            pool.hash.name()
        );
        yaml += &format!(
            "  distribution: {}\n  redis: true\n  timeout: 2000\n",
            match pool.dist {
                Distribution::Ketama => "ketama",
                Distribution::Modula => "modula",
                Distribution::Random => "random",
            }
        );
        if let Some(tag) = pool.tag {
            yaml += &format!("  hash_tag: \"{tag}\"\n");
        }
        yaml += "  servers:\n";
        for (j, (weight, alias)) in pool.servers.iter().enumerate() {
            let port = backends[j].1;
            yaml += &format!(
                "   - 127.0.0.1:{port}:{weight}{}\n",
                alias.map(|a| format!(" {a}")).unwrap_or_default()
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("sc-nutcracker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nutcracker.yml");
    std::fs::write(&conf, &yaml).unwrap();
    let check = Command::new(tool("nutcracker"))
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nutcracker rejects the config: {}\n{yaml}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _twemproxy = Proc(
        Command::new(tool("nutcracker"))
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(ports[pools.len()].to_string())
            .arg("-o")
            .arg(dir.join("nutcracker.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nutcracker"),
    );
    for p in &ports {
        wait_port(*p);
    }

    let keys = keys();
    let mut backend_cons: Vec<redis::Connection> = backends
        .iter()
        .map(|(_, port)| {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap()
        })
        .collect();
    for (i, (pool, port)) in pools.iter().zip(&ports).enumerate() {
        for c in backend_cons.iter_mut() {
            let _: () = redis::cmd("FLUSHALL").query(c).unwrap();
        }
        // A raw connection: twemproxy refuses the CLIENT SETINFO client libraries send.
        set_through_proxy(*port, &keys);
        let mut twemproxy_placed = std::collections::HashMap::new();
        for (b, c) in backend_cons.iter_mut().enumerate() {
            let found: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
            for k in found {
                twemproxy_placed.insert(k, b);
            }
        }
        assert_eq!(
            twemproxy_placed.len(),
            keys.len(),
            "pool{i}: every key landed once"
        );

        let specs: Vec<ServerSpec> = pool
            .servers
            .iter()
            .enumerate()
            .map(|(j, (w, alias))| ServerSpec::new("127.0.0.1", backends[j].1, *w, *alias))
            .collect();
        let tag = pool.tag.map(|t| [t.as_bytes()[0], t.as_bytes()[1]]);
        let ring = Ring::new(&specs, &[], pool.dist, pool.hash, tag);
        let mismatched: Vec<String> = keys
            .iter()
            .filter(|k| ring.pick(k) != Some(twemproxy_placed[*k]))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .take(5)
            .collect();
        assert!(
            mismatched.is_empty(),
            "pool{i} ({} {:?} tag {:?}): keys placed differently from twemproxy, e.g. {mismatched:?}",
            pool.hash.name(),
            pool.dist,
            pool.tag
        );
    }
}
