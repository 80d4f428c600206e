//! `shardcache cluster add-node | remove-node | move-slots | rebalance | cancel-moves |
//! status | check`: membership changes, slot moves and a summary, asked of any node over the
//! Redis protocol (CLUSTER MEET / DRAIN / FORGET / MOVESLOTS / REBALANCE / INFO / NODES), so
//! the same can be done with redis-cli.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Subcommand;

/// `shardcache cluster [--tls ...] <command>`.
#[derive(clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    tls: CliTls,
    #[command(subcommand)]
    command: ClusterCommand,
}

/// TLS to the nodes, with redis-cli's flag names: for a cluster whose nodes have no plain
/// port (`--port 0 --tls-port`), name a node's TLS port.
#[derive(clap::Args)]
struct CliTls {
    /// Connect to the nodes over TLS.
    #[arg(long, global = true)]
    tls: bool,
    /// The CA certificate the nodes' certificates chain to.
    #[arg(long, global = true, requires = "tls")]
    cacert: Option<PathBuf>,
    /// Our certificate, for nodes that ask for one (tls-auth-clients yes).
    #[arg(long, global = true, requires_all = ["tls", "key"])]
    cert: Option<PathBuf>,
    /// The key of --cert.
    #[arg(long, global = true, requires_all = ["tls", "cert"])]
    key: Option<PathBuf>,
}

/// How every call of this command reaches a node (set once by [`run`]).
static TLS: OnceLock<Option<tls::Connector>> = OnceLock::new();

