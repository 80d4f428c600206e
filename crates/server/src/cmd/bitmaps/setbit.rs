//! SETBIT key offset value / GETBIT key offset
use resp::Args;
use store::{Str, Ttl, Value};

use super::bit_offset;
use crate::cmd::as_str;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Sets or clears one bit, growing the string with zero bytes as needed; replies with the
/// bit's old value.
pub fn setbit(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let offset = bit_offset(ctx, args.get(2))?;
    let on = match resp::number::parse_i64(args.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let key = args.get(1);
    let (byte, shift) = ((offset / 8) as usize, 7 - (offset % 8) as u32);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get_mut(h, key, ctx.now) else {
        let mut bytes = vec![0u8; byte + 1];
        bytes[byte] = (on as u8) << shift;
        shard.set(h, key, Value::Str(Str::Raw(bytes)), Ttl::Clear, ctx.now);
        ctx.out.int(0);
        return Ok(());
    };
    as_str(e.value())?;
    // Only a real change (the string grew, or the bit flipped) is reported, as Redis.
    let (old, changed) = shard
        .modify_raw_if(h, key, ctx.now, |raw| {
            let grew = raw.len() <= byte;
            if grew {
                raw.resize(byte + 1, 0);
            }
            let old = (raw[byte] >> shift) & 1;
            raw[byte] = (raw[byte] & !(1 << shift)) | ((on as u8) << shift);
            let changed = grew || old != on as u8;
            ((old, changed), changed)
        })
        .expect("key exists");
    ctx.client.dirty = Some(u64::from(changed));
    ctx.out.int(old as i64);
    Ok(())
}

/// The bit at `offset`; 0 past the end or for a missing key.
pub fn getbit(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let offset = bit_offset(ctx, args.get(2))?;
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let bit = match shard.get(h, key, ctx.now) {
        None => 0,
        Some(e) => as_str(e.value())?.with_bytes(|b| {
            b.get((offset / 8) as usize)
                .map_or(0, |byte| (byte >> (7 - offset % 8)) & 1)
        }),
    };
    ctx.out.int(bit as i64);
    Ok(())
}
