//! DEBUG: the subcommands tools and test suites use — DIGEST and DIGEST-VALUE (Redis's
//! dataset digest, computed the same way), OBJECT, RELOAD, SLEEP, SET-ACTIVE-EXPIRE,
//! POPULATE, PROTOCOL, ERROR, LOG, PAUSE-CRON, CHANGE-REPL-ID, QUICKLIST-PACKED-THRESHOLD, HELP.
//! Crash and memory-poking subcommands (SEGFAULT, PANIC, OOM, LEAK, MALLCTL ...) are not
//! offered. As in Redis 7, `enable-debug-command` decides who may run it (here `local` by
//! default: clients on this machine).

use std::sync::atomic::Ordering;

use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn debug(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let sub = args.get(1);
    let n = args.len();
    match () {
        _ if is(sub, "help") && n == 2 => help(ctx),
        _ if is(sub, "digest") && n == 2 => {
            let d = crate::digest::dataset_digest(ctx.shared);
            ctx.out.simple(&crate::digest::hex(&d));
        }
        _ if is(sub, "digest-value") => {
            ctx.out.array(n - 2);
            for i in 2..n {
                let d = crate::digest::key_digest(ctx.shared, args.get(i)).unwrap_or([0; 20]);
                ctx.out.simple(&crate::digest::hex(&d));
            }
        }
        _ if is(sub, "object") && n == 3 => object(ctx, args.get(2))?,
        _ if is(sub, "htstats-key") && n == 3 => htstats_key(ctx, args.get(2))?,
        _ if is(sub, "reload") => reload(ctx, args)?,
        _ if is(sub, "loadaof") && n == 2 => loadaof(ctx)?,
        _ if is(sub, "sleep") && n == 3 => {
            // Redis stops its only thread; this stops the thread running this client's
            // commands (others keep serving on the other threads).
            let secs = std::str::from_utf8(args.get(2))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            ctx.out.ok();
        }
        _ if is(sub, "set-active-expire") && n == 3 => {
            let on = atoi(args.get(2)) != 0;
            ctx.shared.active_expire.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        _ if is(sub, "pause-cron") && n == 3 => {
            // The periodic work (Redis's serverCron: eviction and expiry cycles, save
            // points, the tracking table's limit, ...) stops until resumed.
            let paused = atoi(args.get(2)) != 0;
            ctx.shared.cron_paused.store(paused, Ordering::Relaxed);
            ctx.out.ok();
        }
        _ if is(sub, "set-disable-deny-scripts") && n == 3 => {
            ctx.shared.script.set_deny_disabled(atoi(args.get(2)) != 0);
            ctx.out.ok();
        }
        _ if is(sub, "populate") && (3..=5).contains(&n) => populate(ctx, args)?,
        _ if is(sub, "protocol") && n == 3 => protocol(ctx, args.get(2))?,
        _ if is(sub, "error") && n == 3 => {
            return Err(CmdError::Raw(
                String::from_utf8_lossy(args.get(2)).into_owned(),
            ))
        }
        _ if is(sub, "log") && n == 3 => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(args.get(2)));
            ctx.out.ok();
        }
        _ if is(sub, "change-repl-id") && n == 2 => {
            let mut s = ctx.shared.replication.state();
            s.replid = crate::replication::random_replid();
            s.replid2 = crate::replication::NO_REPLID.into();
            s.second_offset = -1;
            drop(s);
            ctx.out.ok();
        }
        _ if is(sub, "quicklist-packed-threshold") && n == 3 => {
            let size = crate::config::parse_memory(&String::from_utf8_lossy(args.get(2)));
            match size {
                // Redis's bounds: up to 1 MB under 4 GB; 0 restores the default. Lists here
                // have no plain nodes to tune, so an accepted value changes nothing.
                Some(s) if s <= (1 << 32) - (1 << 20) => ctx.out.ok(),
                _ => {
                    return Err(CmdError::err(
                        "argument must be a memory value bigger than 1 and smaller than 4gb",
                    ))
                }
            }
        }
        _ => {
            return Err(CmdError::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(sub)
            )))
        }
    }
    Ok(())
}

/// `enable-debug-command`: `yes`, `local` (loopback clients only) or `no`, Redis's texts.
/// Checked at dispatch, before authentication and ACLs, as Redis checks protected commands.
pub(crate) fn allowed(shared: &crate::Shared, client: &crate::ClientState) -> CmdResult {
    let setting = crate::tunables::find("enable-debug-command")
        .map(|t| shared.live.tunables.get(t))
        .unwrap_or_default();
    let local = client.info.addr.ip().is_loopback();
    if setting == "yes" || (setting == "local" && local) {
        return Ok(());
    }
    Err(CmdError::err(
        "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
    ))
}

