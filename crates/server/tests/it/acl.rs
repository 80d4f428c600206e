//! ACL users against redis-server 7.0, reply for reply in RESP2 and RESP3: ACL SETUSER's
//! rules and errors, GETUSER/LIST/USERS/CAT/DRYRUN/LOG/GENPASS/WHOAMI, AUTH and HELLO AUTH,
//! the NOPERM refusals for commands, subcommands, first arguments, keys (read/write
//! patterns) and channels, selectors, MULTI/EXEC and scripts, connections closed when their
//! user goes, and `requirepass` as the default user's password. Scenarios run on several
//! connections at once, the same lines on both servers.
//!
//! Redis lists a user's single-command rules in its command table's hash order (random per
//! process), so replies holding rules are compared with each run of single-command rules
//! sorted; ACL LOG's `age-seconds` and `client-info` are compared for presence only.

use resp::Frame;
use tokio::io::AsyncWriteExt;

use crate::support::{split_quoted, Node, RawClient, RedisServer};

/// Lines `N| command`, run on connection N (0 when absent) of each server.
const SCENARIO: &str = r##"
ACL WHOAMI
ACL USERS
ACL LIST
ACL GETUSER default
ACL GETUSER nosuch
ACL SETUSER alice
ACL GETUSER alice
ACL SETUSER alice on >p1 >p2 ~cache:* +@read +@string -@dangerous
ACL GETUSER alice
ACL LIST
ACL SETUSER alice <p2
ACL SETUSER alice <nosuch
ACL SETUSER alice #0123
ACL SETUSER alice !0123
ACL SETUSER alice #e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ACL SETUSER alice !e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ACL SETUSER alice #E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855
ACL GETUSER alice
ACL SETUSER alice +nosuchcommand
ACL SETUSER alice +@nosuchcategory
ACL SETUSER alice -@NOSUCH
ACL SETUSER alice badrule
ACL SETUSER alice +config|nosuch
ACL SETUSER alice +config|get|x
ACL SETUSER alice +get|
ACL SETUSER alice -select|0
ACL SETUSER alice +select|0 +debug|object +config|get +client|id
ACL GETUSER alice
ACL SETUSER alice allkeys ~more
ACL SETUSER alice resetkeys %R~ro:* %W~wo:* %RW~rw:* ~both:* %R~both:*
ACL SETUSER alice %X~bad
ACL SETUSER alice %~bad
ACL SETUSER alice %R
ACL SETUSER alice %RR~bad
ACL SETUSER alice "~has space"
ACL SETUSER alice allchannels &more
ACL SETUSER alice resetchannels &news.* &chat
ACL SETUSER alice "&has space"
ACL GETUSER alice
ACL LIST
ACL SETUSER "bad name"
ACL SETUSER alice (~sel:* +hget
ACL SETUSER alice (~sel:* +hget) (
ACL SETUSER alice "(~sel:* +hget)" "(%R~r:* +lrange &c)"
ACL SETUSER alice (~x +get +set)
ACL SETUSER alice (on)
ACL GETUSER alice
ACL LIST
ACL SETUSER alice clearselectors
ACL GETUSER alice
ACL SETUSER alice reset
ACL GETUSER alice
ACL LIST
ACL SETUSER alice nocommands allcommands -@admin +config|get -@write +set
ACL GETUSER alice
ACL SETUSER alice skip-sanitize-payload
ACL GETUSER alice
ACL SETUSER alice nopass
ACL GETUSER alice
ACL SETUSER alice resetpass
ACL GETUSER alice
ACL SETUSER bob on nopass +@all -@keyspace +del ~* &*
ACL GETUSER bob
ACL SETUSER carol on >pw -@all +@hash +@list -lpush ~h:*
ACL GETUSER carol
ACL SETUSER dave on >pw +@all -@all +get +client|id
ACL GETUSER dave
ACL USERS
ACL LIST
ACL DELUSER nosuch
ACL DELUSER default
ACL DELUSER dave nosuch default
ACL DELUSER dave nosuch
ACL USERS
ACL CAT
ACL CAT nosuch
ACL CAT GEO
ACL CAT pubsub
ACL CAT hyperloglog
ACL CAT a b
ACL GENPASS 0
ACL GENPASS -1
ACL GENPASS 4097
ACL GENPASS x
ACL LOAD
ACL SAVE
ACL NOSUCH
ACL HELP
ACL
ACL WHOAMI extra
ACL SETUSER u1 on >secret ~k:* &ch:* +@all -flushall -config|set +select|0 -debug
ACL DRYRUN u1 get k:1
ACL DRYRUN u1 get other
ACL DRYRUN u1 set k:1 v
ACL DRYRUN u1 flushall
ACL DRYRUN u1 config set maxmemory 1
ACL DRYRUN u1 config get maxmemory
ACL DRYRUN u1 publish ch:1 m
ACL DRYRUN u1 publish other m
ACL DRYRUN u1 subscribe ch:1 other
ACL DRYRUN u1 psubscribe ch:*
ACL DRYRUN u1 psubscribe ch:1*
ACL DRYRUN u1 select 0
ACL DRYRUN u1 select 1
ACL DRYRUN u1 nosuch
ACL DRYRUN u1 get
ACL DRYRUN nosuch get x
ACL DRYRUN u1 config nosuch
ACL DRYRUN u1 mset k:1 v other v
ACL DRYRUN u1 auth x
ACL SETUSER u2 on >pw resetkeys %R~r:* %W~w:* ~rw:* +@all
ACL DRYRUN u2 get r:1
ACL DRYRUN u2 get w:1
ACL DRYRUN u2 set w:1 v
ACL DRYRUN u2 set r:1 v
ACL DRYRUN u2 lmove r:1 w:1 left right
ACL DRYRUN u2 lmove w:1 r:1 left right
ACL DRYRUN u2 copy r:1 w:1
ACL DRYRUN u2 append w:1 x
ACL DRYRUN u2 set w:1 v get
ACL DRYRUN u2 del r:1
ACL DRYRUN u2 exists w:1
ACL DRYRUN u2 sort r:1
ACL DRYRUN u2 sort r:1 store w:1
ACL DRYRUN u2 eval "return 1" 2 r:1 w:1
ACL DRYRUN u2 bitfield r:1 get u8 0
ACL DRYRUN u2 bitfield r:1 set u8 0 1
ACL SETUSER u3 on >pw -@all +get ~a:* (+set ~b:*) (+hset %R~c:*)
ACL DRYRUN u3 get a:1
ACL DRYRUN u3 get b:1
ACL DRYRUN u3 set b:1 v
ACL DRYRUN u3 set a:1 v
ACL DRYRUN u3 hset c:1 f v
ACL DRYRUN u3 hget a:1 f
1| AUTH u1 wrong
1| AUTH nosuch secret
1| AUTH secret
1| AUTH u1 secret extra
1| AUTH u1 secret
1| ACL WHOAMI
1| GET k:1
1| GET other
1| SET k:1 v
1| MSET k:2 v other v
1| FLUSHALL
1| CONFIG SET maxmemory 1
1| CONFIG GET maxmemory
1| SELECT 0
1| SELECT 1
1| DEBUG SLEEP 0
1| PUBLISH ch:1 m
1| PUBLISH other m
1| ACL LOG
1| MULTI
1| GET k:1
1| FLUSHALL
1| EXEC
1| MULTI
1| SET k:1 x
1| GET k:1
0| ACL SETUSER u1 -set
1| EXEC
1| MULTI
1| SET k:1 x
0| ACL SETUSER u1 resetkeys ~j:*
1| EXEC
0| ACL SETUSER u1 resetkeys ~k:* +set
1| EVAL "return redis.call('get', KEYS[1])" 1 k:1
1| EVAL "return redis.call('get', 'other')" 0
1| EVAL "return redis.call('flushall')" 0
1| EVAL "return redis.pcall('flushall')" 0
1| EVAL "return redis.call('publish', 'other', 'x')" 0
1| EVAL "return {redis.acl_check_cmd('get','k:1'), redis.acl_check_cmd('get','other'), redis.acl_check_cmd('flushall'), redis.acl_check_cmd('config','get','x'), redis.acl_check_cmd('config','set','x','y')}" 0
1| EVAL "return redis.acl_check_cmd('config','nosuch')" 0
1| EVAL "return redis.acl_check_cmd(1)" 0
1| EVAL "return redis.acl_check_cmd({})" 0
1| CLIENT KILL USER nosuch
0| ACL LOG 20
0| ACL LOG -1
0| ACL LOG x
0| ACL LOG 1 2
0| ACL LOG RESET
0| ACL LOG
2| HELLO 3 AUTH u1 wrong
2| HELLO 3 AUTH nosuch x
2| ACL LOG
2| ACL WHOAMI
0| ACL SETUSER u1 off
2| AUTH u1 secret
0| ACL SETUSER u1 on
2| AUTH u1 secret
2| ACL WHOAMI
0| ACL DELUSER u1
2| GET k:1
2| ACL WHOAMI
1| GET k:1
1| ACL WHOAMI
0| ACL SETUSER sub on nopass &news.* &chat -@all +subscribe +psubscribe +ping
3| AUTH sub x
3| SUBSCRIBE chat news.1
0| ACL SETUSER sub resetchannels &news.* &chat &more
0| PUBLISH chat still-there
0| ACL SETUSER sub resetchannels &news.*
0| PUBLISH chat gone
3| PING
0| ACL SETUSER sub2 on nopass &news.* -@all +psubscribe +ping
3| AUTH sub2 x
3| PSUBSCRIBE news.*
0| ACL SETUSER sub2 resetchannels &news.* &other
0| ACL SETUSER sub2 allchannels
0| ACL SETUSER sub2 resetchannels &news.1
3| PING
0| ACL SETUSER default resetpass
1| PING
1| AUTH default x
0| ACL SETUSER default >pw
1| AUTH x
1| AUTH pw
0| ACL SETUSER default nopass
0| CONFIG SET requirepass foo
0| ACL GETUSER default
0| ACL LIST
1| HELLO 2 AUTH default bar
1| AUTH foo
0| CONFIG SET requirepass ""
0| ACL GETUSER default
0| AUTH foo
0| ACL SETUSER default off
1| PING
1| AUTH default x
0| ACL SETUSER default on
0| ACL LOG 100
0| ACL USERS
CONFIG SET acl-pubsub-default allchannels
ACL SETUSER pd on
ACL GETUSER pd
ACL SETUSER pd resetchannels (+get)
ACL GETUSER pd
ACL SETUSER pd reset
ACL GETUSER pd
CONFIG SET acl-pubsub-default resetchannels
ACL SETUSER pd2 on
ACL LIST
CONFIG SET acllog-max-len 2
ACL LOG RESET
2| AUTH nosuch1 x
2| AUTH nosuch2 x
2| AUTH nosuch3 x
ACL LOG
CONFIG SET acllog-max-len 128
2| AUTH u2 pw
2| SORT r:1
2| SORT r:1 BY w_*
2| SORT r:1 GET w_*
2| SORT r:1 BY nosort
2| SORT r:1 GET #
2| SORT_RO r:1 BY w_*
2| SET rw:1 x
2| RENAME rw:1 w:2
2| RENAME w:2 r:2
2| GETDEL r:1
2| GETEX r:1
2| LPOS r:1 x
2| SUBSCRIBE x
2| PUBSUB CHANNELS
2| ACL WHOAMI
2| ACL SETUSER x
2| AUTH bob x
0| CLIENT KILL USER bob
2| PING
0| ACL SETUSER bob resetpass
2| AUTH bob x
2| AUTH bob
"##;

/// Sorts each run of single-command rules (`+get -set`) in a reply that holds rules, and
/// blanks ACL LOG's age and client line, so the two servers' replies compare.
fn normalize(f: Frame) -> Frame {
    match f {
        Frame::Bulk(b) if b.windows(4).any(|w| w == b"@all") => {
            let text = String::from_utf8_lossy(&b)
                .replace('(', "( ")
                .replace(')', " )");
            let mut tokens: Vec<String> = text.split(' ').map(str::to_string).collect();
            let single =
                |t: &str| (t.starts_with('+') || t.starts_with('-')) && !t[1..].starts_with('@');
            let mut i = 0;
            while i < tokens.len() {
                let start = i;
                while i < tokens.len() && single(&tokens[i]) {
                    i += 1;
                }
                tokens[start..i].sort();
                i = i.max(start + 1);
            }
            Frame::Bulk(tokens.join(" ").into_bytes())
        }
        Frame::Array(items) => Frame::Array(items.into_iter().map(normalize).collect()),
        Frame::Set(items) => Frame::Set(items.into_iter().map(normalize).collect()),
        Frame::Push(items) => Frame::Push(items.into_iter().map(normalize).collect()),
        Frame::Map(pairs) => Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| match &k {
                    Frame::Bulk(name) if name == b"age-seconds" || name == b"client-info" => {
                        (k, Frame::Simple("<varies>".into()))
                    }
                    _ => (k, normalize(v)),
                })
                .collect(),
        ),
        other => other,
    }
}

