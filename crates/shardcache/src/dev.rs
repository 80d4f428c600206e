//! `shardcache dev --nodes N [--replicas R]`: a local cluster in one command. Starts N
//! `shardcache server --cluster-enabled` processes (the first bootstraps with R replicas per
//! shard, the others join it and become primaries or replicas), waits until every node
//! reports the same N-node cluster with all slots served and every replica in sync, prints
//! the endpoints and roles, and stops them all on Ctrl-C.
//!
//! A node that dies is reported and the others keep serving (a failover can be watched);
//! Enter on the terminal (or `--restart-dead`, at once) restarts dead nodes, which come back
//! as themselves (their Raft state is kept in a directory, a temporary one without `--dir`)
//! and rejoin — a former primary as a replica of the node that replaced it.

use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use server::peer::command;

#[derive(Args)]
pub struct DevArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Client port of the first node; node i listens on base-port + i, its cluster bus on
    /// that + 10000.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Admin HTTP port of the first node (then + i); 0 = no admin ports [default:
    /// base-port + 1000].
    #[arg(long)]
    admin_base_port: Option<u16>,
    /// gRPC port of the first node (then + i; cache.CacheService, health, reflection); 0 =
    /// no gRPC ports [default: base-port + 3000].
    #[arg(long)]
    grpc_base_port: Option<u16>,
    /// Worker threads per node (0 = one per core but one, at least one).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Keep each node's id and Raft state under DIR/node-<port>, so the cluster survives a
    /// restart of the command.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Replicas per shard: `--nodes 6 --replicas 1` runs 3 primaries and 3 replicas.
    #[arg(long, default_value_t = 0)]
    replicas: usize,
    /// Spread the nodes over this many zones (node i in zone `z<i mod Z>`, `--zone`): a
    /// shard's replicas land in other zones than its primary.
    #[arg(long, default_value_t = 0)]
    zones: u16,
    /// Restart a node as soon as it dies (otherwise: press Enter to restart dead nodes).
    #[arg(long)]
    restart_dead: bool,
    /// Give every node a TLS client port too (node i: base-port + 2000 + i), with a
    /// throwaway CA and certificate written under the cluster's directory (clients need not
    /// present a certificate: tls-auth-clients optional); the members talk to each other
    /// over TLS only (tls-cluster, tls-replication).
    #[arg(long)]
    tls: bool,
    /// Log level of the nodes.
    #[arg(long, default_value = "warning")]
    loglevel: String,
    /// Further options for every node, after `--` (e.g. `-- --maxmemory 64mb`).
    #[arg(last = true)]
    extra: Vec<String>,
}

/// The running nodes: each one's port, process, and whether its death was reported.
struct Nodes(Vec<(u16, Child, bool)>);