fn atoi(a: &[u8]) -> i64 {
    let digits: Vec<u8> = a
        .iter()
        .copied()
        .enumerate()
        .take_while(|(i, b)| b.is_ascii_digit() || (*i == 0 && *b == b'-'))
        .map(|(_, b)| b)
        .collect();
    resp::number::parse_i64(&digits).unwrap_or(0)
}

/// `Value at:<addr> refcount:1 encoding:<enc> serializedlength:<n> lru:<clock>
/// lru_seconds_idle:<s>`, as Redis (the address is the entry's, the length its RDB
/// encoding's).
fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let now = ctx.now;
    // The entry as stored, even past its TTL (Redis looks it up in the dict directly).
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let shard = ks.lock(h);
    let found = shard.peek_raw(h, key).ok_or(CmdError::NoSuchKey);
    let line = found.map(|e| {
        let value = e.value();
        let mut encoded = Vec::new();
        crate::rdbconv::with_view(value, |v| rdb::write::encode_view(v, &mut encoded));
        let idle = store::Shard::idle_secs(e, now);
        let lru = (now / 1000).saturating_sub(idle) & ((1 << 24) - 1);
        format!(
            "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
            e.key().as_ptr(),
            value.encoding(),
            encoded.len(),
        )
    });
    drop(shard);
    ctx.out.simple(&line?);
    Ok(())
}

/// Runs `read` on the live entry at `key`, under its shard's lock; "no such key" when absent.
fn with_entry<R>(
    ctx: &Ctx<'_>,
    key: &[u8],
    read: impl FnOnce(store::EntryRef<'_>) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let entry = shard.peek(h, key, ctx.now).ok_or(CmdError::NoSuchKey)?;
    read(entry)
}

/// DEBUG HTSTATS-KEY key: for a hash or set in `hashtable` encoding or a `skiplist`
/// sorted set, the statistics of its table in Redis's layout as far as they apply (the
/// element count; these tables are resized at once, never rehashed step by step, so there is
/// no `rehashing target` part, and they have no chains to measure); for another encoding
/// Redis's error.
fn htstats_key(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let elements = with_entry(ctx, key, |e| {
        let value = e.value();
        match (value.encoding(), value) {
            ("hashtable", store::ValueRef::Hash(hash)) => Ok(hash.len()),
            ("hashtable", store::ValueRef::Set(set)) => Ok(set.len()),
            ("skiplist", store::ValueRef::ZSet(z)) => Ok(z.len()),
            _ => Err(CmdError::err(
                "The value stored at the specified key is not represented using an hash table",
            )),
        }
    })?;
    let text = format!("Hash table 0 stats (main hash table):\n number of elements: {elements}\n");
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the snapshot, empties the keyspace and
/// loads the file back (NOSAVE: load the file as it is; NOFLUSH: keep the keys and function
/// libraries — a library of the file that exists already fails the load, as in Redis;
/// MERGE: loaded libraries replace those of the same name, and loaded keys existing ones,
/// which loading always does here).
fn reload(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for i in 2..args.len() {
        let opt = args.get(i);
        if is(opt, "merge") {
            merge = true;
        } else if is(opt, "noflush") {
            flush = false;
        } else if is(opt, "nosave") {
            save = false;
        } else {
            return Err(CmdError::err(
                "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "DEBUG RELOAD cannot run inside a transaction on this server",
        ));
    }
    // As SAVE: after this batch of commands, when the connection holds no lock a snapshot
    // waits for.
    ctx.client.pending = Some(crate::Pending::Then(Box::pin(async move {
        Box::new(move |shared: &crate::Shared, out: &mut resp::ReplyWriter| {
            let functions = match (flush, merge) {
                (true, _) => crate::persist::FunctionLoad::Replace,
                (false, true) => crate::persist::FunctionLoad::Merge,
                (false, false) => crate::persist::FunctionLoad::RefuseExisting,
            };
            match reload_now(shared, flush, save, functions) {
                Ok(()) => out.ok(),
                Err(e) => {
                    shared.stats.count_error("ERR");
                    out.error(&e.to_string());
                }
            }
        }) as crate::Finish
    })));
    Ok(())
}

/// DEBUG LOADAOF: the append-only file is brought up to date with what was written so far,
/// the keyspace emptied and the file replayed into it (nothing else runs meanwhile).
/// Redis's answer when the load fails is to exit; this node refuses the command instead
/// and keeps what it loaded.
fn loadaof(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "DEBUG LOADAOF cannot run inside a transaction on this server",
        ));
    }
    ctx.client.pending = Some(crate::Pending::Then(Box::pin(async move {
        Box::new(move |shared: &crate::Shared, out: &mut resp::ReplyWriter| {
            let shared = shared.arc();
            match loadaof_now(&shared) {
                Ok(()) => out.ok(),
                Err(e) => {
                    shared.stats.count_error("ERR");
                    out.error(&format!("ERR {e}"));
                }
            }
        }) as crate::Finish
    })));
    Ok(())
}