/// RESP2 ACL LOG entries are flat arrays: blank the values after `age-seconds` and
/// `client-info` there too.
fn normalize_flat(f: Frame) -> Frame {
    match f {
        Frame::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut blank_next = false;
            for item in items {
                if blank_next {
                    out.push(Frame::Simple("<varies>".into()));
                    blank_next = false;
                    continue;
                }
                blank_next =
                    matches!(&item, Frame::Bulk(n) if n == b"age-seconds" || n == b"client-info");
                out.push(normalize_flat(item));
            }
            Frame::Array(out)
        }
        other => other,
    }
}

/// Runs a command; a connection the server closed answers `<closed>` and is reopened.
async fn run(client: &mut RawClient, addr: std::net::SocketAddr, args: &[Vec<u8>]) -> Frame {
    let mut wire = Vec::new();
    resp::request::encode_command(args, &mut wire);
    let reply = match client.stream.write_all(&wire).await {
        Ok(()) => client.read().await,
        Err(_) => None,
    };
    match reply {
        Some(f) => normalize_flat(normalize(f)),
        None => {
            *client = RawClient::connect(addr).await;
            Frame::Simple("<closed>".into())
        }
    }
}

/// Reads what a subscriber was sent (messages, or the server closing it: then it is
/// reopened).
async fn drain(client: &mut RawClient, addr: std::net::SocketAddr) -> Vec<Frame> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(100), client.read()).await {
            Ok(Some(f)) => got.push(f),
            Ok(None) => {
                got.push(Frame::Simple("<closed>".into()));
                *client = RawClient::connect(addr).await;
                break;
            }
            Err(_) => break,
        }
    }
    got
}

