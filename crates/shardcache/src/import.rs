//! `shardcache import SOURCE --to HOST:PORT`: cache warming from a `dump.rdb` file or a live
//! Redis (`redis://[:password@]host:port`), into one node or a whole cluster.
//!
//! Keys travel as DUMP payloads and land with `RESTORE ... ABSTTL`, so values, types and
//! TTLs arrive as they were. A live source is read with SCAN and pipelined DUMP + PTTL (its
//! payloads are passed through untouched); a file is read with the `rdb` crate and each value
//! encoded as a payload. The target's topology comes from CLUSTER SLOTS (a node outside
//! cluster mode takes everything): keys are grouped by the node that owns their slot, and
//! each node gets its own pipelined RESTORE stream, all in parallel.
//!
//! `--priority-keys FILE` (one key or glob pattern a line) sends those keys first — the
//! ones an application needs warm before it switches over. A key that fails is counted and
//! reported, never fatal to the rest; the exit status says whether any failed.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use resp::Frame;
use server::peer::Peer;
use tokio::sync::mpsc;

#[derive(Args)]
pub struct ImportArgs {
    /// A dump.rdb file, or a live Redis: redis://[:password@]host:port
    source: String,
    /// Any node of the target (a single node, or a member of a cluster), host:port.
    #[arg(long)]
    to: String,
    /// Password of the target's nodes.
    #[arg(long, env = "SHARDCACHE_REQUIREPASS")]
    password: Option<String>,
    /// Overwrite keys that already exist on the target (else they are skipped and counted).
    #[arg(long)]
    replace: bool,
    /// keep: keys keep their TTL (already expired ones are skipped); drop: no TTL.
    #[arg(long, value_enum, default_value = "keep")]
    ttl_policy: TtlPolicy,
    /// Only keys matching this glob pattern.
    #[arg(long = "match")]
    pattern: Option<String>,
    /// A file of keys or glob patterns, one a line, imported before everything else.
    #[arg(long)]
    priority_keys: Option<PathBuf>,
    /// RESTOREs in flight per node.
    #[arg(long, default_value_t = 256)]
    pipeline: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TtlPolicy {
    Keep,
    Drop,
}

/// One key on its way: its DUMP payload and absolute expiry.
struct Record {
    key: Vec<u8>,
    payload: Vec<u8>,
    expire_at_ms: Option<u64>,
}

/// What happened, counted as it happens (read by the progress line and the summary).
#[derive(Default)]
struct Counters {
    read: AtomicU64,
    imported: AtomicU64,
    bytes: AtomicU64,
    exists: AtomicU64,
    expired: AtomicU64,
    filtered: AtomicU64,
    other_db: AtomicU64,
    unsupported: AtomicU64,
    failed: AtomicU64,
    /// The first errors, for the summary.
    errors: Mutex<Vec<String>>,
    /// Bytes of the source read so far and its size (file), or keys and DBSIZE (live).
    done_units: AtomicU64,
    total_units: AtomicU64,
}

impl Counters {
    fn error(&self, msg: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut e = self.errors.lock().expect("errors lock");
        if e.len() < 10 {
            e.push(msg);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where keys go: one sender per target node, and which node owns each slot.
struct Targets {
    senders: Vec<mpsc::Sender<Record>>,
    addrs: Vec<String>,
    /// `None`: a single node outside cluster mode.
    slot_owner: Option<Vec<usize>>,
}

impl Targets {
    async fn send(&self, r: Record) -> bool {
        let i = match &self.slot_owner {
            None => 0,
            Some(owners) => owners[placement::slot::key_slot(&r.key) as usize],
        };
        self.senders[i].send(r).await.is_ok()
    }
}

/// The target's nodes: from CLUSTER SLOTS, or the node itself outside cluster mode.
async fn discover(
    to: &str,
    password: Option<&str>,
) -> Result<(Vec<String>, Option<Vec<usize>>), String> {
    let mut peer = Peer::connect(to, password)
        .await
        .map_err(|e| format!("cannot reach {to}: {e}"))?;
    let slots = peer
        .call(&["CLUSTER", "SLOTS"])
        .await
        .map_err(|e| format!("{to}: {e}"))?;
    let ranges = match slots {
        Err(e) if e.contains("cluster support disabled") => {
            return Ok((vec![to.to_string()], None))
        }
        Err(e) => return Err(format!("{to}: CLUSTER SLOTS: {e}")),
        Ok(Frame::Array(r)) => r,
        Ok(other) => return Err(format!("{to}: unexpected CLUSTER SLOTS reply {other:?}")),
    };
    let mut addrs: Vec<String> = Vec::new();
    let mut owners = vec![usize::MAX; placement::slot::SLOTS as usize];
    for r in ranges {
        let Frame::Array(parts) = r else { continue };
        let (Some(Frame::Integer(a)), Some(Frame::Integer(b)), Some(Frame::Array(primary))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let host = primary.first().and_then(Frame::as_text).unwrap_or_default();
        let Some(Frame::Integer(port)) = primary.get(1) else {
            continue;
        };
        let host = if host.is_empty() {
            to.rsplit_once(':')
                .map_or("127.0.0.1", |(h, _)| h)
                .to_string()
        } else {
            host
        };
        let addr = format!("{host}:{port}");
        let i = match addrs.iter().position(|x| *x == addr) {
            Some(i) => i,
            None => {
                addrs.push(addr);
                addrs.len() - 1
            }
        };
        for s in *a..=*b {
            if let Some(o) = owners.get_mut(s as usize) {
                *o = i;
            }
        }
    }
    if owners.contains(&usize::MAX) {
        return Err(format!(
            "{to}: the cluster does not serve every slot (CLUSTERDOWN?)"
        ));
    }
    Ok((addrs, Some(owners)))
}

/// One node's RESTORE stream: batches of up to `pipeline` keys, replies counted.
async fn restore_stream(
    addr: String,
    password: Option<String>,
    mut rx: mpsc::Receiver<Record>,
    pipeline: usize,
    replace: bool,
    counters: Arc<Counters>,
) {
    let mut peer = match Peer::connect(&addr, password.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            counters.error(format!("{addr}: cannot connect: {e}"));
            while rx.recv().await.is_some() {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
    };
    let mut batch = Vec::with_capacity(pipeline);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < pipeline {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        for r in &batch {
            let ttl = r.expire_at_ms.map_or("0".to_string(), |t| t.to_string());
            let mut args: Vec<&[u8]> = vec![b"RESTORE", &r.key, ttl.as_bytes(), &r.payload];
            if r.expire_at_ms.is_some() {
                args.push(b"ABSTTL");
            }
            if replace {
                args.push(b"REPLACE");
            }
            peer.queue(&args);
        }
        if let Err(e) = peer.flush().await {
            counters.error(format!("{addr}: {e}"));
            return;
        }
        for r in batch.drain(..) {
            match peer.reply().await {
                Ok(Ok(_)) => {
                    counters.imported.fetch_add(1, Ordering::Relaxed);
                    counters
                        .bytes
                        .fetch_add((r.key.len() + r.payload.len()) as u64, Ordering::Relaxed);
                }
                Ok(Err(e)) if e.starts_with("BUSYKEY") => {
                    counters.exists.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => counters.error(format!(
                    "{addr}: key '{}': {e}",
                    String::from_utf8_lossy(&r.key)
                )),
                Err(e) => {
                    counters.error(format!("{addr}: {e}"));
                    return;
                }
            }
        }
    }
}

/// Keys or glob patterns to send first.
fn priority_patterns(path: &Option<PathBuf>) -> Result<Vec<Vec<u8>>, String> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.is_empty())
        .collect())
}

fn matches_any(patterns: &[Vec<u8>], key: &[u8]) -> bool {
    patterns.iter().any(|p| store::glob::matches(p, key, false))
}

/// Which keys a pass takes: the priority ones, or all but them.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Priority,
    Rest,
}

/// Reads a dump.rdb, once per pass.
async fn from_file(
    path: PathBuf,
    args: &ImportArgs,
    priority: &[Vec<u8>],
    targets: &Targets,
    counters: &Counters,
) -> Result<(), String> {
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let passes: &[Pass] = if priority.is_empty() {
        &[Pass::Rest]
    } else {
        &[Pass::Priority, Pass::Rest]
    };
    counters
        .total_units
        .store(size * passes.len() as u64, Ordering::Relaxed);
    let mut reported_skips = HashSet::new();
    for (n, pass) in passes.iter().enumerate() {
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut reader = rdb::read::Reader::new(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        loop {
            let item = reader
                .next_item()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            counters
                .done_units
                .store(size * n as u64 + reader.offset(), Ordering::Relaxed);
            let Some(item) = item else { break };
            let entry = match item {
                rdb::read::Item::Entry(e) => e,
                rdb::read::Item::Aux(..) | rdb::read::Item::SizeHint { .. } => continue,
                rdb::read::Item::Function(_) => {
                    if *pass == Pass::Rest && reported_skips.insert("function".into()) {
                        eprintln!("warning: function libraries not imported (load them with FUNCTION RESTORE)");
                    }
                    continue;
                }
                rdb::read::Item::Skipped { what, key } => {
                    if *pass == Pass::Rest {
                        counters.unsupported.fetch_add(1, Ordering::Relaxed);
                        if reported_skips.insert(what.clone()) {
                            eprintln!(
                                "warning: {what} not imported (this server does not hold them){}",
                                key.map(|k| format!(
                                    ", e.g. key '{}'",
                                    String::from_utf8_lossy(&k)
                                ))
                                .unwrap_or_default()
                            );
                        }
                    }
                    continue;
                }
            };
            let is_priority = matches_any(priority, &entry.key);
            if (*pass == Pass::Priority) != is_priority {
                continue;
            }
            counters.read.fetch_add(1, Ordering::Relaxed);
            if entry.db != 0 {
                counters.other_db.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(p) = &args.pattern {
                if !store::glob::matches(p.as_bytes(), &entry.key, false) {
                    counters.filtered.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let Some(expire_at_ms) = expiry(args.ttl_policy, entry.expire_ms, counters) else {
                continue;
            };
            let record = Record {
                payload: rdb::dump::encode(&entry.value),
                key: entry.key,
                expire_at_ms,
            };
            if !targets.send(record).await {
                return Err("the target connections closed".into());
            }
        }
    }
    Ok(())
}

/// The expiry to restore with: `None` to skip the key (expired), `Some(None)` for no TTL.
fn expiry(policy: TtlPolicy, at: Option<u64>, counters: &Counters) -> Option<Option<u64>> {
    match (policy, at) {
        (TtlPolicy::Drop, _) | (TtlPolicy::Keep, None) => Some(None),
        (TtlPolicy::Keep, Some(at)) if at <= now_ms() => {
            counters.expired.fetch_add(1, Ordering::Relaxed);
            None
        }
        (TtlPolicy::Keep, Some(at)) => Some(Some(at)),
    }
}

/// A live Redis: `redis://[:password@]host:port`.
fn parse_url(url: &str) -> Result<(String, Option<String>), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url}: not redis://host:port"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once('@') {
        Some((auth, addr)) => {
            let password = auth.split_once(':').map_or(auth, |(_, p)| p);
            Ok((addr.to_string(), Some(password.to_string())))
        }
        None => Ok((rest.to_string(), None)),
    }
}

/// SCANs a live Redis, with pipelined DUMP + PTTL for each batch of keys.
async fn from_live(
    url: &str,
    args: &ImportArgs,
    priority: &[Vec<u8>],
    targets: &Targets,
    counters: &Counters,
) -> Result<(), String> {
    let (addr, password) = parse_url(url)?;
    let mut src = Peer::connect(&addr, password.as_deref())
        .await
        .map_err(|e| format!("cannot reach the source {addr}: {e}"))?;
    if let Ok(Ok(Frame::Integer(n))) = src.call(&["DBSIZE"]).await {
        counters.total_units.store(n as u64, Ordering::Relaxed);
    }
    let mut scans: Vec<(Pass, Vec<u8>)> = priority
        .iter()
        .map(|p| (Pass::Priority, p.clone()))
        .collect();
    let all = args
        .pattern
        .clone()
        .unwrap_or_else(|| "*".into())
        .into_bytes();
    scans.push((Pass::Rest, all));
    let mut sent_first: HashSet<Vec<u8>> = HashSet::new();
    for (pass, pattern) in scans {
        let mut cursor = b"0".to_vec();
        loop {
            let reply = src
                .call(&[&b"SCAN"[..], &cursor, b"MATCH", &pattern, b"COUNT", b"1000"])
                .await
                .map_err(|e| format!("source: {e}"))?
                .map_err(|e| format!("source SCAN: {e}"))?;
            let Frame::Array(parts) = reply else {
                return Err("source: unexpected SCAN reply".into());
            };
            let (Some(Frame::Bulk(next)), Some(Frame::Array(keys))) = (parts.first(), parts.get(1))
            else {
                return Err("source: unexpected SCAN reply".into());
            };
            let mut batch = Vec::new();
            for k in keys {
                let Frame::Bulk(k) = k else { continue };
                match pass {
                    Pass::Priority => {
                        if !sent_first.insert(k.clone()) {
                            continue;
                        }
                    }
                    Pass::Rest => {
                        if matches_any(priority, k) {
                            continue;
                        }
                        if let Some(p) = &args.pattern {
                            if !store::glob::matches(p.as_bytes(), k, false) {
                                counters.filtered.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    }
                }
                batch.push(k.clone());
            }
            for k in &batch {
                src.queue(&[&b"DUMP"[..], k]);
                src.queue(&[&b"PTTL"[..], k]);
            }
            src.flush().await.map_err(|e| format!("source: {e}"))?;
            let now = now_ms();
            for key in batch {
                let dump = src.reply().await.map_err(|e| format!("source: {e}"))?;
                let pttl = src.reply().await.map_err(|e| format!("source: {e}"))?;
                counters.read.fetch_add(1, Ordering::Relaxed);
                counters.done_units.fetch_add(1, Ordering::Relaxed);
                let payload = match dump {
                    Ok(Frame::Bulk(p)) => p,
                    Ok(_) => continue, // gone since SCAN saw it
                    Err(e) => {
                        counters.error(format!(
                            "source DUMP '{}': {e}",
                            String::from_utf8_lossy(&key)
                        ));
                        continue;
                    }
                };
                let at = match pttl {
                    Ok(Frame::Integer(ms)) if ms >= 0 => Some(now + ms as u64),
                    Ok(Frame::Integer(-2)) => continue, // expired meanwhile
                    _ => None,
                };
                let Some(expire_at_ms) = expiry(args.ttl_policy, at, counters) else {
                    continue;
                };
                if !targets
                    .send(Record {
                        key,
                        payload,
                        expire_at_ms,
                    })
                    .await
                {
                    return Err("the target connections closed".into());
                }
            }
            cursor = next.clone();
            if cursor == b"0" {
                break;
            }
        }
    }
    Ok(())
}

fn progress_line(c: &Counters, started: Instant) -> String {
    let imported = c.imported.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = imported as f64 / secs;
    let (done, total) = (
        c.done_units.load(Ordering::Relaxed),
        c.total_units.load(Ordering::Relaxed),
    );
    let eta = if total > 0 && done > 0 && done < total {
        let left = secs * (total - done) as f64 / done as f64;
        format!(", ETA {}:{:02}", left as u64 / 60, left as u64 % 60)
    } else {
        String::new()
    };
    format!(
        "imported {imported} keys ({:.1} MB), {rate:.0} keys/s{eta}",
        c.bytes.load(Ordering::Relaxed) as f64 / 1_048_576.0
    )
}

pub fn run(args: ImportArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start tokio runtime");
    match runtime.block_on(import(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("shardcache import: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the import; `Ok(false)` when some keys failed.
async fn import(args: ImportArgs) -> Result<bool, String> {
    let started = Instant::now();
    let priority = priority_patterns(&args.priority_keys)?;
    let (addrs, slot_owner) = discover(&args.to, args.password.as_deref()).await?;
    let counters = Arc::new(Counters::default());
    let mut senders = Vec::new();
    let mut streams = Vec::new();
    for addr in &addrs {
        let (tx, rx) = mpsc::channel(args.pipeline.max(1) * 4);
        senders.push(tx);
        streams.push(tokio::spawn(restore_stream(
            addr.clone(),
            args.password.clone(),
            rx,
            args.pipeline.max(1),
            args.replace,
            counters.clone(),
        )));
    }
    let targets = Targets {
        senders,
        addrs: addrs.clone(),
        slot_owner,
    };
    let tty = std::io::stderr().is_terminal();
    let ticker = {
        let c = counters.clone();
        tokio::spawn(async move {
            if !tty {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                eprint!("\r\x1b[2K{}", progress_line(&c, started));
                let _ = std::io::stderr().flush();
            }
        })
    };
    let result = if args.source.starts_with("redis://") {
        from_live(&args.source, &args, &priority, &targets, &counters).await
    } else {
        from_file(
            PathBuf::from(&args.source),
            &args,
            &priority,
            &targets,
            &counters,
        )
        .await
    };
    drop(targets.senders);
    for s in streams {
        let _ = s.await;
    }
    ticker.abort();
    if tty {
        eprintln!("\r\x1b[2K{}", progress_line(&counters, started));
    }
    result?;
    let c = &counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {} of {} keys read ({:.1} MB) into {} node(s) in {secs:.1} s ({:.0} keys/s)",
        load(&c.imported),
        load(&c.read),
        load(&c.bytes) as f64 / 1_048_576.0,
        targets.addrs.len(),
        load(&c.imported) as f64 / secs.max(0.001)
    );
    println!(
        "skipped: {} already existed{}, {} expired, {} filtered by --match, {} in other databases, {} of unsupported types",
        load(&c.exists),
        if args.replace { "" } else { " (use --replace to overwrite)" },
        load(&c.expired),
        load(&c.filtered),
        load(&c.other_db),
        load(&c.unsupported)
    );
    let failed = load(&c.failed);
    println!("failed: {failed}");
    for e in c.errors.lock().expect("errors lock").iter() {
        println!("  {e}");
    }
    Ok(failed == 0)
}
