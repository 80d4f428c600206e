//! BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
//! [OVERFLOW WRAP|SAT|FAIL] ... and BITFIELD_RO key [GET type offset] ...
//!
//! Integers of 1 to 64 bits (signed) or 1 to 63 (unsigned) at any bit offset (`#n` = the
//! n-th field of that width), most significant bit first, as Redis 7.0's `bitfieldGeneric`:
//! every operation is parsed before any runs; SET answers the old value and INCRBY the new
//! one; OVERFLOW applies to the operations after it (WRAP by default, SAT saturates, FAIL
//! leaves the field and answers nil).
use resp::Args;
use store::{Str, Ttl, Value};

use crate::cmd::{as_str, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

struct Op {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

pub fn bitfield(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    run(ctx, args, false)
}

pub fn bitfield_ro(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    run(ctx, args, true)
}

fn parse_type(a: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = resp::number::parse_i64(&a[1..]).ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// Redis's `getBitOffsetFromArgument` with `#n` allowed.
fn parse_offset(ctx: &Ctx<'_>, a: &[u8], bits: u32) -> Result<u64, CmdError> {
    let err = || CmdError::err("bit offset is not an integer or out of range");
    let (hash, digits) = match a.first() {
        Some(b'#') => (true, &a[1..]),
        _ => (false, a),
    };
    let mut n = resp::number::parse_i64(digits).ok_or_else(err)?;
    if hash {
        n = n.wrapping_mul(bits as i64);
    }
    let max = ctx
        .shared
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    if n < 0 || (n >> 3) >= max {
        return Err(err());
    }
    Ok(n as u64)
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| {
        let at = offset + j;
        let byte = p.get((at >> 3) as usize).copied().unwrap_or(0);
        (v << 1) | ((byte >> (7 - (at & 7))) & 1) as u64
    })
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - j)) & 1;
        let at = offset + j;
        let byte = &mut p[(at >> 3) as usize];
        let shift = 7 - (at & 7);
        *byte = (*byte & !(1 << shift)) | ((bit as u8) << shift);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves the field, and the
/// value to store instead under WRAP or SAT.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = if bits == 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > max_incr) {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < min_incr {
        (true, if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        (false, 0)
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        (true, if ow == Overflow::Sat { min } else { wrap() })
    } else {
        (false, 0)
    }
}

fn run(ctx: &mut Ctx<'_>, args: Args<'_>, readonly_command: bool) -> CmdResult {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let (sub, left) = (args.get(j), args.len() - j - 1);
        let kind = if is(sub, "get") && left >= 2 {
            OpKind::Get
        } else if is(sub, "set") && left >= 3 {
            OpKind::Set
        } else if is(sub, "incrby") && left >= 3 {
            OpKind::IncrBy
        } else if is(sub, "overflow") && left >= 1 {
            let t = args.get(j + 1);
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = parse_type(args.get(j + 1))?;
        let offset = parse_offset(ctx, args.get(j + 2), bits)?;
        let mut value = 0;
        if kind != OpKind::Get {
            let last = offset + bits as u64 - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            value = crate::cmd::int_arg(args.get(j + 3))?;
        }
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    let key = args.get(1);
    let ks = &ctx.shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    let Some(highest) = highest_write else {
        // Reads only: a missing key reads as zeros.
        let bytes = match shard.get(h, key, ctx.now) {
            None => Vec::new(),
            Some(e) => as_str(e.value())?.to_vec(),
        };
        ctx.out.array(ops.len());
        for op in &ops {
            if op.signed {
                ctx.out.int(get_signed(&bytes, op.offset, op.bits));
            } else {
                ctx.out.int(get_unsigned(&bytes, op.offset, op.bits) as i64);
            }
        }
        return Ok(());
    };
    if readonly_command {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let needed = (highest >> 3) as usize + 1;
    if let Some(e) = shard.get_mut(h, key, ctx.now) {
        as_str(e.value())?;
    } else {
        shard.set(
            h,
            key,
            Value::Str(Str::Raw(Vec::new())),
            Ttl::Clear,
            ctx.now,
        );
    }
    // Reported as a change only if the string grew or its bits did (as Redis: a SET of the
    // value already there, or a failed INCRBY, breaks no WATCH).
    // Each SET or INCRBY that wrote counts as a change when it changed the value or the
    // string was made or grew for it (Redis's `changes`, added to `server.dirty`).
    let (replies, changes) = shard
        .modify_raw_if(h, key, ctx.now, |raw| {
            let grew = raw.len() < needed;
            if grew {
                raw.resize(needed, 0);
            }
            let mut changed = grew;
            let mut changes = 0;
            let replies: Vec<Option<i64>> = ops
                .iter()
                .map(|op| {
                    let before = get_unsigned(raw, op.offset, op.bits);
                    let reply = apply(raw, op);
                    let differs = get_unsigned(raw, op.offset, op.bits) != before;
                    changed |= differs;
                    if !matches!(op.kind, OpKind::Get) && reply.is_some() && (grew || differs) {
                        changes += 1;
                    }
                    reply
                })
                .collect();
            ((replies, changes), changed)
        })
        .expect("the key exists");
    ctx.client.dirty = Some(changes);
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Runs one operation on the (large enough) string; `None` = FAIL overflow.
fn apply(raw: &mut [u8], op: &Op) -> Option<i64> {
    match (op.kind, op.signed) {
        (OpKind::Get, true) => Some(get_signed(raw, op.offset, op.bits)),
        (OpKind::Get, false) => Some(get_unsigned(raw, op.offset, op.bits) as i64),
        (kind, true) => {
            let old = get_signed(raw, op.offset, op.bits);
            let (new, reply, overflowed) = if kind == OpKind::IncrBy {
                let (o, limit) = signed_overflow(old, op.value, op.bits, op.overflow);
                let new = if o { limit } else { old.wrapping_add(op.value) };
                (new, new, o)
            } else {
                let (o, limit) = signed_overflow(op.value, 0, op.bits, op.overflow);
                (if o { limit } else { op.value }, old, o)
            };
            if overflowed && op.overflow == Overflow::Fail {
                return None;
            }
            set_unsigned(raw, op.offset, op.bits, new as u64);
            Some(reply)
        }
        (kind, false) => {
            let old = get_unsigned(raw, op.offset, op.bits);
            let (new, reply, overflowed) = if kind == OpKind::IncrBy {
                let (o, limit) = unsigned_overflow(old, op.value, op.bits, op.overflow);
                let new = if o {
                    limit
                } else {
                    old.wrapping_add(op.value as u64)
                };
                (new, new, o)
            } else {
                let (o, limit) = unsigned_overflow(op.value as u64, 0, op.bits, op.overflow);
                (if o { limit } else { op.value as u64 }, old, o)
            };
            if overflowed && op.overflow == Overflow::Fail {
                return None;
            }
            set_unsigned(raw, op.offset, op.bits, new);
            Some(reply as i64)
        }
    }
}