impl Nodes {
    /// SIGTERM to every node, then waits (SIGKILL after 10 s).
    fn stop(&mut self) {
        for (_, child, _) in &self.0 {
            // SAFETY: kill(2) on a child's pid with a valid signal number.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, child, _) in &mut self.0 {
            while matches!(child.try_wait(), Ok(None)) {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run(args: DevArgs) -> ExitCode {
    if args.nodes == 0 || args.base_port.checked_add(args.nodes + 10000).is_none() {
        eprintln!(
            "shardcache dev: --nodes must be at least 1 and base-port + nodes + 10000 a port"
        );
        return ExitCode::from(2);
    }
    let admin_base = args
        .admin_base_port
        .unwrap_or(args.base_port.saturating_add(1000));
    let grpc_base = args
        .grpc_base_port
        .unwrap_or(args.base_port.saturating_add(3000));
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("shardcache dev: cannot find my own binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start tokio runtime");
    let signals = match runtime.block_on(async { crate::shutdown_signal() }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shardcache dev: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Each node keeps its id and Raft state in a directory, so a restarted node comes back as
    // itself; without --dir, in a temporary one removed at the end.
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("shardcache-dev-{}", std::process::id())),
            true,
        ),
    };
    let certs = if args.tls {
        match tls::dev::write(&dir.join("tls"), &[]) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("shardcache dev: cannot write TLS certificates: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let tls_port = |port: u16| port + 2000;
    let spawn = |i: u16| -> std::io::Result<Child> {
        let port = args.base_port + i;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["server", "--cluster-enabled", "--port", &port.to_string()])
            .args(["--threads", &args.threads.to_string()])
            .args(["--loglevel", &args.loglevel])
            .stdin(Stdio::null());
        if admin_base != 0 {
            cmd.args(["--admin-port", &(admin_base + i).to_string()]);
        }
        if grpc_base != 0 {
            cmd.args(["--grpc-port", &(grpc_base + i).to_string()]);
        }
        if i > 0 {
            // With TLS between members, a joiner reaches the seed on its TLS port.
            let seed = match certs {
                Some(_) => tls_port(args.base_port),
                None => args.base_port,
            };
            cmd.args(["--join", &format!("127.0.0.1:{seed}")]);
        } else if args.replicas > 0 {
            cmd.args(["--cluster-replicas", &args.replicas.to_string()]);
        }
        if args.zones > 0 {
            cmd.args(["--zone", &format!("z{}", i % args.zones)]);
        }
        cmd.arg("--dir").arg(dir.join(format!("node-{port}")));
        if let Some(c) = &certs {
            cmd.args(["--tls-port", &tls_port(port).to_string()])
                .arg("--tls-cert-file")
                .arg(&c.cert)
                .arg("--tls-key-file")
                .arg(&c.key)
                .arg("--tls-ca-cert-file")
                .arg(&c.ca_cert)
                .args(["--tls-auth-clients", "optional"])
                // Everything between members over TLS too: the bus, replication,
                // migrations.
                .args(["--tls-cluster", "--tls-replication"]);
        }
        cmd.args(&args.extra);
        cmd.spawn()
    };
    let mut nodes = Nodes(Vec::new());
    for i in 0..args.nodes {
        let port = args.base_port + i;
        match spawn(i) {
            Ok(child) => nodes.0.push((port, child, false)),
            Err(e) => {
                eprintln!("shardcache dev: cannot start node {port}: {e}");
                return ExitCode::FAILURE;
            }
        }
        if i == 0 && args.replicas > 0 {
            // The first node sets the replica count before the others join.
            let first = format!("127.0.0.1:{port}");
            runtime.block_on(wait_answering(&first));
        }
    }
    let ports: Vec<u16> = nodes.0.iter().map(|(p, _, _)| *p).collect();
    if let Err(e) = runtime.block_on(wait_formed(&ports, &mut nodes)) {
        eprintln!("shardcache dev: {e}");
        return ExitCode::FAILURE;
    }
    let roles = runtime.block_on(roles(&ports));
    // Slots a joining node took over are served once the lease of their previous owner has
    // run out (`server::cluster::GRACE`); until then commands for them wait. Let that pass, so
    // "up" means every slot answers at once.
    std::thread::sleep(server::cluster::GRACE);
    println!("shardcache dev: a {}-node cluster is up", ports.len());
    for (i, port) in ports.iter().enumerate() {
        let admin = if admin_base != 0 {
            let scheme = if certs.is_some() { "https" } else { "http" };
            format!("  admin {scheme}://127.0.0.1:{}", admin_base + i as u16)
        } else {
            String::new()
        };
        let role = roles.get(port).cloned().unwrap_or_default();
        let grpc = if grpc_base != 0 {
            format!("  grpc 127.0.0.1:{}", grpc_base + i as u16)
        } else {
            String::new()
        };
        let tls = if certs.is_some() {
            format!("  rediss://127.0.0.1:{}", tls_port(*port))
        } else {
            String::new()
        };
        println!(
            "  node {}: redis://127.0.0.1:{port}{tls}  bus 127.0.0.1:{}{admin}{grpc}{role}",
            i + 1,
            port + 10000
        );
    }
    if let Some(c) = &certs {
        println!(
            "  TLS: redis-cli -c --tls --cacert {} -p {} SET hello world  (TLS clients are redirected to TLS ports)",
            c.ca_cert.display(),
            tls_port(ports[0])
        );
    }
    println!("  try: redis-cli -c -p {} SET hello world", ports[0]);
    println!("       shardcache cluster status 127.0.0.1:{}", ports[0]);
    if grpc_base != 0 {
        println!(
            "       grpcurl -plaintext -d '{{\"key\":\"hello\"}}' 127.0.0.1:{} cache.CacheService/Get",
            grpc_base
        );
    }
    if args.restart_dead {
        println!("A node that dies is restarted at once.");
    } else {
        println!("A node that dies is reported; press Enter to restart dead nodes.");
    }
    println!("Ctrl-C stops every node.");
    let (enter, mut entered) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lines().map_while(Result::ok) {
            if enter.send(()).is_err() {
                return;
            }
        }
    });
    runtime.block_on(async {
        tokio::pin!(signals);
        loop {
            tokio::select! {
                _ = &mut signals => return,
                (port, status) = watch_exits(&mut nodes) => {
                    eprintln!("shardcache dev: node {port} exited ({status}); the others keep serving");
                    if args.restart_dead {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        restart_dead(&mut nodes, args.base_port, &spawn);
                    }
                }
                Some(()) = entered.recv() => restart_dead(&mut nodes, args.base_port, &spawn),
            }
        }
    });
    nodes.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    ExitCode::SUCCESS
}

/// Starts again every node whose death was reported.
fn restart_dead(nodes: &mut Nodes, base_port: u16, spawn: &impl Fn(u16) -> std::io::Result<Child>) {
    for (port, child, dead) in &mut nodes.0 {
        if !*dead {
            continue;
        }
        match spawn(*port - base_port) {
            Ok(c) => {
                *child = c;
                *dead = false;
                eprintln!("shardcache dev: node {port} restarted; it rejoins as itself");
            }
            Err(e) => eprintln!("shardcache dev: cannot restart node {port}: {e}"),
        }
    }
}

/// Waits until the node at `addr` answers (up to 30 s).
async fn wait_answering(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Ok(_)) = command(addr, None, &["PING".to_string()]).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each node's role as the first node's CLUSTER NODES shows it: "  primary" or
/// "  replica of <port>".
async fn roles(ports: &[u16]) -> std::collections::HashMap<u16, String> {
    let args = ["CLUSTER".to_string(), "NODES".to_string()];
    let Ok(Ok(reply)) = command(&format!("127.0.0.1:{}", ports[0]), None, &args).await else {
        return Default::default();
    };
    let text = reply.as_text().unwrap_or_default();
    let port_of =
        |addr: &str| -> Option<u16> { addr.split_once(':')?.1.split('@').next()?.parse().ok() };
    let mut by_id = std::collections::HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let (Some(id), Some(port)) = (f.first(), f.get(1).and_then(|a| port_of(a))) {
            by_id.insert(id.to_string(), port);
        }
    }
    let mut roles = std::collections::HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(port), Some(flags), Some(primary)) =
            (f.get(1).and_then(|a| port_of(a)), f.get(2), f.get(3))
        else {
            continue;
        };
        let role = if flags.contains("slave") {
            match by_id.get(*primary) {
                Some(p) => format!("  replica of {p}"),
                None => "  replica".into(),
            }
        } else {
            "  primary".into()
        };
        roles.insert(port, role);
    }
    roles
}

