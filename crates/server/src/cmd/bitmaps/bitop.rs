//! BITOP AND|OR|XOR|NOT destkey key [key ...]
use resp::Args;
use store::{Str, Ttl, Value};

use crate::cmd::{as_str, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Clone, Copy)]
enum Op {
    And,
    Or,
    Xor,
    Not,
}

/// Combines the source strings byte by byte (shorter ones read as zero-padded) into
/// `destkey`, replacing it (and its TTL); an empty result deletes it. Replies with the
/// result's length.
pub fn bitop(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let op = match args.get(1) {
        a if is(a, "and") => Op::And,
        a if is(a, "or") => Op::Or,
        a if is(a, "xor") => Op::Xor,
        a if is(a, "not") => Op::Not,
        _ => return Err(CmdError::Syntax),
    };
    let dst = args.get(2);
    let sources: Vec<&[u8]> = (3..args.len()).map(|i| args.get(i)).collect();
    if matches!(op, Op::Not) && sources.len() != 1 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let ks = &ctx.shared.keyspace;
    let hashes: Vec<u64> = sources.iter().map(|k| ks.hash(k)).collect();
    let hd = ks.hash(dst);
    let mut all = hashes.clone();
    all.push(hd);
    let mut set = ks.lock_many(&all);
    let mut inputs: Vec<Vec<u8>> = Vec::with_capacity(sources.len());
    for (k, &h) in sources.iter().zip(&hashes) {
        match set.shard(h).get(h, k, ctx.now) {
            None => inputs.push(Vec::new()),
            Some(e) => inputs.push(as_str(e.value())?.with_bytes(|b| b.to_vec())),
        }
    }
    let len = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |input: &Vec<u8>, i: usize| input.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let mut values = inputs.iter().map(|s| byte(s, i));
            let first = values.next().unwrap_or(0);
            match op {
                Op::And => values.fold(first, |a, b| a & b),
                Op::Or => values.fold(first, |a, b| a | b),
                Op::Xor => values.fold(first, |a, b| a ^ b),
                Op::Not => !first,
            }
        })
        .collect();
    let target = set.shard(hd);
    if result.is_empty() {
        target.remove(hd, dst, ctx.now);
    } else {
        target.set(hd, dst, Value::Str(Str::Raw(result)), Ttl::Clear, ctx.now);
    }
    ctx.out.int(len as i64);
    Ok(())
}
