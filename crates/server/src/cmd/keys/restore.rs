//! RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
//! (and RESTORE-ASKING, its twin for slot migration)
use resp::Args;

use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Creates `key` from a DUMP payload (ours or any Redis's up to RDB version 11), with Redis
/// 7.0's checks in Redis's order: options, then BUSYKEY, the TTL, the payload's version and
/// checksum, its data. A TTL already in the past deletes the key (with REPLACE) and creates
/// nothing, answering OK, as Redis does.
pub fn restore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let key = args.get(1);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let a = args.get(j);
        let more = args.len() - j - 1;
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && more >= 1 && freq.is_none() {
            let v = int_arg(args.get(j + 1))?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v as u64);
            j += 1;
        } else if is(a, "freq") && more >= 1 && idle.is_none() {
            let v = int_arg(args.get(j + 1))?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v as u8);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    if !replace && ks.lock(h).peek(h, key, ctx.now).is_some() {
        return Err(CmdError::BusyKey);
    }
    let ttl = int_arg(args.get(2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let value = match rdb::dump::decode(args.get(3)) {
        Ok(v) => v,
        Err(rdb::dump::PayloadError::VersionOrChecksum) => {
            return Err(CmdError::err(rdb::dump::BAD_PAYLOAD))
        }
        Err(rdb::dump::PayloadError::Unsupported(what)) => {
            return Err(CmdError::err(format!(
                "{what}s are not supported by this server"
            )))
        }
        Err(rdb::dump::PayloadError::BadData(_)) => return Err(CmdError::err("Bad data format")),
    };
    let value = crate::rdbconv::from_rdb(value).ok_or_else(|| CmdError::err("Bad data format"))?;
    let deadline = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(ctx.now.saturating_add(t as u64)),
    };
    let mut shard = ks.lock(h);
    if replace {
        shard.remove(h, key, ctx.now);
    }
    if deadline.is_some_and(|at| at <= ctx.now) {
        // Already expired: nothing is created (the REPLACE above still deleted the key).
        crate::replication::log::rewrite_parts(&[b"DEL", key]);
        ctx.out.ok();
        return Ok(());
    }
    let ttl = deadline.map_or(store::Ttl::Clear, store::Ttl::At);
    shard.set(h, key, value, ttl, ctx.now);
    shard.set_access_hints(h, key, ctx.now, idle, freq);
    if let (Some(at), false) = (deadline, absttl) {
        // Replicas get the absolute deadline (as Redis 7.0 adds ABSTTL).
        let mut effect: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
        effect[2] = at.to_string().into_bytes();
        effect.push(b"ABSTTL".to_vec());
        crate::replication::log::rewrite(effect);
    }
    ctx.out.ok();
    Ok(())
}
