//! Random Lua source run by EVAL on a real node (started once, in this process): whatever
//! the script does — syntax errors, runaway loops, deep recursion, huge allocations, odd
//! `redis.call` arguments, unconvertible return values — the node answers it with a reply
//! or an error and keeps serving (a PING after every script must answer PONG). Scripts
//! are declared `no-writes`, so a runaway one can always be stopped with SCRIPT KILL.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

struct Node {
    script: TcpStream,
    admin: TcpStream,
}

fn node() -> &'static Mutex<Node> {
    static NODE: OnceLock<Mutex<Node>> = OnceLock::new();
    NODE.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let config = server::Config {
                    threads: 2,
                    extra_commands: scripting::handlers(),
                    ..Default::default()
                };
                server::run_with_admin(listener, None, config, std::future::pending())
                    .await
                    .unwrap();
            });
        });
        let connect = || loop {
            if let Ok(s) = TcpStream::connect(addr) {
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Two connections, so two workers: the admin one can kill a runaway script.
        let mut node = Node {
            script: connect(),
            admin: connect(),
        };
        command(&mut node.admin, &[b"CONFIG", b"SET", b"busy-reply-threshold", b"50"]);
        while read_reply(&mut node.admin).is_none() {}
        Mutex::new(node)
    })
}

fn command(s: &mut TcpStream, args: &[&[u8]]) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    s.write_all(&out).unwrap();
}

/// Reads until one complete reply has arrived; `None` on a read timeout with nothing
/// complete.
fn read_reply(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Ok(Some((_, used))) = resp::Frame::parse(&buf) {
            assert_eq!(used, buf.len(), "more than one reply");
            return Some(buf);
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!("the node closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if buf.is_empty() {
                    return None;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut node = node().lock().unwrap();
    let mut body = b"#!lua flags=no-writes\n".to_vec();
    body.extend_from_slice(data);
    command(&mut node.script, &[b"EVAL", &body, b"1", b"key", b"arg"]);
    let mut waited = 0;
    loop {
        if read_reply(&mut node.script).is_some() {
            break;
        }
        waited += 1;
        if waited > 4 {
            // Runaway: the other worker kills it (BUSY by now, or NOTBUSY if it just ended).
            command(&mut node.admin, &[b"SCRIPT", b"KILL"]);
            // Its reply comes once the script turns busy, or ends.
            let mut tries = 0;
            while read_reply(&mut node.admin).is_none() {
                tries += 1;
                assert!(tries < 400, "SCRIPT KILL never answered");
            }
        }
        assert!(waited < 400, "the script never ended");
    }
    command(&mut node.script, &[b"PING"]);
    let pong = read_reply(&mut node.script);
    assert_eq!(pong.as_deref(), Some(&b"+PONG\r\n"[..]), "the node stopped serving");
});
