//! `shardcache cluster add-node | remove-node | status`: membership changes and a summary,
//! asked of any node over the Redis protocol (CLUSTER MEET / FORGET / INFO / NODES), so the
//! same can be done with redis-cli.

use std::process::ExitCode;

use clap::Subcommand;

use server::peer::command;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Add a running node (started with `--cluster-enabled --standby`) to a cluster; the
    /// planner gives it its share of slots.
    AddNode {
        /// The new node's client address, host:port.
        new_node: String,
        /// Any member of the cluster, host:port.
        #[arg(long)]
        to: String,
        /// The new node's cluster bus port [default: its port + 10000].
        #[arg(long)]
        bus_port: Option<u16>,
        /// Password of the cluster's nodes.
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Remove a node (by id, or by its host:port) from a cluster; its slots go to the others.
    RemoveNode {
        /// The node's id or client address.
        node: String,
        /// Any member of the cluster, host:port (may be the node itself).
        #[arg(long)]
        from: String,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Print the cluster's state, nodes and slot counts as a member sees them.
    Status {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
}

pub fn run(c: ClusterCommand) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start tokio runtime");
    match runtime.block_on(execute(c)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shardcache cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn ask(addr: &str, password: Option<&str>, args: &[&str]) -> Result<resp::Frame, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    command(addr, password, &args)
        .await
        .map_err(|e| format!("{addr}: {e}"))?
        .map_err(|e| format!("{addr}: {e}"))
}

async fn text(addr: &str, password: Option<&str>, args: &[&str]) -> Result<String, String> {
    ask(addr, password, args)
        .await?
        .as_text()
        .ok_or_else(|| format!("{addr}: unexpected reply to {}", args.join(" ")))
}

/// One line of CLUSTER NODES: (id, address, flags, slot ranges).
struct NodeLine {
    id: String,
    addr: String,
    flags: String,
    ranges: Vec<String>,
}

fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8).then(|| NodeLine {
                id: f[0].to_string(),
                addr: f[1].split('@').next().unwrap_or(f[1]).to_string(),
                flags: f[2].to_string(),
                ranges: f[8..].iter().map(|s| s.to_string()).collect(),
            })
        })
        .collect()
}

fn slot_count(ranges: &[String]) -> usize {
    ranges
        .iter()
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap_or(0) + 1 - a.parse::<usize>().unwrap_or(0),
            None => 1,
        })
        .sum()
}

async fn execute(c: ClusterCommand) -> Result<String, String> {
    match c {
        ClusterCommand::AddNode {
            new_node,
            to,
            bus_port,
            password,
        } => {
            let (host, port) = new_node
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("'{new_node}' is not host:port"))?;
            let bus = bus_port
                .or_else(|| port.checked_add(10000))
                .ok_or("give --bus-port")?;
            let port = port.to_string();
            let bus = bus.to_string();
            ask(
                &to,
                password.as_deref(),
                &["CLUSTER", "MEET", host, &port, &bus],
            )
            .await?;
            Ok(format!("added {new_node} to the cluster of {to}\n"))
        }
        ClusterCommand::RemoveNode {
            node,
            from,
            password,
        } => {
            let id = if node.contains(':') {
                let nodes = text(&from, password.as_deref(), &["CLUSTER", "NODES"]).await?;
                parse_nodes(&nodes)
                    .into_iter()
                    .find(|n| n.addr == node)
                    .map(|n| n.id)
                    .ok_or_else(|| format!("no node at {node} in the cluster of {from}"))?
            } else {
                node.clone()
            };
            ask(&from, password.as_deref(), &["CLUSTER", "FORGET", &id]).await?;
            Ok(format!("removed {id} ({node}) from the cluster\n"))
        }
        ClusterCommand::Status { node, password } => {
            let info = text(&node, password.as_deref(), &["CLUSTER", "INFO"]).await?;
            let nodes = text(&node, password.as_deref(), &["CLUSTER", "NODES"]).await?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .unwrap_or("?")
                    .trim()
                    .to_string()
            };
            let mut out = format!(
                "cluster_state: {}  epoch: {}  nodes: {}  slots assigned: {}\n",
                field("cluster_state"),
                field("cluster_current_epoch"),
                field("cluster_known_nodes"),
                field("cluster_slots_assigned"),
            );
            for n in parse_nodes(&nodes) {
                // Consistent hashing scatters slots: list the ranges only when they are few.
                let ranges = if n.ranges.len() <= 6 {
                    n.ranges.join(",")
                } else {
                    format!("in {} ranges", n.ranges.len())
                };
                out += &format!(
                    "{}  {:<21} {:>5} slots {}{}\n",
                    n.id,
                    n.addr,
                    slot_count(&n.ranges),
                    ranges,
                    if n.flags.contains("myself") {
                        "  (asked)"
                    } else if n.flags.contains("fail") {
                        "  UNREACHABLE"
                    } else {
                        ""
                    },
                );
            }
            Ok(out)
        }
    }
}
