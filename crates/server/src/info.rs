//! INFO: Redis's sections and field names, so redis-cli, exporters and dashboards read it.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::Shared;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Redis's `bytesToHuman`.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if d < K {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else {
        format!("{:.2}T", d / (K * K * K * K))
    }
}

/// Total commands processed so far.
pub fn total_commands(shared: &Shared) -> u64 {
    shared
        .table
        .stats
        .iter()
        .map(|s| s.calls.load(Ordering::Relaxed))
        .sum()
}

/// Renders the requested sections (`default` when none, `all`/`everything` for all).
pub fn render(shared: &Shared, requested: &[String]) -> String {
    let wanted: Vec<&str> = if requested.is_empty() || requested.iter().any(|s| s == "default") {
        DEFAULT_SECTIONS.to_vec()
    } else if requested.iter().any(|s| s == "all" || s == "everything") {
        ALL_SECTIONS.to_vec()
    } else {
        ALL_SECTIONS
            .iter()
            .copied()
            .filter(|s| requested.iter().any(|r| r == s))
            .collect()
    };
    let mut wanted = wanted;
    // Shard-Cache's own figures, only when asked for by name (the admin API reads other
    // nodes' this way).
    if requested.iter().any(|s| s == "shardcache") {
        wanted.push("shardcache");
    }
    let mut out = String::new();
    for (i, section) in wanted.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        write_section(shared, section, &mut out);
    }
    out
}

