//! LATENCY against redis-server 7.0: help, the empty state (LATEST, HISTORY, RESET, GRAPH,
//! DOCTOR), events recorded over `latency-monitor-threshold` (a KEYS over 200k keys takes
//! more than a millisecond on either server), and HISTOGRAM's shape and call counts.

use resp::Frame;

use crate::support::{Node, RawClient, RedisServer};

fn text(f: &Frame) -> String {
    f.as_text().unwrap_or_default()
}

async fn fill(c: &mut RawClient, n: usize) {
    let mut buf = Vec::new();
    for i in 0..n {
        resp::request::encode_command(
            &[b"SET".to_vec(), format!("k{i}").into_bytes(), b"v".to_vec()],
            &mut buf,
        );
    }
    c.send_raw(&buf).await;
    for _ in 0..n {
        c.read().await;
    }
}

#[tokio::test]
async fn latency_matches_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for line in [
        "LATENCY HELP",
        "LATENCY LATEST",
        "LATENCY HISTORY command",
        "LATENCY RESET",
        "LATENCY RESET command nope",
        "LATENCY GRAPH command",
        "LATENCY DOCTOR",
        "LATENCY NOPE",
        "LATENCY",
        "CONFIG SET latency-monitor-threshold 1",
        "LATENCY DOCTOR",
    ] {
        assert_eq!(ours.run(line).await, theirs.run(line).await, "{line}");
    }
    // A slow command leaves a sample.
    for c in [&mut ours, &mut theirs] {
        fill(c, 200_000).await;
        c.run("KEYS *").await;
    }
    let latest = ours.run("LATENCY LATEST").await;
    let Frame::Array(events) = &latest else {
        panic!("{latest:?}")
    };
    let command = events
        .iter()
        .find_map(|e| match e {
            Frame::Array(f) if text(&f[0]) == "command" => Some(f.clone()),
            _ => None,
        })
        .expect("a command event");
    let (Frame::Integer(at), Frame::Integer(ms), Frame::Integer(max)) =
        (&command[1], &command[2], &command[3])
    else {
        panic!("{command:?}")
    };
    assert!(*ms >= 1 && max >= ms && (*at - (server::unix_ms() / 1000) as i64).abs() < 60);
    let Frame::Array(history) = ours.run("LATENCY HISTORY command").await else {
        panic!()
    };
    assert!(!history.is_empty());
    let graph = text(&ours.run("LATENCY GRAPH command").await);
    assert!(graph.starts_with("command - high "), "{graph}");
    let doctor = text(&ours.run("LATENCY DOCTOR").await);
    assert!(doctor.contains("1. command: "), "{doctor}");
    assert_eq!(ours.run("LATENCY RESET command").await, Frame::Integer(1));
    assert_eq!(
        ours.run("LATENCY HISTORY command").await,
        Frame::Array(vec![])
    );

    // Histograms: the same call counts as Redis, cumulative counts ending at the calls.
    for c in [&mut ours, &mut theirs] {
        c.run("CONFIG RESETSTAT").await;
        for _ in 0..25 {
            c.run("GET k1").await;
        }
        c.run("SET x y").await;
        c.run("CLIENT ID").await;
        c.run("CLIENT GETNAME").await;
    }
    let calls = |f: Frame| -> Vec<(String, i64, i64)> {
        let Frame::Array(flat) = f else {
            panic!("{f:?}")
        };
        flat.chunks(2)
            .map(|kv| {
                let Frame::Array(inner) = &kv[1] else {
                    panic!()
                };
                let Frame::Integer(calls) = inner[1] else {
                    panic!()
                };
                let Frame::Array(points) = &inner[3] else {
                    panic!()
                };
                let last = match points.last() {
                    Some(Frame::Integer(n)) => *n,
                    _ => 0,
                };
                (text(&kv[0]), calls, last)
            })
            .collect()
    };
    // A container stands for its subcommands that ran.
    let a = calls(
        ours.run("LATENCY HISTOGRAM get set nosuchcommand client")
            .await,
    );
    let b = calls(
        theirs
            .run("LATENCY HISTOGRAM get set nosuchcommand client")
            .await,
    );
    assert_eq!(a.len(), 4, "{a:?}");
    let mut a_sorted = a.clone();
    a_sorted.sort();
    let mut b_sorted = b.clone();
    b_sorted.sort();
    assert_eq!(a_sorted, b_sorted);
    assert!(a.iter().all(|(_, calls, last)| calls == last));
}
