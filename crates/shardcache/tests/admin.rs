//! The node's admin HTTP port cannot wipe or starve the node (real processes): clear needs
//! an explicit pattern (query, form or JSON body; `*` needs `confirm=all`), foreign `Host`s
//! and browser-simple cross-site writes are refused, and 5,000 half-open admin connections
//! against a node at `ulimit -n 4096` leave Redis clients served (maxclients sized to the
//! descriptor limit, the admin listener on its own small budget).

mod common;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{cli, free_port, http, http_raw, spawn_on_free_port, spawn_on_free_port_with};

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn post(admin: u16, path: &str, headers: &str, body: &str) -> (u16, String) {
    http_raw(
        admin,
        &format!(
            "POST {path} HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn dbsize(port: u16) -> u64 {
    cli(port, &["DBSIZE"]).parse().unwrap()
}

#[test]
fn clear_needs_a_pattern_and_the_admin_port_refuses_foreign_hosts_and_cross_site_writes() {
    let admin = free_port();
    let (mut node, port, _) =
        spawn_on_free_port(&["--threads", "1", "--admin-port", &admin.to_string()]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = client.get_connection().unwrap();
    for i in 0..100 {
        let _: () = redis::cmd("MSET")
            .arg(format!("a:{i}"))
            .arg(1)
            .arg(format!("b:{i}"))
            .arg(1)
            .arg(format!("c:{i}"))
            .arg(1)
            .query(&mut c)
            .unwrap();
    }
    let ok = "Host: localhost\r\nX-Shardcache-Admin: 1\r\n";
    // No pattern at all: refused, nothing cleared.
    let (status, body) = post(admin, "/api/cache/clear", ok, "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("pattern is required"), "{body}");
    // A pattern in a form body is honoured (it used to be ignored and clear everything).
    let form = format!("{ok}Content-Type: application/x-www-form-urlencoded\r\n");
    let (status, body) = post(admin, "/api/cache/clear", &form, "pattern=a:*");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cleared\":100"), "{body}");
    assert_eq!(dbsize(port), 200);
    // ... and in a JSON body.
    let json = "Host: 127.0.0.1\r\nContent-Type: application/json\r\n";
    let (status, body) = post(admin, "/api/cache/clear", json, r#"{"pattern":"b:*"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(dbsize(port), 100);
    // Everything needs confirm=all.
    let (status, _) = post(admin, "/api/cache/clear?pattern=*", ok, "");
    assert_eq!(status, 400);
    assert_eq!(dbsize(port), 100);
    // A browser-simple cross-site form post (no admin header, form content type).
    let simple = "Host: localhost\r\nOrigin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    let (status, _) = post(admin, "/api/cache/clear", simple, "pattern=*&confirm=all");
    assert_eq!(status, 403);
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    let rebound = "Host: evil.example:80\r\nX-Shardcache-Admin: 1\r\n";
    let (status, _) = post(admin, "/api/cache/clear?pattern=*&confirm=all", rebound, "");
    assert_eq!(status, 403);
    let (status, _) = http_raw(
        admin,
        "GET /api/cache/stats HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);
    // An absolute URI naming another host.
    let (status, _) = http_raw(
        admin,
        "GET http://evil.example/api/cache/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);
    assert_eq!(dbsize(port), 100);
    // Probes answer whatever the Host.
    let (status, _) = http_raw(
        admin,
        "GET /health HTTP/1.1\r\nHost: kubelet.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    // The deliberate, confirmed clear of everything works.
    let (status, body) = http("POST", admin, "/api/cache/clear?pattern=*&confirm=all");
    assert_eq!(status, 200, "{body}");
    assert_eq!(dbsize(port), 0);
    let _ = node.kill();
    let _ = node.wait();
}

#[test]
fn half_open_admin_connections_do_not_lock_out_redis_clients() {
    let admin = free_port();
    let (mut node, port, log) = spawn_on_free_port_with(
        &["--threads", "1", "--admin-port", &admin.to_string()],
        |cmd| {
            // SAFETY: setrlimit in the child before exec; async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    let l = libc::rlimit {
                        rlim_cur: 4096,
                        rlim_max: 4096,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    assert!(log.lock().unwrap().contains("maxclients has been reduced"));
    let info = cli(port, &["INFO", "clients"]);
    assert!(info.contains("maxclients:3999"), "{info}");
    // 5,000 connections to the admin port that never send a byte.
    let mut half_open = Vec::new();
    for _ in 0..5000 {
        match std::net::TcpStream::connect(("127.0.0.1", admin)) {
            Ok(s) => half_open.push(s),
            Err(e) => panic!("connect {}: {e}", half_open.len()),
        }
    }
    // Redis clients are still served, a hundred at once.
    let mut clients = Vec::new();
    for i in 0..100 {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut c = client.get_connection().unwrap();
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
        clients.push(c);
    }
    assert_eq!(cli(port, &["DBSIZE"]), "100");
    assert!(!log.lock().unwrap().contains("Too many open files"));
    // The admin connections that were let in time out; the admin port serves again.
    eventually("admin serves again", Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", admin)).is_ok_and(|mut s| {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text.starts_with("HTTP/1.1 200")
        })
    });
    drop(half_open);
    let _ = node.kill();
    let _ = node.wait();
}
