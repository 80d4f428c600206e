//! `shardcache server --cluster-enabled` as redis-cli sees it: `--cluster check` finds every
//! slot covered and `redis-cli -c` works.

mod common;

use std::process::Command;

use common::spawn_on_free_port;

#[test]
fn redis_cli_cluster_check_sees_all_slots_covered() {
    let (mut child, port, _log) = spawn_on_free_port(&["--cluster-enabled"]);
    let addr = format!("127.0.0.1:{port}");
    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &addr])
        .output()
        .expect("redis-cli (installed by the test script)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    let set = Command::new("redis-cli")
        .args(["-c", "-p", &port.to_string(), "SET", "user:1", "ann"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "OK");
    let _ = child.kill();
    let _ = child.wait();
}