/// A reply as text, bulk strings shown as strings.
fn text(f: &Frame) -> String {
    let list = |items: &[Frame]| items.iter().map(text).collect::<Vec<_>>().join(", ");
    match f {
        Frame::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Frame::Array(items) => format!("[{}]", list(items)),
        Frame::Set(items) => format!("~[{}]", list(items)),
        Frame::Push(items) => format!(">[{}]", list(items)),
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", text(k), text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

async fn scenario(resp3: bool) {
    let node = Node::start().await;
    let redis = RedisServer::start_with(&["--enable-debug-command", "local"]).await;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..4 {
        let (mut a, mut b) = (node.client().await, redis.client().await);
        if resp3 {
            a.run("HELLO 3").await;
            b.run("HELLO 3").await;
        }
        ours.push(a);
        theirs.push(b);
    }
    let mut failures = Vec::new();
    for line in SCENARIO.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (conn, command) = match line.split_once("| ") {
            Some((n, rest)) => (n.parse::<usize>().unwrap(), rest),
            None => (0, line),
        };
        let args = split_quoted(command);
        // A subscriber (connection 3) may have been sent messages or closed meanwhile.
        let (extra_a, extra_b) = if conn == 3 || command.starts_with("PUBLISH") {
            (
                drain(&mut ours[3], node.addr).await,
                drain(&mut theirs[3], redis.addr).await,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        if extra_a != extra_b {
            failures.push(format!(
                "before {line}: subscriber got\n  ours:  {}\n  redis: {}",
                text(&Frame::Array(extra_a)),
                text(&Frame::Array(extra_b))
            ));
        }
        let mut a = run(&mut ours[conn], node.addr, &args).await;
        let mut b = run(&mut theirs[conn], redis.addr, &args).await;
        if command.starts_with("ACL CAT") {
            // Redis lists a category's commands in its hash table's order.
            for reply in [&mut a, &mut b] {
                if let Frame::Array(items) = reply {
                    items.sort_by_key(text);
                }
            }
        }
        if a != b {
            failures.push(format!(
                "{line}\n  ours:  {}\n  redis: {}",
                text(&a),
                text(&b)
            ));
        }
        if command.starts_with("PUBLISH") {
            // What a PUBLISH sent is taken now: a subscriber closed by the next command
            // would otherwise race its delivery (Redis writes it out before reading the
            // next command of another client).
            let (got_a, got_b) = (
                drain(&mut ours[3], node.addr).await,
                drain(&mut theirs[3], redis.addr).await,
            );
            if got_a != got_b {
                failures.push(format!(
                    "after {line}: subscriber got\n  ours:  {}\n  redis: {}",
                    text(&Frame::Array(got_a)),
                    text(&Frame::Array(got_b))
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "resp3={resp3}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn acl_scenario_matches_redis_in_resp2() {
    scenario(false).await;
}

#[tokio::test]
async fn acl_scenario_matches_redis_in_resp3() {
    scenario(true).await;
}

/// The ACL file: users loaded at start, ACL SAVE writes them back in Redis's form, ACL LOAD
/// replaces them all (closing the connections of the users it replaced) or, with any error,
/// changes nothing and says why in Redis's words. Users given in the configuration (`user`
/// lines) load too. Both servers start from the same file.
#[tokio::test]
async fn acl_file_load_save_and_configured_users_match_redis() {
    let dir = crate::support::temp_dir("aclfile");
    let (ours_file, theirs_file) = (dir.join("ours.acl"), dir.join("redis.acl"));
    let initial = "user alice on #4c94485e0c21ae6c41ce1dfe7b6bfaceea5ab68e40a2476f50208e526f506080 ~cache:* +@read -keys\nuser default on nopass ~* &* +@all\n\nuser bob off resetchannels &n:* -@all +get (~b:* +set)\n";
    for f in [&ours_file, &theirs_file] {
        std::fs::write(f, initial).unwrap();
    }
    let node = Node::start_with(server::Config {
        aclfile: Some(ours_file.clone()),
        ..Default::default()
    })
    .await;
    let redis = RedisServer::start_with(&["--aclfile", theirs_file.to_str().unwrap()]).await;
    let (mut ours, mut theirs) = (
        [node.client().await, node.client().await],
        [redis.client().await, redis.client().await],
    );
    let path_free = |f: Frame, path: &std::path::Path| match f {
        Frame::Error(e) => Frame::Error(e.replace(path.to_str().unwrap(), "<file>")),
        other => other,
    };
    let mut failures = Vec::new();
    let steps: &[(usize, &str, Option<&str>)] = &[
        (0, "ACL LIST", None),
        (1, "AUTH alice secret", None),
        (1, "GET cache:1", None),
        (1, "KEYS *", None),
        (0, "ACL SETUSER carol on >pw +@all ~*", None),
        (0, "ACL SAVE", None),
        (0, "ACL LOAD", Some("user alice on >other\nfoo\nuser alice off\nuser x +nosuch\nuser y (+get\nuser \"a b\" on\n")),
        (0, "ACL LIST", None),
        (1, "ACL WHOAMI", None),
        (0, "ACL LOAD", Some("user dave on nopass ~* +@all\n")),
        (1, "ACL WHOAMI", None),
        (1, "ACL WHOAMI", None),
        (0, "ACL LIST", None),
        (0, "ACL LOAD", Some("user default off\nuser erin on >pw ~* &* +@all\n")),
        (0, "ACL LIST", None),
        (0, "AUTH erin pw", None),
        (0, "ACL SETUSER default on nopass", None),
        (0, "ACL SAVE", None),
    ];
    for (conn, line, file) in steps {
        if let Some(content) = file {
            std::fs::write(&ours_file, content).unwrap();
            std::fs::write(&theirs_file, content).unwrap();
        }
        let args = split_quoted(line);
        let a = path_free(run(&mut ours[*conn], node.addr, &args).await, &ours_file);
        let b = path_free(
            run(&mut theirs[*conn], redis.addr, &args).await,
            &theirs_file,
        );
        if a != b {
            failures.push(format!(
                "{line}\n  ours:  {}\n  redis: {}",
                text(&a),
                text(&b)
            ));
        }
        if *line == "ACL SAVE" {
            let sorted = |p: &std::path::Path| {
                let text = std::fs::read_to_string(p).unwrap();
                text.lines()
                    .map(|l| match normalize(Frame::Bulk(l.as_bytes().to_vec())) {
                        Frame::Bulk(b) => String::from_utf8(b).unwrap(),
                        _ => unreachable!(),
                    })
                    .collect::<Vec<_>>()
            };
            let (a, b) = (sorted(&ours_file), sorted(&theirs_file));
            if a != b {
                failures.push(format!("saved file\n  ours:  {a:?}\n  redis: {b:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Users from the configuration, as redis.conf's `user` lines.
    let node = Node::start_with(server::Config {
        users: vec![
            "frank on >pw ~f:* +@all".into(),
            "default on >dpw ~* &* +@all".into(),
        ],
        ..Default::default()
    })
    .await;
    let redis = RedisServer::start_with(&[
        "--user", "frank", "on", ">pw", "~f:*", "+@all", "--user", "default", "on", ">dpw", "~*",
        "&*", "+@all",
    ])
    .await;
    let (mut a, mut b) = (node.client().await, redis.client().await);
    for line in [
        "PING",
        "AUTH frank pw",
        "GET x",
        "GET f:1",
        "AUTH dpw",
        "ACL LIST",
    ] {
        let args = split_quoted(line);
        let (x, y) = (
            run(&mut a, node.addr, &args).await,
            run(&mut b, redis.addr, &args).await,
        );
        assert_eq!(x, y, "{line}");
    }
}

/// What a differential test cannot compare: GENPASS's randomness and sizes, CLIENT LIST's
/// `user`, and a rules string that round-trips through GETUSER.
#[tokio::test]
async fn genpass_client_list_user_and_rules_round_trip() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let Frame::Bulk(p1) = c.run("ACL GENPASS").await else {
        panic!()
    };
    let Frame::Bulk(p2) = c.run("ACL GENPASS").await else {
        panic!()
    };
    assert_eq!(p1.len(), 64);
    assert!(p1.iter().all(u8::is_ascii_hexdigit));
    assert_ne!(p1, p2);
    let Frame::Bulk(short) = c.run("ACL GENPASS 5").await else {
        panic!()
    };
    assert_eq!(short.len(), 2, "5 bits take 2 hex digits");
    let Frame::Bulk(p3) = c.run("ACL GENPASS 4096").await else {
        panic!()
    };
    assert_eq!(p3.len(), 1024);

    c.run("ACL SETUSER ann on >pw ~a:* +@all -@dangerous +flushdb")
        .await;
    let mut ann = node.client().await;
    assert_eq!(ann.run("AUTH ann pw").await, Frame::Simple("OK".into()));
    let info = match ann.run("CLIENT INFO").await {
        Frame::Verbatim(_, info) | Frame::Bulk(info) => String::from_utf8_lossy(&info).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(info.contains(" user=ann "), "{info}");
    // Refusals are counted by kind in INFO stats (as Redis 7.2).
    ann.run("FLUSHALL").await;
    ann.run("GET b:1").await;
    let Frame::Bulk(stats) = c.run("INFO stats").await else {
        panic!()
    };
    let stats = String::from_utf8(stats).unwrap();
    for line in [
        "acl_access_denied_cmd:1\r\n",
        "acl_access_denied_key:1\r\n",
        "acl_access_denied_channel:0\r\n",
    ] {
        assert!(stats.contains(line), "{line} in {stats}");
    }

    // The described rules, applied to a fresh user, give the same description.
    let commands = |f: Frame| match f {
        Frame::Array(items) => items
            .chunks(2)
            .find(|kv| kv[0] == Frame::Bulk(b"commands".to_vec()))
            .map(|kv| kv[1].clone())
            .unwrap(),
        other => panic!("{other:?}"),
    };
    let described = commands(c.run("ACL GETUSER ann").await);
    let Frame::Bulk(rules) = &described else {
        panic!()
    };
    let mut args = vec!["ACL".to_string(), "SETUSER".into(), "copy".into()];
    args.extend(
        String::from_utf8_lossy(rules)
            .split(' ')
            .map(str::to_string),
    );
    c.cmd(&args).await;
    assert_eq!(commands(c.run("ACL GETUSER copy").await), described);
}
