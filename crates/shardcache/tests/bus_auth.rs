//! The cluster bus of a password-protected cluster is authenticated (real processes): the
//! members form a cluster as usual, while forged bus frames — a `Leave` for a member, a
//! `Join` for a rogue node — are dropped and logged, and a node without the secret cannot
//! join.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{cli, spawn_on_free_port};

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn acli(port: u16, args: &[&str]) -> String {
    let mut all = vec!["-a", "pw", "--no-auth-warning"];
    all.extend_from_slice(args);
    cli(port, &all)
}

fn known_nodes(port: u16) -> usize {
    let info = acli(port, &["CLUSTER", "INFO"]);
    if !info.contains("cluster_state:ok") {
        return 0;
    }
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_known_nodes:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The bus port of the node at `port`, from its own CLUSTER NODES line.
fn bus_port(port: u16) -> u16 {
    let nodes = acli(port, &["CLUSTER", "NODES"]);
    let me = nodes.lines().find(|l| l.contains("myself")).unwrap();
    let addr = me.split_whitespace().nth(1).unwrap();
    addr.split_once('@').unwrap().1.parse().unwrap()
}

/// Sends one frame as the bus spoke it before authentication (length + JSON) and returns
/// what came back before the node closed the connection.
fn forge(bus: u16, json: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", bus)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut frame = (json.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(json.as_bytes());
    frame.resize(frame.len().max(64), b' ');
    s.write_all(&frame).unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn forged_bus_frames_are_dropped_and_a_node_without_the_secret_cannot_join() {
    let base = ["--cluster-enabled", "--threads", "1", "--requirepass", "pw"];
    let (mut a, pa, log_a) = spawn_on_free_port(&base);
    eventually("bootstrapped", Duration::from_secs(10), || {
        known_nodes(pa) == 1
    });
    let join = format!("127.0.0.1:{pa}");
    let with_join: Vec<&str> = base.iter().copied().chain(["--join", &join]).collect();
    let (mut b, pb, _) = spawn_on_free_port(&with_join);
    let (mut c, pc, _) = spawn_on_free_port(&with_join);
    eventually("three members", Duration::from_secs(20), || {
        [pa, pb, pc].iter().all(|p| known_nodes(*p) == 3)
    });
    let b_id = acli(pb, &["CLUSTER", "MYID"]);
    let bus_a = bus_port(pa);

    // A forged Leave for b and a forged Join for a rogue node, straight to a's bus.
    let leave = format!(r#"{{"Leave":{{"id":"{b_id}"}}}}"#);
    let back = forge(bus_a, &leave);
    assert_eq!(back.len(), 8 + 1 + 32, "only the challenge came back");
    let rogue = r#"{"Join":{"id":"feedfacefeedfacefeedfacefeedfacefeedface","host":"127.0.0.1","port":1,"bus_port":2}}"#;
    forge(bus_a, rogue);
    std::thread::sleep(Duration::from_millis(500));
    for p in [pa, pb, pc] {
        assert_eq!(known_nodes(p), 3, "membership unchanged");
    }
    eventually("the refusal is logged", Duration::from_secs(5), || {
        log_a.lock().unwrap().contains("cluster bus: peer refused")
    });

    // A node started without the password (so without the derived secret) asks to join:
    // the members cannot talk to its bus, so it is refused and nothing changes.
    let (mut rogue, pr, rogue_log) = spawn_on_free_port(&["--cluster-enabled", "--standby"]);
    let meet = acli(
        pa,
        &[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            &pr.to_string(),
            &logged_bus_port(&rogue_log).to_string(),
        ],
    );
    assert!(meet.contains("cannot reach"), "{meet}");
    assert_eq!(known_nodes(pa), 3);

    // With an explicit --cluster-secret that differs, likewise.
    let (mut other, po, other_log) = spawn_on_free_port(&[
        "--cluster-enabled",
        "--standby",
        "--requirepass",
        "pw",
        "--cluster-secret",
        "not-the-same",
    ]);
    let meet = acli(
        pa,
        &[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            &po.to_string(),
            &logged_bus_port(&other_log).to_string(),
        ],
    );
    assert!(meet.contains("cannot reach"), "{meet}");
    assert_eq!(known_nodes(pa), 3);

    for child in [&mut a, &mut b, &mut c, &mut rogue, &mut other] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The bus port a node logged at start (a standby node has no CLUSTER NODES line yet).
fn logged_bus_port(log: &std::sync::Mutex<String>) -> u16 {
    let log = log.lock().unwrap();
    let at = log.find("bus_port=").expect("bus port logged") + "bus_port=".len();
    log[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
