//! No split brain after a pause (real processes). A member is frozen with SIGSTOP, removed
//! from the cluster by the others, its slots are written through their new owners, then it
//! is resumed with SETs for those slots already waiting in its socket and more arriving for
//! another 1.5 s. Fault injected: SIGSTOP/SIGCONT of one process (the Raft leader, or a
//! follower that owns slots). Invariant: the old owner acknowledges **zero** of those writes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{cli, spawn_on_free_port, BIN};
use redis::Commands;

struct Member {
    child: Child,
    port: u16,
    id: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Member {
    fn start(join: Option<u16>) -> Member {
        let join = join.map(|p| format!("127.0.0.1:{p}"));
        let mut args = vec!["--cluster-enabled", "--threads", "1"];
        if let Some(j) = &join {
            args.extend(["--join", j.as_str()]);
        }
        let (child, port, log) = spawn_on_free_port(&args);
        let id = cli(port, &["CLUSTER", "MYID"]);
        assert_eq!(id.len(), 40, "{id}");
        Member {
            child,
            port,
            id,
            log,
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn info_field(port: u16, field: &str) -> Option<String> {
    let info = cli(port, &["CLUSTER", "INFO"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn cluster_ok(port: u16, nodes: usize) -> bool {
    info_field(port, "cluster_state").as_deref() == Some("ok")
        && info_field(port, "cluster_known_nodes") == Some(nodes.to_string())
        && info_field(port, "cluster_slots_moving").as_deref() == Some("0")
}

/// Three members, all agreeing and serving.
fn form() -> Vec<Member> {
    let first = Member::start(None);
    eventually("bootstrapped", Duration::from_secs(10), || {
        cluster_ok(first.port, 1)
    });
    let mut members = vec![first];
    for _ in 0..2 {
        let m = Member::start(Some(members[0].port));
        members.push(m);
        let n = members.len();
        eventually("member joined", Duration::from_secs(20), || {
            members.iter().all(|m| cluster_ok(m.port, n))
        });
    }
    members
}

/// The Raft leader's node id, as every live member reports it.
fn leader(members: &[Member]) -> String {
    let mut leader = None;
    eventually("one leader", Duration::from_secs(10), || {
        let seen: Vec<_> = members
            .iter()
            .map(|m| info_field(m.port, "cluster_raft_leader"))
            .collect();
        leader = seen[0].clone();
        leader.is_some() && seen.iter().all(|s| *s == leader)
    });
    leader.unwrap()
}

/// `n` keys whose slots `owner` serves, per CLUSTER NODES as `asked` reports it.
fn keys_of(asked: u16, owner: &str, n: usize) -> Vec<String> {
    let nodes = cli(asked, &["CLUSTER", "NODES"]);
    let line = nodes
        .lines()
        .find(|l| l.starts_with(owner))
        .unwrap_or_else(|| panic!("{owner} not in {nodes}"));
    let ranges: Vec<(u16, u16)> = line
        .split_whitespace()
        .skip(8)
        .map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert!(!ranges.is_empty(), "{owner} owns no slot: {line}");
    (0..)
        .map(|i| format!("sb:{i}"))
        .filter(|k| {
            let s = placement::slot::key_slot(k.as_bytes());
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&s))
        })
        .take(n)
        .collect()
}

fn set_command(key: &str, value: &str) -> Vec<u8> {
    format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    )
    .into_bytes()
}

/// `shardcache cluster remove-node id --from <port>`: the first member asked forwards it
/// to the (frozen) leader, which does not answer until a successor is elected; the command
/// is given a second chance as an operator would.
fn remove(id: &str, via: u16) {
    let mut out = String::new();
    for _ in 0..2 {
        let o = Command::new(BIN)
            .args(["cluster", "remove-node", id, "--from"])
            .arg(format!("127.0.0.1:{via}"))
            .output()
            .unwrap();
        if o.status.success() {
            return;
        }
        out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    }
    panic!("remove-node: {out}");
}

/// One round of the scenario: freezes `members[victim]`, removes it through the others,
/// writes its keys through their new owners, resumes it with writes for those keys queued
/// and more arriving; returns how many of those writes it acknowledged with +OK.
fn pause_remove_resume(members: &mut Vec<Member>, victim: usize) -> usize {
    let v = members.remove(victim);
    let keys = keys_of(members[0].port, &v.id, 100);
    // Connected before the pause: what is written now waits in the frozen node's socket.
    let mut conn = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    v.signal(libc::SIGSTOP);
    remove(&v.id, members[0].port);
    eventually("the others agree it left", Duration::from_secs(20), || {
        members.iter().all(|m| cluster_ok(m.port, 2))
    });
    // The new owners serve the moved slots (the first write waits out the grace).
    let urls: Vec<String> = members
        .iter()
        .map(|m| format!("redis://127.0.0.1:{}/", m.port))
        .collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut c = client.get_connection().unwrap();
    for k in &keys {
        let _: () = c.set(k, "new").unwrap();
    }
    // Writes for the lost slots already wait in the frozen node's socket when it resumes.
    let mut queued = Vec::new();
    for k in &keys {
        queued.extend(set_command(k, "old"));
    }
    conn.write_all(&queued).unwrap();
    v.signal(libc::SIGCONT);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut acked = 0;
    let mut replies = Vec::new();
    let mut read_reply = |reader: &mut BufReader<TcpStream>| {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("+OK") {
            acked += 1;
        }
        if replies.len() < 3 {
            replies.push(line.trim().to_string());
        }
    };
    for _ in &keys {
        read_reply(&mut reader);
    }
    // And more keep arriving for a while after it resumed.
    let until = Instant::now() + Duration::from_millis(1500);
    let mut i = 0;
    while Instant::now() < until {
        conn.write_all(&set_command(&keys[i % keys.len()], "old"))
            .unwrap();
        read_reply(&mut reader);
        i += 1;
    }
    // The new owners still hold what they were given.
    for k in keys.iter().take(10) {
        let value: String = c.get(k).unwrap();
        assert_eq!(value, "new", "{k}");
    }
    eprintln!(
        "paused {} (port {}): {} writes sent after removal, {acked} acknowledged; first replies {replies:?}",
        &v.id[..8],
        v.port,
        keys.len() + i
    );
    if acked > 0 {
        eprintln!("log of the paused node:\n{}", v.log.lock().unwrap());
    }
    drop(v);
    // Back to three members for the next round.
    let m = Member::start(Some(members[0].port));
    members.push(m);
    eventually("three members again", Duration::from_secs(20), || {
        members.iter().all(|m| cluster_ok(m.port, 3))
    });
    acked
}

/// The leader is frozen across its own removal, ten times in a row (each round removes the
/// current leader, whoever was elected after the previous round).
#[test]
fn a_paused_leader_acknowledges_no_write_for_slots_it_lost() {
    let mut members = form();
    let mut acked = Vec::new();
    for _ in 0..10 {
        let leader = leader(&members);
        let victim = members.iter().position(|m| m.id == leader).unwrap();
        acked.push(pause_remove_resume(&mut members, victim));
    }
    assert!(
        acked.iter().all(|a| *a == 0),
        "acknowledged per round: {acked:?}"
    );
}

/// A follower that owns slots is frozen across its removal.
#[test]
fn a_paused_follower_acknowledges_no_write_for_slots_it_lost() {
    let mut members = form();
    let mut acked = Vec::new();
    for _ in 0..3 {
        let leader = leader(&members);
        let victim = members.iter().position(|m| m.id != leader).unwrap();
        acked.push(pause_remove_resume(&mut members, victim));
    }
    assert!(
        acked.iter().all(|a| *a == 0),
        "acknowledged per round: {acked:?}"
    );
}
