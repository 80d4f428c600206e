//! TLS on the client port (rustls): redis-cli `--tls` and the `redis` crate with mutual TLS,
//! the refusals (no client certificate when one is required, plaintext to the TLS port, a
//! client that stalls mid-handshake) leaving the node serving, `--port 0` (TLS only),
//! `tls-auth-clients optional|no`, CONFIG SET of the certificate (a bad file refused, a new
//! one used by new connections), and replication over TLS both ways with redis-server.

use std::sync::Arc;
use std::time::Duration;

use resp::Frame;
use server::Config;

use crate::support::{free_port, redis_tool, temp_dir, Node, RedisServer};

struct Certs {
    dir: std::path::PathBuf,
    files: tls::dev::DevCerts,
}

fn certs(tag: &str) -> Certs {
    let dir = temp_dir(tag);
    let files = tls::dev::write(&dir, &[]).unwrap();
    Certs { dir, files }
}

fn tls_config(c: &Certs, auth: &str) -> (Config, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        tls_cert_file: Some(c.files.cert.clone()),
        tls_key_file: Some(c.files.key.clone()),
        tls_ca_cert_file: Some(c.files.ca_cert.clone()),
        tls_auth_clients: Some(auth.into()),
        tls_listener: Some(Arc::new(listener)),
        dir: c.dir.clone(),
        ..Config::default()
    };
    (config, addr)
}

/// redis-cli over TLS; (exit ok, stdout). Run as a child process awaited asynchronously:
/// the node's accept loop runs on this test's runtime.
async fn cli(port: u16, c: &Certs, client_cert: bool, args: &[&str]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(redis_tool("redis-cli"));
    cmd.args(["-p", &port.to_string(), "--tls", "--cacert"])
        .arg(&c.files.ca_cert);
    if client_cert {
        cmd.arg("--cert")
            .arg(&c.files.cert)
            .arg("--key")
            .arg(&c.files.key);
    }
    let out = cmd.args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ok = out.status.success()
        && !stdout.contains("Error")
        && !stdout.starts_with("ERR")
        && !stdout.is_empty();
    (ok, stdout)
}