fn write_section(shared: &Shared, section: &str, o: &mut String) {
    let uptime = shared.uptime();
    match section {
        "server" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = write!(
                o,
                "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nshardcache_version:{}\r\n",
                shared.live.compat_version,
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                shared.run_id,
                shared.live.port.load(Ordering::Relaxed),
                now.as_micros(),
                uptime.as_secs(),
                uptime.as_secs() / 86400,
                shared.live.hz.load(Ordering::Relaxed),
                shared.live.hz.load(Ordering::Relaxed),
                now.as_secs() & ((1 << 24) - 1),
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                shared
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                crate::VERSION,
            );
        }
        "clients" => {
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
                shared.clients.connected(),
                shared.live.maxclients.load(Ordering::Relaxed),
                shared.blocking.count(),
                shared.tracking.clients(),
            );
        }
        "memory" => {
            let used = shared.memory_in_use();
            let peak = shared.peak_memory.load(Ordering::Relaxed).max(used);
            let rss = crate::rss_bytes();
            let max = shared.live.maxmemory.load(Ordering::Relaxed);
            let dataset = shared.keyspace.used_bytes();
            let startup = shared.startup_memory.load(Ordering::Relaxed);
            let overhead = used.saturating_sub(dataset);
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{overhead}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 },
                if used > startup {
                    dataset as f64 * 100.0 / (used - startup) as f64
                } else {
                    0.0
                },
            );
            // jemalloc's own view (refreshed now): allocated < active < resident < rss.
            use tikv_jemalloc_ctl::{epoch, stats};
            let _ = epoch::advance();
            let allocated = stats::allocated::read().unwrap_or(0) as u64;
            let active = stats::active::read().unwrap_or(0) as u64;
            let resident = stats::resident::read().unwrap_or(0) as u64;
            let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
            let total_system = system_memory();
            let clients: u64 = shared
                .clients
                .all()
                .iter()
                .map(|c| {
                    (c.query_buffer.load(Ordering::Relaxed)
                        + c.output_memory.load(Ordering::Relaxed)) as u64
                })
                .sum();
            // One Lua VM holds scripts and functions: it is reported as the EVAL VM.
            let sm = &shared.script_memory;
            let vm = sm.vm.load(Ordering::Relaxed);
            let vm_human = human_bytes(vm);
            let scripts_bytes = sm.scripts_bytes.load(Ordering::Relaxed);
            let cached = sm.cached_scripts.load(Ordering::Relaxed);
            let functions = sm.functions.load(Ordering::Relaxed);
            let libraries = sm.libraries.load(Ordering::Relaxed);
            let functions_bytes = sm.functions_bytes.load(Ordering::Relaxed);
            let all_scripts = scripts_bytes + functions_bytes;
            let all_scripts_human = human_bytes(all_scripts);
            let _ = write!(
                o,
                "allocator_allocated:{allocated}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\ntotal_system_memory:{total_system}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{vm}\r\nused_memory_vm_eval:{vm}\r\nused_memory_lua_human:{vm_human}\r\nused_memory_scripts_eval:{scripts_bytes}\r\nnumber_of_cached_scripts:{cached}\r\nnumber_of_functions:{functions}\r\nnumber_of_libraries:{libraries}\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:{vm}\r\nused_memory_vm_total_human:{vm_human}\r\nused_memory_functions:{functions_bytes}\r\nused_memory_scripts:{all_scripts}\r\nused_memory_scripts_human:{all_scripts_human}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{clients}\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:jemalloc\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
                human_bytes(total_system),
                human_bytes(max),
                shared.live.policy().name(),
                ratio(active, allocated),
                active as i64 - allocated as i64,
                ratio(resident, active),
                resident as i64 - active as i64,
                ratio(rss, resident),
                rss as i64 - resident as i64,
                ratio(rss, used),
                rss as i64 - used as i64,
                shared.stats.lazyfree.pending.load(Ordering::Relaxed),
                shared.stats.lazyfree.freed.load(Ordering::Relaxed),
            );
        }
        "persistence" => crate::persist::info(shared, o),
        "stats" => {
            let ks = shared.keyspace.stats();
            let st = &shared.stats;
            let tracked = shared.tracking.totals();
            let repl = {
                let r = shared.replication.state();
                (
                    r.full_syncs_served,
                    r.partial_syncs_served,
                    r.partial_syncs_refused,
                )
            };
            let (ops, in_kbps, out_kbps) = shared_rates(shared);
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{ops}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{in_kbps:.2}\r\ninstantaneous_output_kbps:{out_kbps:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_error_replies:{}\r\nunexpected_error_replies:0\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\nacl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\nacl_access_denied_channel:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\npubsubshard_channels:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\ntotal_net_repl_input_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\n",
                st.total_connections_received.load(Ordering::Relaxed),
                total_commands(shared),
                st.net_input_bytes.load(Ordering::Relaxed),
                st.net_output_bytes.load(Ordering::Relaxed),
                st.rejected_connections.load(Ordering::Relaxed),
                ks.expired,
                ks.evicted,
                ks.hits,
                ks.misses,
                shared.pubsub.numchannels(),
                shared.pubsub.numpat(),
                st.total_error_replies.load(Ordering::Relaxed),
                st.client_query_buffer_limit_disconnections.load(Ordering::Relaxed),
                st.client_output_buffer_limit_disconnections.load(Ordering::Relaxed),
                st.acl_access_denied_auth.load(Ordering::Relaxed),
                st.acl_access_denied_cmd.load(Ordering::Relaxed),
                st.acl_access_denied_key.load(Ordering::Relaxed),
                st.acl_access_denied_channel.load(Ordering::Relaxed),
                shared.pubsub.shard_channels(None).len(),
                st.expire_cycle_micros.load(Ordering::Relaxed) / 1000,
                tracked.0,
                tracked.1,
                tracked.2,
                st.reads_processed.load(Ordering::Relaxed),
                st.writes_processed.load(Ordering::Relaxed),
                repl.0,
                repl.1,
                repl.2,
                st.net_repl_input_bytes.load(Ordering::Relaxed),
                st.net_repl_output_bytes.load(Ordering::Relaxed),
            );
        }
        "replication" => {
            let backlog = crate::tunables::find("repl-backlog-size")
                .map(|t| shared.live.tunables.get(t))
                .unwrap_or_default();
            let read_only = crate::tunables::find("replica-read-only")
                .is_some_and(|t| shared.live.tunables.get(t) == "yes");
            crate::replication::info(shared, &backlog, read_only, o);
        }
        "cpu" => {
            let (user, sys) = crate::stats::cpu_times();
            let (thread_user, thread_sys) = crate::stats::thread_cpu_times();
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{:.6}\r\nused_cpu_user_main_thread:{:.6}\r\n",
                sys.as_secs_f64(),
                user.as_secs_f64(),
                thread_sys.as_secs_f64(),
                thread_user.as_secs_f64()
            );
        }
        "modules" => o.push_str("# Modules\r\n"),
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            for (c, s) in shared.table.commands.iter().zip(&shared.table.stats) {
                let calls = s.calls.load(Ordering::Relaxed);
                let rejected = s.rejected.load(Ordering::Relaxed);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let usec = s.nanos.load(Ordering::Relaxed) / 1000;
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={}\r\n",
                    c.meta.name,
                    s.failed.load(Ordering::Relaxed)
                );
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            let errors = shared.stats.errors.lock();
            let mut codes: Vec<_> = errors.iter().collect();
            codes.sort();
            for (code, n) in codes {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "cluster" => {
            let _ = write!(
                o,
                "# Cluster\r\ncluster_enabled:{}\r\n",
                u8::from(shared.cluster.is_some())
            );
        }
        "shardcache" => {
            o.push_str("# Shardcache\r\n");
            if let Some((p50, p99)) = shared.recent_latency.percentiles() {
                let _ = write!(o, "latency_p50_ms:{p50}\r\nlatency_p99_ms:{p99}\r\n");
            }
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            let (keys, expires) = shared.keyspace.counts();
            if keys > 0 {
                let _ = write!(o, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        _ => {}
    }
}

/// Recent ops/s and network kbps, from the housekeeping sampler.
fn shared_rates(shared: &Shared) -> (u64, f64, f64) {
    let r = shared.rates.lock();
    (r.ops_per_sec, r.input_kbps, r.output_kbps)
}

/// Instantaneous rates as Redis computes them: the mean of the last 16 samples taken every
/// 100 ms.
#[derive(Debug, Default)]
pub struct Rates {
    samples: std::collections::VecDeque<(std::time::Instant, u64, u64, u64)>,
    pub ops_per_sec: u64,
    pub input_kbps: f64,
    pub output_kbps: f64,
}

impl Rates {
    pub fn sample(&mut self, ops: u64, input: u64, output: u64) {
        let now = std::time::Instant::now();
        self.samples.push_back((now, ops, input, output));
        if self.samples.len() > 17 {
            self.samples.pop_front();
        }
        if let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) {
            let secs = last.0.duration_since(first.0).as_secs_f64();
            if secs > 0.0 {
                self.ops_per_sec = (last.1.saturating_sub(first.1) as f64 / secs) as u64;
                self.input_kbps = last.2.saturating_sub(first.2) as f64 / secs / 1024.0;
                self.output_kbps = last.3.saturating_sub(first.3) as f64 / secs / 1024.0;
            }
        }
    }
}

/// The machine's memory (`/proc/meminfo` MemTotal), 0 if unknown.
fn system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
