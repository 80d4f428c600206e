//! CLUSTER INFO / MYID / MYSHARDID / KEYSLOT / COUNTKEYSINSLOT / GETKEYSINSLOT / SLOTS /
//! SHARDS / NODES / LINKS / HELP, and READONLY / READWRITE, in Redis 7's formats; moving
//! slots (SETSLOT, ADDSLOTS, ..., ASKING) in [`moving`].
//! Without `--cluster-enabled` they answer Redis's "cluster support disabled" error.

use std::sync::Arc;

use placement::topology::{shard_hex, Topology};
use resp::Args;

use crate::cluster::ClusterState;
use crate::command::{Ctx, Handler};
use crate::error::{CmdError, CmdResult};

mod digests;
mod moving;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("cluster|info", info),
    ("cluster|myid", myid),
    ("cluster|myshardid", myshardid),
    ("cluster|keyslot", keyslot),
    ("cluster|countkeysinslot", countkeysinslot),
    ("cluster|getkeysinslot", getkeysinslot),
    ("cluster|slots", slots),
    ("cluster|shards", shards),
    ("cluster|nodes", nodes),
    ("cluster|links", links),
    ("cluster|help", help),
    ("cluster|meet", meet),
    ("cluster|forget", forget),
    ("cluster|replicas", replicas),
    ("cluster|slaves", replicas),
    ("cluster|failover", failover),
    ("cluster|replicate", replicate),
    ("readonly", readonly),
    ("readwrite", readwrite),
    ("asking", moving::asking),
    ("cluster|setslot", moving::setslot),
    ("cluster|addslots", moving::addslots),
    ("cluster|addslotsrange", moving::addslotsrange),
    ("cluster|delslots", moving::delslots),
    ("cluster|delslotsrange", moving::delslotsrange),
    ("cluster|moveslots", moving::moveslots),
    ("cluster|rebalance", moving::rebalance),
    ("cluster|drain", moving::drain),
    ("cluster|cancelmoves", moving::cancelmoves),
    ("cluster|pausemoves", moving::pausemoves),
    ("cluster|resumemoves", moving::resumemoves),
    ("cluster|migrations", moving::migrations),
    ("cluster|digests", digests::digests),
    ("cluster|reset", reset),
    ("cluster|saveconfig", not_here),
    ("cluster|bumpepoch", not_here),
    ("cluster|flushslots", not_here),
    ("cluster|set-config-epoch", not_here),
    ("cluster|count-failure-reports", count_failure_reports),
];

pub(super) fn state<'a>(ctx: &Ctx<'a>) -> Result<&'a ClusterState, CmdError> {
    ctx.shared
        .cluster
        .as_deref()
        .ok_or_else(|| CmdError::err("This instance has cluster support disabled"))
}

pub(super) fn topology(ctx: &Ctx<'_>) -> Result<Option<Arc<Topology>>, CmdError> {
    Ok(state(ctx)?.topology())
}

pub(super) fn slot_arg(a: &[u8]) -> Result<u16, CmdError> {
    resp::number::parse_i64(a)
        .filter(|s| (0..placement::slot::SLOTS as i64).contains(s))
        .map(|s| s as u16)
        .ok_or_else(|| CmdError::err("Invalid or out of range slot"))
}

/// READONLY: reads of this connection may be served by a replica of the key's shard.
fn readonly(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER REPLICAS node-id (and its old name SLAVES): the CLUSTER NODES lines of the
/// primary's replicas.
fn replicas(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let id = String::from_utf8_lossy(args.get(2)).into_owned();
    let t = c.topology();
    let Some(node) = t.as_ref().and_then(|t| t.node(&id)) else {
        return Err(CmdError::err(format!("Unknown node {id}")));
    };
    if !node.primary {
        return Err(CmdError::err("The specified node is not a master"));
    }
    let t = t.as_deref().expect("found the node in it");
    let text = nodes_text(c, t, ctx.client.tls);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            let mut f = l.split(' ');
            let line_id = f.next().unwrap_or_default();
            t.node(line_id)
                .is_some_and(|n| !n.primary && n.shard == node.shard)
        })
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

/// CLUSTER FAILOVER [FORCE | TAKEOVER], sent to a replica: it becomes its shard's primary.
/// By default without losing a write: the primary pauses its writers, this replica catches
/// up with the primary's offset, then the promotion is committed (the primary's paused
/// writers are then redirected here). FORCE and TAKEOVER promote at once, for a primary that
/// cannot be reached (every promotion is agreed through Raft, so they are the same here).
fn failover(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let control = control(ctx)?;
    not_in_transaction(ctx)?;
    let force = match args.len() {
        2 => false,
        3 if crate::cmd::is(args.get(2), "force") || crate::cmd::is(args.get(2), "takeover") => {
            true
        }
        _ => return Err(CmdError::Syntax),
    };
    let c = state(ctx)?;
    let Some(primary) = c.my_primary() else {
        return Err(CmdError::err(
            "You should send CLUSTER FAILOVER to a replica",
        ));
    };
    let myid = c.myid.clone();
    if force {
        ctx.client.pending = Some(crate::Pending::Reply(control.failover(myid)));
        return Ok(());
    }
    let shared = ctx.shared.arc();
    ctx.client.pending = Some(crate::Pending::Reply(Box::pin(async move {
        crate::replication::manual_failover(&shared, &primary).await?;
        control.failover(myid).await
    })));
    Ok(())
}

