//! `shardcache dev --nodes N`: a local cluster in one command. Starts N `shardcache server
//! --cluster-enabled` processes (the first bootstraps, the others join it), waits until every
//! node reports the same N-node cluster with all slots served, prints the endpoints, and stops
//! them all on Ctrl-C (or when one of them exits).

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
    /// Worker threads per node (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Keep each node's id and Raft state under DIR/node-<port>, so the cluster survives a
    /// restart of the command.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Log level of the nodes.
    #[arg(long, default_value = "warning")]
    loglevel: String,
    /// Further options for every node, after `--` (e.g. `-- --maxmemory 64mb`).
    #[arg(last = true)]
    extra: Vec<String>,
}

struct Nodes(Vec<(u16, Child)>);

impl Nodes {
    /// SIGTERM to every node, then waits (SIGKILL after 10 s).
    fn stop(&mut self) {
        for (_, child) in &self.0 {
            // SAFETY: kill(2) on a child's pid with a valid signal number.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, child) in &mut self.0 {
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
    let mut nodes = Nodes(Vec::new());
    for i in 0..args.nodes {
        let port = args.base_port + i;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["server", "--cluster-enabled", "--port", &port.to_string()])
            .args(["--threads", &args.threads.to_string()])
            .args(["--loglevel", &args.loglevel])
            .stdin(Stdio::null());
        if admin_base != 0 {
            cmd.args(["--admin-port", &(admin_base + i).to_string()]);
        }
        if i > 0 {
            cmd.args(["--join", &format!("127.0.0.1:{}", args.base_port)]);
        }
        if let Some(dir) = &args.dir {
            cmd.arg("--dir").arg(dir.join(format!("node-{port}")));
        }
        cmd.args(&args.extra);
        match cmd.spawn() {
            Ok(child) => nodes.0.push((port, child)),
            Err(e) => {
                eprintln!("shardcache dev: cannot start node {port}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let ports: Vec<u16> = nodes.0.iter().map(|(p, _)| *p).collect();
    if let Err(e) = runtime.block_on(wait_formed(&ports, &mut nodes)) {
        eprintln!("shardcache dev: {e}");
        return ExitCode::FAILURE;
    }
    // Slots a joining node took over are served once the lease of their previous owner has
    // run out (`server::cluster::GRACE`); until then commands for them wait. Let that pass, so
    // "up" means every slot answers at once.
    std::thread::sleep(server::cluster::GRACE);
    println!("shardcache dev: a {}-node cluster is up", ports.len());
    for (i, port) in ports.iter().enumerate() {
        let admin = if admin_base != 0 {
            format!("  admin http://127.0.0.1:{}", admin_base + i as u16)
        } else {
            String::new()
        };
        println!(
            "  node {}: redis://127.0.0.1:{port}  bus 127.0.0.1:{}{admin}",
            i + 1,
            port + 10000
        );
    }
    println!("  try: redis-cli -c -p {} SET hello world", ports[0]);
    println!("       shardcache cluster status 127.0.0.1:{}", ports[0]);
    println!("Ctrl-C stops every node.");
    runtime.block_on(async {
        tokio::select! {
            _ = signals => {}
            port = watch_exits(&mut nodes) => eprintln!("shardcache dev: node {port} exited; stopping the others"),
        }
    });
    nodes.stop();
    ExitCode::SUCCESS
}

/// Waits until every node sees the whole cluster, all slots assigned and served.
async fn wait_formed(ports: &[u16], nodes: &mut Nodes) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = format!("cluster_known_nodes:{}", ports.len());
    loop {
        let mut ready = 0;
        for port in ports {
            let args = ["CLUSTER".to_string(), "INFO".to_string()];
            if let Ok(Ok(info)) = command(&format!("127.0.0.1:{port}"), None, &args).await {
                let text = info.as_text().unwrap_or_default();
                if text.contains("cluster_state:ok") && text.contains(&want) {
                    ready += 1;
                }
            }
        }
        if ready == ports.len() {
            return Ok(());
        }
        for (port, child) in &mut nodes.0 {
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

/// Completes when a node exits, with its port.
async fn watch_exits(nodes: &mut Nodes) -> u16 {
    loop {
        for (port, child) in &mut nodes.0 {
            if let Ok(Some(_)) = child.try_wait() {
                return *port;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