fn loadaof_now(shared: &std::sync::Arc<crate::Shared>) -> Result<(), String> {
    // Everything acknowledged so far is in the file before it is read back.
    crate::aof::writer::write_out(shared);
    let manifest = crate::aof::read_manifest(shared)?;
    drop(shared.keyspace.flush());
    crate::aof::load::load(shared, &manifest, crate::aof::load::Hold::Exclusive)?;
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

fn reload_now(
    shared: &crate::Shared,
    flush: bool,
    save: bool,
    functions: crate::persist::FunctionLoad,
) -> CmdResult {
    if save {
        crate::persist::save(shared).map_err(CmdError::err)?;
    }
    if flush {
        drop(shared.keyspace.flush());
    }
    let path = crate::persist::Persistence::path(&shared.live);
    crate::persist::load_with(shared, &path, false, functions)
        .map_err(|_| CmdError::err("Error trying to load the RDB dump"))?;
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: `prefix:N` = `value:N` (padded with zero bytes or
/// cut to `size`), skipping names that exist; not sent to replicas (as Redis).
fn populate(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let positive = |a: &[u8]| {
        resp::number::parse_i64(a)
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::err("value is out of range, must be positive"))
    };
    let count = positive(args.get(2))?;
    let prefix = if args.len() >= 4 {
        args.get(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let size = if args.len() == 5 {
        positive(args.get(4))? as usize
    } else {
        0
    };
    let ks = &ctx.shared.keyspace;
    for j in 0..count {
        let mut key = prefix.clone();
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        let mut value = format!("value:{j}").into_bytes();
        if size != 0 {
            value.resize(size, 0);
        }
        let h = ks.hash(&key);
        let mut shard = ks.lock(h);
        if shard.peek(h, &key, ctx.now).is_some() {
            continue;
        }
        shard.set(
            h,
            &key,
            store::Value::Str(store::Str::from_bytes(&value)),
            store::shard::Ttl::Clear,
            ctx.now,
        );
    }
    ctx.out.ok();
    Ok(())
}

/// DEBUG PROTOCOL <type>: a sample reply of each RESP type, as Redis sends them.
fn protocol(ctx: &mut Ctx<'_>, name: &[u8]) -> CmdResult {
    let out = &mut *ctx.out;
    if is(name, "string") {
        out.bulk(b"Hello World");
    } else if is(name, "integer") {
        out.int(12345);
    } else if is(name, "double") {
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        out.double(3.141);
    } else if is(name, "bignum") {
        if out.is_resp3() {
            out.raw(b"(1234567999999999999999999999999999999\r\n");
        } else {
            out.bulk(b"1234567999999999999999999999999999999");
        }
    } else if is(name, "null") {
        out.null();
    } else if is(name, "array") {
        out.array(3);
        (0..3).for_each(|j| out.int(j));
    } else if is(name, "set") {
        out.set(3);
        (0..3).for_each(|j| out.int(j));
    } else if is(name, "map") {
        out.map(3);
        for j in 0..3 {
            out.int(j);
            out.boolean(j == 1);
        }
    } else if is(name, "attrib") {
        if out.is_resp3() {
            out.raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
        }
        out.bulk(b"Some real reply following the attribute");
    } else if is(name, "push") {
        if !out.is_resp3() {
            return Err(CmdError::err("RESP2 is not supported by this command"));
        }
        out.push(2);
        out.bulk(b"server-cpu-usage");
        out.int(42);
        out.bulk(b"Some real reply following the push reply");
    } else if is(name, "true") {
        out.boolean(true);
    } else if is(name, "false") {
        out.boolean(false);
    } else if is(name, "verbatim") {
        out.verbatim("txt", b"This is a verbatim\nstring");
    } else {
        return Err(CmdError::err("Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"));
    }
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) {
    crate::cmd::help(
        ctx.out,
        "DEBUG",
        &[
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "LOADAOF",
            "    Flush the AOF buffers on disk and reload the AOF in memory.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "PAUSE-CRON <0|1>",
            "    Stop periodic cron job processing.",
        ],
    );
}