/// CLUSTER REPLICATE node-id: this replica follows another shard's primary from now on.
/// As in Redis, a primary cannot become a replica while it has slots — and here every primary
/// serves its share of slots (CLUSTER FAILOVER on its replica hands them over first).
fn replicate(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let control = control(ctx)?;
    not_in_transaction(ctx)?;
    let c = state(ctx)?;
    let id = String::from_utf8_lossy(args.get(2)).into_owned();
    let t = c.topology();
    let Some(target) = t.as_ref().and_then(|t| t.node(&id)) else {
        return Err(CmdError::err(format!("Unknown node {id}")));
    };
    if target.id == c.myid {
        return Err(CmdError::err("Can't replicate myself"));
    }
    if !target.primary {
        return Err(CmdError::err(
            "I can only replicate a master, not a replica.",
        ));
    }
    let me_primary = t
        .as_ref()
        .and_then(|t| t.node(&c.myid))
        .is_some_and(|me| me.primary);
    if me_primary {
        return Err(CmdError::err(
            "To set a master the node must be empty and without assigned slots.",
        ));
    }
    ctx.client.pending = Some(crate::Pending::Reply(control.replicate(c.myid.clone(), id)));
    Ok(())
}

fn info(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let t = c.topology();
    let (known, size, epoch) = match &t {
        Some(t) => (
            t.nodes.len(),
            t.shards()
                .iter()
                .filter(|s| !t.ranges(**s).is_empty())
                .count(),
            t.epoch,
        ),
        None => (1, 0, 0),
    };
    let cov = c.coverage();
    let (assigned, pfail, fail) = (cov.assigned, cov.pfail, cov.fail);
    let slots_ok = assigned - pfail - fail;
    let mut text = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{slots_ok}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{known}\r\ncluster_size:{size}\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        if cov.ok { "ok" } else { "fail" }
    );
    // Beyond Redis: slots moving with their keys (0 once every move has finished).
    text += &format!(
        "cluster_slots_moving:{}\r\n",
        t.as_ref().map_or(0, |t| t.moves.len())
    );
    // Beyond Redis: which member leads the Raft group that holds the topology.
    if let Some(leader) = c.leader() {
        text += &format!("cluster_raft_leader:{leader}\r\n");
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The cluster layer's membership operations (absent on a standalone cluster of one).
pub(super) fn control(
    ctx: &Ctx<'_>,
) -> Result<std::sync::Arc<dyn crate::cluster::Control>, CmdError> {
    state(ctx)?.control().cloned().ok_or_else(|| {
        CmdError::err("this node runs a standalone cluster of one and cannot change its membership")
    })
}

/// Membership changes wait for the cluster, which EXEC (all other clients held off) must not.
pub(super) fn not_in_transaction(ctx: &Ctx<'_>) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "CLUSTER MEET, FORGET and FAILOVER cannot run inside a transaction",
        ));
    }
    Ok(())
}

/// CLUSTER MEET ip port [cluster-bus-port]: adds the node listening there to the cluster
/// (through the Raft leader). Unlike Redis, where MEET only introduces nodes and slots are
/// assigned separately, the agreed planner gives the new node its share of slots, which
/// move to it with their keys.
fn meet(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let control = control(ctx)?;
    not_in_transaction(ctx)?;
    if args.len() > 5 {
        return Err(CmdError::Syntax);
    }
    let host = String::from_utf8_lossy(args.get(2)).into_owned();
    let port = resp::number::parse_i64(args.get(3));
    let bus = if args.len() == 5 {
        resp::number::parse_i64(args.get(4))
    } else {
        port.map(|p| p + 10000)
    };
    let (Some(port), Some(bus)) = (port, bus) else {
        return Err(CmdError::err(format!(
            "Invalid base port specified: {}",
            String::from_utf8_lossy(args.get(3))
        )));
    };
    if !(1..=65535).contains(&port) || !(1..=65535).contains(&bus) || host.is_empty() {
        return Err(CmdError::err(format!(
            "Invalid node address specified: {host}:{port}"
        )));
    }
    let outcome = control.meet(host, bus as u16);
    ctx.client.pending = Some(crate::Pending::Reply(Box::pin(async move {
        outcome.await.map(|_| ())
    })));
    Ok(())
}