impl CliTls {
    fn connector(&self) -> Result<Option<tls::Connector>, String> {
        if !self.tls {
            return Ok(None);
        }
        let ca = self
            .cacert
            .as_deref()
            .ok_or("--tls needs --cacert (the CA the nodes' certificates chain to)")?;
        let identity = self.cert.as_deref().zip(self.key.as_deref());
        tls::client_config_to(ca, identity).map(|c| Some(tls::Connector::with_config(c)))
    }
}

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
    /// Remove a node (by id, or by its host:port) from a cluster, gracefully: its slots move
    /// to the others with their keys (a primary with a replica hands its shard to it), then
    /// it leaves. Waits until it has left, printing progress. A node that does not answer
    /// is removed at once (its slots go to the others, empty).
    #[command(visible_alias = "drain")]
    RemoveNode {
        /// The node's id or client address.
        node: String,
        /// Any member of the cluster, host:port (may be the node itself).
        #[arg(long)]
        from: String,
        /// Remove it at once, without moving its keys (a dead node's are lost anyway).
        #[arg(long)]
        force: bool,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Move slots, with their keys, to a primary: `--slots 0-99,500`, or the slot of a key
    /// (`--key 'room:{ROOM123}'` moves that hash tag's room). Waits until they have moved.
    MoveSlots {
        /// Slot ranges, comma-separated: 0-99,500,1000-1099.
        #[arg(long, required_unless_present = "key")]
        slots: Option<String>,
        /// Move the slot this key hashes to instead.
        #[arg(long, conflicts_with = "slots")]
        key: Option<String>,
        /// The primary to move them to: its node id or client address.
        #[arg(long)]
        to: String,
        /// Any member, host:port.
        #[arg(long, default_value = "127.0.0.1:7000")]
        via: String,
        /// Return once the move is agreed, without waiting for it to finish.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Move the slots that differ from the planner's balanced table (after a failure or
    /// uneven moves), with their keys; waits until they have moved.
    Rebalance {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        #[arg(long)]
        no_wait: bool,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Cancel every pending slot move (slots stay with their current owners).
    CancelMoves {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Pause every pending slot move: copying and switching stop, the moves stay planned and
    /// the slots served by their owners (`resume-moves` goes on).
    PauseMoves {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Resume the slot moves `pause-moves` paused.
    ResumeMoves {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
        password: Option<String>,
    },
    /// Check every shard's replicas: link, lag (bytes and seconds), and with `--digest`
    /// whether each replica holds exactly its primary's data (writes to the primary are
    /// paused for up to 2 s while the replicas catch up, then both sides' DEBUG DIGEST are
    /// compared). Exits 1 when a replica is down or differs.
    Check {
        /// Any member, host:port.
        #[arg(default_value = "127.0.0.1:7000")]
        node: String,
        /// Also compare the data of each primary and its replicas.
        #[arg(long)]
        digest: bool,
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

pub fn run(args: ClusterArgs) -> ExitCode {
    match args.tls.connector() {
        Ok(c) => {
            let _ = TLS.set(c);
        }
        Err(e) => {
            eprintln!("shardcache cluster: {e}");
            return ExitCode::from(2);
        }
    }
    let c = args.command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start tokio runtime");
    if let ClusterCommand::Check {
        node,
        digest,
        password,
    } = c
    {
        return match runtime.block_on(check(&node, password.as_deref(), digest)) {
            Ok((text, healthy)) => {
                print!("{text}");
                if healthy {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("shardcache cluster check: {e}");
                ExitCode::from(2)
            }
        };
    }
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
    let tls = TLS.get().and_then(|c| c.as_ref());
    let mut peer = server::peer::Peer::connect_via(addr, password, tls)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    peer.call(args)
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

/// One line of CLUSTER NODES: (id, address, flags, primary id or `-`, slot ranges).
struct NodeLine {
    id: String,
    addr: String,
    flags: String,
    primary: String,
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
                primary: f[3].to_string(),
                // Open slots ([slot->-id], [slot-<-id]) are not owned ranges.
                ranges: f[8..]
                    .iter()
                    .filter(|s| !s.starts_with('['))
                    .map(|s| s.to_string())
                    .collect(),
            })
        })
        .collect()
}

/// A node's id from its id or its client address (`host:port`), as `via` knows the cluster.
async fn node_id(node: &str, via: &str, password: Option<&str>) -> Result<String, String> {
    if !node.contains(':') {
        return Ok(node.to_string());
    }
    let nodes = text(via, password, &["CLUSTER", "NODES"]).await?;
    parse_nodes(&nodes)
        .into_iter()
        .find(|n| n.addr == node)
        .map(|n| n.id)
        .ok_or_else(|| format!("no node at {node} in the cluster of {via}"))
}

/// Slot ranges `0-99,500` as CLUSTER MOVESLOTS arguments (start end pairs).
fn slot_pairs(spec: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| *n < 16384)
                .ok_or_else(|| format!("'{s}' is not a slot (0-16383)"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(format!("'{part}': the range starts after it ends"));
        }
        out.push(a.to_string());
        out.push(b.to_string());
    }
    if out.is_empty() {
        return Err("no slots given".into());
    }
    Ok(out)
}

/// Waits until no slot is moving (as `node` sees the cluster), printing progress; answers
/// the final summary, or an error when nothing has moved for a minute.
async fn wait_moves(node: &str, password: Option<&str>) -> Result<String, String> {
    let started = std::time::Instant::now();
    let mut first: Option<usize> = None;
    let mut last_print = std::time::Instant::now();
    let (mut last_moving, mut progressed) = (usize::MAX, std::time::Instant::now());
    loop {
        let info = text(node, password, &["CLUSTER", "INFO"]).await?;
        let moving: usize = info_field(&info, "cluster_slots_moving")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let total = *first.get_or_insert(moving);
        if moving != last_moving {
            (last_moving, progressed) = (moving, std::time::Instant::now());
        } else if progressed.elapsed() > std::time::Duration::from_secs(60) {
            return Err(format!(
                "{moving} slot(s) still moving and none moved in 60 s: see `shardcache cluster status {node}` (the moves go on; `cancel-moves` stops them)"
            ));
        }
        if moving == 0 {
            return Ok(format!(
                "{total} slot(s) moved in {:.1} s\n",
                started.elapsed().as_secs_f64()
            ));
        }
        if last_print.elapsed() >= std::time::Duration::from_secs(1) {
            let done = total.saturating_sub(moving);
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            let eta = if rate > 0.0 {
                format!("{:.0} s", moving as f64 / rate)
            } else {
                "?".into()
            };
            eprintln!("moving: {done}/{total} slots done, {moving} left, ETA {eta}");
            last_print = std::time::Instant::now();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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

/// A field of an INFO reply.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// An INFO replication field as a number.
fn info_number(info: &str, name: &str) -> Option<i64> {
    info_field(info, name)?.parse().ok()
}

/// `shardcache cluster check`: the report, and whether every replica is up (and, with
/// `digest`, holds its primary's data).
async fn check(node: &str, password: Option<&str>, digest: bool) -> Result<(String, bool), String> {
    let nodes = parse_nodes(&text(node, password, &["CLUSTER", "NODES"]).await?);
    let mut out = String::new();
    let mut healthy = true;
    for p in nodes.iter().filter(|n| n.flags.contains("master")) {
        let replicas: Vec<&NodeLine> = nodes.iter().filter(|r| r.primary == p.id).collect();
        out += &format!(
            "shard of {} {} ({} slots): {} replica(s)\n",
            p.id,
            p.addr,
            slot_count(&p.ranges),
            replicas.len()
        );
        let primary_info = match text(&p.addr, password, &["INFO", "replication"]).await {
            Ok(i) => i,
            Err(e) => {
                out += &format!("  primary unreachable: {e}\n");
                healthy = false;
                continue;
            }
        };
        let offset = info_number(&primary_info, "master_repl_offset").unwrap_or(0);
        for r in &replicas {
            let info = match text(&r.addr, password, &["INFO", "replication"]).await {
                Ok(i) => i,
                Err(e) => {
                    out += &format!("  replica {} {}: unreachable ({e})\n", r.id, r.addr);
                    healthy = false;
                    continue;
                }
            };
            let up = info_field(&info, "master_link_status") == Some("up");
            let theirs = info_number(&info, "slave_repl_offset")
                .or_else(|| info_number(&info, "master_repl_offset"))
                .unwrap_or(0);
            let idle = info_number(&info, "master_last_io_seconds_ago").unwrap_or(-1);
            healthy &= up;
            out += &format!(
                "  replica {} {}: link {}, lag {} bytes, last heard {} s ago\n",
                r.id,
                r.addr,
                if up { "up" } else { "DOWN" },
                (offset - theirs).max(0),
                idle
            );
        }
        if digest && !replicas.is_empty() {
            match compare_digests(p, &replicas, password).await {
                Ok(lines) => {
                    for (addr, same) in lines {
                        healthy &= same;
                        out += &format!(
                            "  data of {addr}: {}\n",
                            if same {
                                "same as the primary"
                            } else {
                                "DIFFERENT from the primary"
                            }
                        );
                    }
                }
                Err(e) => {
                    healthy = false;
                    out += &format!("  digest not compared: {e}\n");
                }
            }
        }
    }
    Ok((out, healthy))
}

/// Pauses the primary's writers, waits (up to 2 s) until every replica has applied the
/// primary's whole stream, and compares DEBUG DIGEST on both sides; the pause ends at once.
async fn compare_digests(
    p: &NodeLine,
    replicas: &[&NodeLine],
    password: Option<&str>,
) -> Result<Vec<(String, bool)>, String> {
    ask(&p.addr, password, &["CLIENT", "PAUSE", "2000", "WRITE"]).await?;
    let result = async {
        let info = text(&p.addr, password, &["INFO", "replication"]).await?;
        let offset = info_number(&info, "master_repl_offset").unwrap_or(0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        for r in replicas {
            loop {
                let info = text(&r.addr, password, &["INFO", "replication"]).await?;
                let theirs = info_number(&info, "slave_repl_offset").unwrap_or(-1);
                if theirs >= offset {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!("{} did not catch up within 2 s", r.addr));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        let mine = text(&p.addr, password, &["DEBUG", "DIGEST"]).await?;
        let mut lines = Vec::new();
        for r in replicas {
            let theirs = text(&r.addr, password, &["DEBUG", "DIGEST"]).await?;
            lines.push((r.addr.clone(), theirs == mine));
        }
        Ok(lines)
    }
    .await;
    let _ = ask(&p.addr, password, &["CLIENT", "UNPAUSE"]).await;
    result
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
            force,
            password,
        } => {
            let password = password.as_deref();
            let id = node_id(&node, &from, password).await?;
            // A node that does not answer cannot hand its keys over: it is removed at once
            // (its keys are lost with it either way).
            let nodes = parse_nodes(&text(&from, password, &["CLUSTER", "NODES"]).await?);
            let line = nodes.iter().find(|n| n.id == id);
            let alive = match line {
                Some(n) if !n.flags.contains("fail") => {
                    let ping = ask(&n.addr, password, &["PING"]);
                    matches!(
                        tokio::time::timeout(std::time::Duration::from_secs(1), ping).await,
                        Ok(Ok(_))
                    )
                }
                _ => false,
            };
            if force || !alive {
                ask(&from, password, &["CLUSTER", "FORGET", &id]).await?;
                return Ok(format!("removed {id} ({node}) from the cluster\n"));
            }
            // Ask a node that stays: the drained one stops answering for the cluster.
            let via = nodes
                .iter()
                .find(|n| n.id != id)
                .map(|n| n.addr.clone())
                .unwrap_or(from.clone());
            ask(&via, password, &["CLUSTER", "DRAIN", &id]).await?;
            let moved = wait_moves(&via, password).await?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while text(&via, password, &["CLUSTER", "NODES"])
                .await?
                .contains(&id)
            {
                if std::time::Instant::now() > deadline {
                    return Err(format!("{id} drained but did not leave within 30 s"));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(format!("{moved}drained and removed {id} ({node})\n"))
        }
        ClusterCommand::MoveSlots {
            slots,
            key,
            to,
            via,
            no_wait,
            password,
        } => {
            let password = password.as_deref();
            let pairs = match (&slots, &key) {
                (_, Some(k)) => {
                    let slot = placement::slot::key_slot(k.as_bytes()).to_string();
                    vec![slot.clone(), slot]
                }
                (Some(s), None) => slot_pairs(s)?,
                (None, None) => return Err("give --slots or --key".into()),
            };
            let id = node_id(&to, &via, password).await?;
            let mut args = vec!["CLUSTER", "MOVESLOTS", &id];
            args.extend(pairs.iter().map(String::as_str));
            ask(&via, password, &args).await?;
            if no_wait {
                return Ok(format!("moving {} range(s) to {id}\n", pairs.len() / 2));
            }
            wait_moves(&via, password).await
        }
        ClusterCommand::Rebalance {
            node,
            no_wait,
            password,
        } => {
            let password = password.as_deref();
            ask(&node, password, &["CLUSTER", "REBALANCE"]).await?;
            let info = text(&node, password, &["CLUSTER", "INFO"]).await?;
            let moving = info_field(&info, "cluster_slots_moving")
                .unwrap_or("0")
                .to_string();
            if no_wait {
                return Ok(format!("rebalancing: {moving} slot(s) to move\n"));
            }
            wait_moves(&node, password).await
        }
        ClusterCommand::CancelMoves { node, password } => {
            ask(&node, password.as_deref(), &["CLUSTER", "CANCELMOVES"]).await?;
            Ok("every pending move cancelled\n".into())
        }
        ClusterCommand::PauseMoves { node, password } => {
            ask(&node, password.as_deref(), &["CLUSTER", "PAUSEMOVES"]).await?;
            Ok("slot moves paused (resume-moves goes on)\n".into())
        }
        ClusterCommand::ResumeMoves { node, password } => {
            ask(&node, password.as_deref(), &["CLUSTER", "RESUMEMOVES"]).await?;
            Ok("slot moves resumed\n".into())
        }
        ClusterCommand::Check { .. } => unreachable!("answered by run"),
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
                "cluster_state: {}  epoch: {}  nodes: {}  slots assigned: {}  slots moving: {}\n",
                field("cluster_state"),
                field("cluster_current_epoch"),
                field("cluster_known_nodes"),
                field("cluster_slots_assigned"),
                field("cluster_slots_moving"),
            );
            for n in parse_nodes(&nodes) {
                // Consistent hashing scatters slots: list the ranges only when they are few.
                let ranges = if n.flags.contains("slave") {
                    format!("replica of {}", n.primary)
                } else if n.ranges.len() <= 6 {
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
                // A primary moving slots away: what its migration has done so far.
                if n.flags.contains("master") && !n.flags.contains("fail") {
                    let m = text(&n.addr, password.as_deref(), &["CLUSTER", "MIGRATIONS"])
                        .await
                        .unwrap_or_default();
                    let f = |name: &str| info_field(&m, name).unwrap_or("0").to_string();
                    if f("migrating_slots") != "0" || f("migration_drivers") != "0" {
                        out += &format!(
                            "    moving {} slot(s) away{}: {} moved, {} keys and {} bytes sent, longest pause {} us, {} failure(s)\n",
                            f("migrating_slots"),
                            if f("migrations_paused") == "1" {
                                " (PAUSED: resume-moves goes on)"
                            } else {
                                ""
                            },
                            f("migration_slots_moved"),
                            f("migration_keys_sent"),
                            f("migration_bytes_sent"),
                            f("migration_max_pause_us"),
                            f("migration_failures"),
                        );
                    }
                }
            }
            Ok(out)
        }
    }
}