#[tokio::test]
async fn redis_cli_and_redis_crate_over_mutual_tls() {
    let c = certs("tls-a");
    let (config, tls_addr) = tls_config(&c, "yes");
    let node = Node::start_with(config).await;
    let port = tls_addr.port();
    assert_eq!(
        cli(port, &c, true, &["SET", "k", "over-tls"]).await,
        (true, "OK".into())
    );
    assert_eq!(
        cli(port, &c, true, &["GET", "k"]).await,
        (true, "over-tls".into())
    );
    // A client without a certificate is refused; so is plaintext on the TLS port.
    assert!(!cli(port, &c, false, &["PING"]).await.0);
    let mut plain = crate::support::RawClient::connect(tls_addr).await;
    plain.send(&["PING"]).await;
    assert!(plain
        .read()
        .await
        .is_none_or(|f| f != Frame::Simple("PONG".into())));
    // A peer that connects and says nothing holds nothing up.
    let _stalled = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    assert_eq!(cli(port, &c, true, &["PING"]).await, (true, "PONG".into()));
    // The plain port still serves plaintext clients.
    let mut p = node.client().await;
    assert_eq!(p.run("GET k").await, Frame::Bulk(b"over-tls".to_vec()));

    // The redis crate with rustls, presenting the client certificate.
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let client = redis::Client::build_with_tls(
        format!("rediss://localhost:{port}/"),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(&c.files.cert),
                client_key: read(&c.files.key),
            }),
            root_cert: Some(read(&c.files.ca_cert)),
        },
    )
    .unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got, "over-tls");
    let n: i64 = redis::cmd("INCR")
        .arg("n")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn optional_client_certificates_tls_only_and_certificate_changes() {
    let c = certs("tls-b");
    let (config, tls_addr) = tls_config(&c, "optional");
    let node = Node::start_with(config).await;
    let port = tls_addr.port();
    assert_eq!(cli(port, &c, false, &["PING"]).await, (true, "PONG".into()));
    assert_eq!(cli(port, &c, true, &["PING"]).await, (true, "PONG".into()));
    // CONFIG SET: a file that is not a certificate is refused (nothing changes) ...
    let bad = c.dir.join("bad.crt");
    std::fs::write(&bad, "not a certificate").unwrap();
    let (ok, out) = cli(
        port,
        &c,
        true,
        &["CONFIG", "SET", "tls-cert-file", bad.to_str().unwrap()],
    )
    .await;
    assert!(
        !ok && out.contains("Unable to update TLS configuration"),
        "{out}"
    );
    assert_eq!(cli(port, &c, false, &["PING"]).await, (true, "PONG".into()));
    // tls-cluster is set up at start: its value is accepted again, another refused.
    let (ok, out) = cli(port, &c, true, &["CONFIG", "SET", "tls-cluster", "no"]).await;
    assert!(ok && out == "OK", "{out}");
    let (ok, out) = cli(port, &c, true, &["CONFIG", "SET", "tls-cluster", "yes"]).await;
    assert!(
        !ok && out.contains(
            "(possibly related to argument 'tls-cluster') - Unable to update TLS configuration"
        ),
        "{out}"
    );
    // ... a new certificate from another CA is used by new connections.
    let other = tls::dev::write(&c.dir.join("other"), &[]).unwrap();
    let (ok, out) = cli(
        port,
        &c,
        true,
        &[
            "CONFIG",
            "SET",
            "tls-cert-file",
            other.cert.to_str().unwrap(),
            "tls-key-file",
            other.key.to_str().unwrap(),
            "tls-auth-clients",
            "no",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        !cli(port, &c, false, &["PING"]).await.0,
        "the old CA no longer vouches for the node"
    );
    let trusting = Certs {
        dir: c.dir.clone(),
        files: other.clone(),
    };
    assert_eq!(
        cli(port, &trusting, false, &["PING"]).await,
        (true, "PONG".into())
    );
    drop(node);

    // --port 0 with a TLS port: a TLS-only node (the binary's path; here: no plain
    // listener handed in).
    let (config, tls_addr) = tls_config(&c, "no");
    let handle = tokio::spawn(server::run_with_admin(
        None,
        None,
        config,
        std::future::pending(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cli(tls_addr.port(), &c, false, &["PING"]).await,
        (true, "PONG".into())
    );
    handle.abort();
}

/// Replication over TLS, both directions with redis-server 7.0 (built with TLS).
#[tokio::test]
async fn replication_over_tls_with_redis_server() {
    let c = certs("tls-r");
    let (mut config, tls_addr) = tls_config(&c, "yes");
    config.tls_replication = true;
    let node = Node::start_with(config).await;
    let mut n = node.client().await;
    n.run("SET from-node 1").await;
    // redis-server follows the node over TLS.
    let tls_port = free_port();
    let files = &c.files;
    let args = [
        "--tls-port".to_string(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        files.cert.display().to_string(),
        "--tls-key-file".into(),
        files.key.display().to_string(),
        "--tls-ca-cert-file".into(),
        files.ca_cert.display().to_string(),
        "--tls-replication".into(),
        "yes".into(),
        "--dir".into(),
        c.dir.display().to_string(),
        "--replicaof".into(),
        "127.0.0.1".into(),
        tls_addr.port().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let redis = RedisServer::start_with(&args).await;
    let mut r = redis.client().await;
    wait_for(&mut r, "GET from-node", Frame::Bulk(b"1".to_vec())).await;
    n.run("SET later 2").await;
    wait_for(&mut r, "GET later", Frame::Bulk(b"2".to_vec())).await;

    // The node follows redis-server's TLS port.
    r.run("REPLICAOF NO ONE").await;
    r.run("SET from-redis 3").await;
    n.run(&format!("REPLICAOF 127.0.0.1 {tls_port}")).await;
    wait_for(&mut n, "GET from-redis", Frame::Bulk(b"3".to_vec())).await;
    let info = n
        .run("INFO replication")
        .await
        .as_text()
        .unwrap_or_default();
    assert!(info.contains("master_link_status:up"), "{info}");
}

async fn wait_for(c: &mut crate::support::RawClient, line: &str, want: Frame) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = c.run(line).await;
        if got == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{line}: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With TLS on, the admin port serves HTTPS with the node's certificate (plain HTTP is
/// refused there).
#[tokio::test]
async fn admin_port_serves_https_with_the_node_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = certs("tls-admin");
    let (config, _) = tls_config(&c, "optional");
    let node = Node::start_with_admin(config).await;
    let admin = node.admin.unwrap();
    let mut settings = tls::Settings::new(c.files.cert.clone(), c.files.key.clone());
    settings.ca_cert_file = Some(c.files.ca_cert.clone());
    let client = tls::client_config(&settings).unwrap();
    let tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
    let mut s = tls::connect(client, "localhost", tcp).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap_or_default();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"ok\""), "{reply}");
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(admin).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP/1.1 200"));
}

/// In cluster mode a node's TLS port is part of the topology: a TLS client is shown it
/// (CLUSTER SLOTS and NODES, and MOVED, so cluster clients over TLS stay on TLS), a plain
/// client the plain port; CLUSTER SHARDS lists both.
#[tokio::test]
async fn cluster_replies_name_the_tls_port_to_tls_clients() {
    let c = certs("tls-cluster");
    let (mut config, tls_addr) = tls_config(&c, "optional");
    config.cluster_enabled = true;
    let node = Node::start_with(config).await;
    let (plain_port, tls_port) = (node.addr.port().to_string(), tls_addr.port().to_string());
    let (_, slots) = cli(tls_addr.port(), &c, false, &["CLUSTER", "SLOTS"]).await;
    assert!(slots.lines().any(|l| l == tls_port), "{slots}");
    assert!(!slots.lines().any(|l| l == plain_port), "{slots}");
    let (_, nodes) = cli(tls_addr.port(), &c, false, &["CLUSTER", "NODES"]).await;
    assert!(nodes.contains(&format!(":{tls_port}@")), "{nodes}");
    let mut plain = node.client().await;
    let nodes = plain.run("CLUSTER NODES").await;
    let text = match &nodes {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(text.contains(&format!(":{plain_port}@")), "{text}");
    let (_, shards) = cli(tls_addr.port(), &c, false, &["CLUSTER", "SHARDS"]).await;
    assert!(shards.contains("tls-port"), "{shards}");
}