/// CLUSTER FORGET node-id: removes the node from the cluster (through the Raft leader); its
/// slots go to the others. (Redis's FORGET only drops a node from one node's table.)
fn forget(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let control = control(ctx)?;
    not_in_transaction(ctx)?;
    let id = String::from_utf8_lossy(args.get(2)).into_owned();
    let known = topology(ctx)?.is_some_and(|t| t.node(&id).is_some());
    if !known {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    ctx.client.pending = Some(crate::Pending::Reply(control.forget(id)));
    Ok(())
}

/// CLUSTER RESET [HARD | SOFT]: Redis's checks, in Redis's order (a primary holding keys is
/// refused); then refused with the way to leave a cluster here, since membership is agreed
/// through Raft, not forgotten by one node (see [`not_here`]).
fn reset(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    if args.len() > 3 {
        return Err(CmdError::subcommand_syntax("CLUSTER", args.get(1)));
    }
    if args.len() == 3
        && !crate::cmd::is(args.get(2), "hard")
        && !crate::cmd::is(args.get(2), "soft")
    {
        return Err(CmdError::Syntax);
    }
    if c.my_primary().is_none() && !ctx.shared.keyspace.is_empty() {
        return Err(CmdError::err(
            "CLUSTER RESET can't be called with master nodes containing keys",
        ));
    }
    not_here(ctx, args)
}

/// Redis Cluster's node-local configuration commands (SAVECONFIG, BUMPEPOCH, FLUSHSLOTS,
/// SET-CONFIG-EPOCH, RESET): here the cluster's configuration is one Raft log — changed only
/// by agreed entries, written before they are acknowledged, with epochs that are Raft's —
/// so a node has nothing of its own to save, bump or flush. Without cluster mode they answer
/// "cluster support disabled", as Redis; with it, an error naming what to use instead.
fn not_here(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    let name = String::from_utf8_lossy(args.get(1)).to_uppercase();
    Err(CmdError::err(format!(
        "CLUSTER {name} is not supported: the cluster configuration is agreed through Raft and saved with every change; slots move with CLUSTER MOVESLOTS / DRAIN and nodes leave with `shardcache cluster remove-node`"
    )))
}

/// CLUSTER COUNT-FAILURE-REPORTS node-id: Redis's count of other primaries' gossip reports
/// that the node failed. Failures are not gossiped here (the Raft leader's probes decide, and
/// CLUSTER NODES shows `fail?` / `fail`), so a known node is refused with that, an unknown
/// one answered as Redis does.
fn count_failure_reports(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let id = String::from_utf8_lossy(args.get(2)).into_owned();
    if topology(ctx)?.is_none_or(|t| t.node(&id).is_none()) {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    Err(CmdError::err(
        "CLUSTER COUNT-FAILURE-REPORTS is not supported: failures are not gossiped; the Raft leader's probes decide them (CLUSTER NODES shows fail? and fail)",
    ))
}

fn myid(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let id = state(ctx)?.myid.clone();
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

fn myshardid(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let shard = state(ctx)?.myshard();
    ctx.out.bulk(shard_hex(shard).as_bytes());
    Ok(())
}

/// Works without cluster mode too, as in Redis.
fn keyslot(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    ctx.out.int(placement::slot::key_slot(args.get(2)) as i64);
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    let slot = slot_arg(args.get(2))?;
    let n = ctx.shared.keyspace.count_in_slot(slot);
    ctx.out.int(n as i64);
    Ok(())
}

fn getkeysinslot(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    state(ctx)?;
    let slot = resp::number::parse_i64(args.get(2));
    let count = resp::number::parse_i64(args.get(3));
    let (Some(slot), Some(count)) = (slot, count) else {
        return Err(CmdError::NotInteger);
    };
    if count < 0 || !(0..placement::slot::SLOTS as i64).contains(&slot) {
        return Err(CmdError::err("Invalid slot or number of keys"));
    }
    let keys = ctx
        .shared
        .keyspace
        .keys_in_slot(slot as u16, count as usize);
    ctx.out.array(keys.len());
    keys.iter().for_each(|k| ctx.out.bulk(k));
    Ok(())
}

fn slots(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let t = topology(ctx)?;
    let Some(t) = t else {
        ctx.out.array(0);
        return Ok(());
    };
    let mut entries = Vec::new();
    for shard in t.shards() {
        let members: Vec<_> = t.nodes.iter().filter(|n| n.shard == shard).collect();
        for (a, b) in t.ranges(shard) {
            entries.push((a, b, members.clone()));
        }
    }
    entries.sort_by_key(|e| e.0);
    ctx.out.array(entries.len());
    for (a, b, members) in entries {
        // The primary first, then replicas.
        let mut ordered = members.clone();
        ordered.sort_by_key(|n| !n.primary);
        ctx.out.array(2 + ordered.len());
        ctx.out.int(a as i64);
        ctx.out.int(b as i64);
        for n in ordered {
            ctx.out.array(4);
            ctx.out.bulk(n.host.as_bytes());
            ctx.out
                .int(crate::cluster::client_port(n, ctx.client.tls) as i64);
            ctx.out.bulk(n.id.as_bytes());
            ctx.out.array(0);
        }
    }
    Ok(())
}

/// CLUSTER SHARDS: each shard's slot ranges and nodes, with each node's replication offset
/// (this node's own; others' as last probed on the bus) and health (`failed` once a member
/// has not answered for a while, `loading` for this node while it loads).
fn shards(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let loading = ctx
        .shared
        .persistence
        .loading
        .load(std::sync::atomic::Ordering::Relaxed);
    let t = topology(ctx)?;
    let Some(t) = t else {
        ctx.out.array(0);
        return Ok(());
    };
    let shards = t.shards();
    ctx.out.array(shards.len());
    for shard in shards {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        let ranges = t.ranges(shard);
        ctx.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        let members: Vec<_> = t.nodes.iter().filter(|n| n.shard == shard).collect();
        ctx.out.array(members.len());
        for n in members {
            // A node with a TLS port also shows `tls-port` (Redis 7's field).
            ctx.out.map(7 + usize::from(n.tls_port != 0));
            ctx.out.bulk(b"id");
            ctx.out.bulk(n.id.as_bytes());
            ctx.out.bulk(b"port");
            ctx.out.int(n.port as i64);
            if n.tls_port != 0 {
                ctx.out.bulk(b"tls-port");
                ctx.out.int(n.tls_port as i64);
            }
            ctx.out.bulk(b"ip");
            ctx.out.bulk(n.host.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(n.host.as_bytes());
            ctx.out.bulk(b"role");
            ctx.out.bulk(if n.primary { b"master" } else { b"replica" });
            ctx.out.bulk(b"replication-offset");
            ctx.out.int(c.offset_of(&n.id) as i64);
            ctx.out.bulk(b"health");
            let health: &[u8] = if n.id == c.myid {
                if loading {
                    b"loading"
                } else {
                    b"online"
                }
            } else if c.reach(&n.id) == crate::cluster::Reach::Failed {
                b"failed"
            } else {
                b"online"
            };
            ctx.out.bulk(health);
        }
    }
    Ok(())
}

/// CLUSTER NODES's text: the topology with this node's view of who answers.
fn nodes_text(c: &ClusterState, t: &Topology, tls: bool) -> String {
    t.nodes_text(&c.myid, tls, |id| match c.reach(id) {
        crate::cluster::Reach::Ok => None,
        crate::cluster::Reach::Suspected => Some("fail?"),
        crate::cluster::Reach::Failed => Some("fail"),
    })
}

fn nodes(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    let c = state(ctx)?;
    let text = match c.topology() {
        Some(t) => nodes_text(c, &t, ctx.client.tls),
        None => String::new(),
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The cluster bus links: none while the node has no peers.
fn links(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    ctx.out.array(0);
    Ok(())
}

/// Redis answers even CLUSTER HELP with its "cluster support disabled" error outside cluster
/// mode.
fn help(ctx: &mut Ctx<'_>, _args: Args<'_>) -> CmdResult {
    state(ctx)?;
    crate::cmd::help(
        ctx.out,
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign unassigned slots to this node (every slot of a running cluster is assigned).",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign unassigned slot ranges to this node.",
            "CANCELMOVES",
            "    Cancel every pending slot move; the slots stay with their owners.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Refused: slots are never left unassigned (move them with MOVESLOTS).",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Refused: slots are never left unassigned (move them with MOVESLOTS).",
            "DRAIN <node-id>",
            "    Move every slot of a node away with its keys, then remove the node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster (its slots go to the other nodes).",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "MEET <ip> <port> [<bus-port>]",
            "    Add the node listening there to the cluster (its share of slots moves to it).",
            "MIGRATIONS",
            "    Return the pending slot moves and this node's migration progress.",
            "MOVESLOTS <node-id> <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Move slot ranges, with their keys, to the primary <node-id>.",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "PAUSEMOVES",
            "    Pause every pending slot move (slots stay served by their owners) until RESUMEMOVES.",
            "REBALANCE",
            "    Move the slots that differ from the planner's balanced table, with their keys.",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "RESUMEMOVES",
            "    Resume the slot moves PAUSEMOVES paused.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    NODE moves the slot with its keys; STABLE cancels its move; IMPORTING and",
            "    MIGRATING are the migration's own (use MOVESLOTS).",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "SLAVES <node-id>",
            "    Return <node-id> replicas.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
        ],
    );
    Ok(())
}