/// Waits until every node sees the whole cluster, all slots assigned and served (and none
/// still moving), and every replica's link to its primary is up.
async fn wait_formed(ports: &[u16], nodes: &mut Nodes) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = format!("cluster_known_nodes:{}", ports.len());
    loop {
        let mut ready = 0;
        for port in ports {
            let args = ["CLUSTER".to_string(), "INFO".to_string()];
            if let Ok(Ok(info)) = command(&format!("127.0.0.1:{port}"), None, &args).await {
                let text = info.as_text().unwrap_or_default();
                let args = ["INFO".to_string(), "replication".to_string()];
                let synced = match command(&format!("127.0.0.1:{port}"), None, &args).await {
                    Ok(Ok(r)) => {
                        let r = r.as_text().unwrap_or_default();
                        r.contains("role:master") || r.contains("master_link_status:up")
                    }
                    _ => false,
                };
                let settled = text.contains("cluster_slots_moving:0");
                if text.contains("cluster_state:ok") && text.contains(&want) && synced && settled {
                    ready += 1;
                }
            }
        }
        if ready == ports.len() {
            return Ok(());
        }
        for (port, child, _) in &mut nodes.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "node {port} exited ({status}) before the cluster formed"
                ));
            }
        }
        if Instant::now() > deadline {
            return Err("the cluster did not form within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Completes when a node exits (one not reported yet), with its port and exit status.
async fn watch_exits(nodes: &mut Nodes) -> (u16, std::process::ExitStatus) {
    loop {
        for (port, child, dead) in &mut nodes.0 {
            if *dead {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                *dead = true;
                return (*port, status);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
