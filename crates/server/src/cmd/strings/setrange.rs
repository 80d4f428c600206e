//! SETRANGE key offset value
use resp::Args;
use store::{Str, Ttl, Value};

use crate::cmd::{as_str, int_arg};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Overwrites part of the string at `offset`, zero-padding as needed; replies with the new
/// length. An empty value creates nothing and changes nothing.
pub fn setrange(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let offset = int_arg(args.get(2))?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let (key, value) = (args.get(1), args.get(3));
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(e) = shard.get_mut(h, key, ctx.now) else {
        if value.is_empty() {
            ctx.out.int(0);
            return Ok(());
        }
        super::check_length(ctx, offset as u64, value.len() as u64)?;
        let mut bytes = vec![0u8; offset + value.len()];
        bytes[offset..].copy_from_slice(value);
        let len = bytes.len();
        shard.set(h, key, Value::Str(Str::Raw(bytes)), Ttl::Clear, ctx.now);
        ctx.out.int(len as i64);
        return Ok(());
    };
    let current = as_str(e.value())?.len();
    if value.is_empty() {
        ctx.out.int(current as i64);
        return Ok(());
    }
    super::check_length(ctx, offset as u64, value.len() as u64)?;
    let new_len = shard
        .modify_raw(h, key, ctx.now, |raw| {
            if raw.len() < offset + value.len() {
                raw.resize(offset + value.len(), 0);
            }
            raw[offset..offset + value.len()].copy_from_slice(value);
            raw.len()
        })
        .expect("key exists");
    ctx.out.int(new_len as i64);
    Ok(())
}
