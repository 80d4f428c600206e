//! The admin API's authentication: open while the node has no password (as Redis admits
//! every client then), otherwise Basic with an ACL user or Bearer with the admin token on
//! every endpoint but the probes; a clear needs the rights to delete what it names; failed
//! attempts get 401, then 429 past the limit.

use server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Node;

/// One request; answers (status, headers, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Shardcache-Admin: 1\r\nContent-Length: 0\r\n{auth}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

const DEFAULT_PW: &str = "Basic ZGVmYXVsdDpwdw=="; // default:pw
const DEFAULT_BAD: &str = "Basic ZGVmYXVsdDpiYWQ="; // default:bad
const OPS: &str = "Basic b3BzOm9wc3B3"; // ops:opspw
const ROOT: &str = "Basic cm9vdDpyb290cHc="; // root:rootpw

#[tokio::test]
async fn admin_api_needs_acl_credentials_once_the_node_has_a_password() {
    let node = Node::start_with_admin(Config {
        requirepass: Some("pw".into()),
        users: vec![
            "ops on >opspw ~cache:* +@all".into(),
            "root on >rootpw ~* +@all".into(),
        ],
        ..Default::default()
    })
    .await;
    let admin = node.admin.unwrap();
    // Probes stay open.
    assert_eq!(http(admin, "GET", "/health", None).await.0, 200);
    assert_eq!(http(admin, "GET", "/ready", None).await.0, 200);
    for path in ["/metrics", "/api/cache/stats", "/api/cluster"] {
        let (status, head, body) = http(admin, "GET", path, None).await;
        assert_eq!(status, 401, "{path}");
        assert!(head.contains("www-authenticate: basic"), "{head}");
        assert!(body.contains("\"error\""), "{body}");
        assert_eq!(
            http(admin, "GET", path, Some(DEFAULT_PW)).await.0,
            200,
            "{path}"
        );
        assert_eq!(http(admin, "GET", path, Some(OPS)).await.0, 200, "{path}");
    }
    assert_eq!(
        http(admin, "GET", "/metrics", Some(DEFAULT_BAD)).await.0,
        401
    );
    assert_eq!(
        http(admin, "GET", "/metrics", Some("Basic !!")).await.0,
        401
    );
    assert_eq!(
        http(admin, "GET", "/metrics", Some("Bearer x")).await.0,
        401
    );

    // A clear needs the rights to delete what it names.
    let mut c = node.client().await;
    c.run("AUTH pw").await;
    for k in ["cache:1", "cache:2", "other:1"] {
        c.run(&format!("SET {k} v")).await;
    }
    let (status, _, body) =
        http(admin, "POST", "/api/cache/clear?pattern=other:*", Some(OPS)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = http(
        admin,
        "POST",
        "/api/cache/clear?pattern=*&confirm=all",
        Some(OPS),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, body) =
        http(admin, "POST", "/api/cache/clear?pattern=cache:*", Some(OPS)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cleared\":2"), "{body}");
    let (status, _, body) = http(
        admin,
        "POST",
        "/api/cache/clear?pattern=*&confirm=all",
        Some(ROOT),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cleared\":1"), "{body}");
    // A user turned off, or deleted, is refused at once.
    c.run("ACL SETUSER ops off").await;
    assert_eq!(http(admin, "GET", "/metrics", Some(OPS)).await.0, 401);

    // Failures past the limit get 429 without being checked (even a right password).
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(http(admin, "GET", "/metrics", Some(DEFAULT_BAD)).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, head, _) = http(admin, "GET", "/metrics", Some(DEFAULT_PW)).await;
    if status == 429 {
        assert!(head.contains("retry-after: 1"), "{head}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        http(admin, "GET", "/metrics", Some(DEFAULT_PW)).await.0,
        200
    );
    // Counted where Redis counts refused authentications.
    let resp::Frame::Bulk(info) = c.run("INFO stats").await else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    assert!(!info.contains("acl_access_denied_auth:0\r\n"), "{info}");
}

#[tokio::test]
async fn admin_token_opens_the_api_and_closes_it_to_anonymous_requests() {
    let node = Node::start_with_admin(Config {
        admin_token: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    let admin = node.admin.unwrap();
    assert_eq!(http(admin, "GET", "/metrics", None).await.0, 401);
    assert_eq!(
        http(admin, "GET", "/metrics", Some("Bearer nope")).await.0,
        401
    );
    assert_eq!(
        http(admin, "GET", "/metrics", Some("Bearer s3cret"))
            .await
            .0,
        200
    );
    let (status, _, body) = http(
        admin,
        "POST",
        "/api/cache/clear?pattern=*&confirm=all",
        Some("Bearer s3cret"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(http(admin, "GET", "/health", None).await.0, 200);

    // Without a password or token the API stays open, as before.
    let open = Node::start_with_admin(Config::default()).await;
    assert_eq!(
        http(open.admin.unwrap(), "GET", "/metrics", None).await.0,
        200
    );
}
