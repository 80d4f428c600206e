//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The longest common subsequence of two strings (a missing key reads as ""): the string,
/// its length (LEN), or the matching ranges walked back from the ends (IDX), as Redis 7.0
/// computes them with its dynamic-programming table — whose size is bounded by
/// `proto-max-bulk-len`, as Redis bounds it.
pub fn lcs(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let read = |key: &[u8]| -> Result<Option<Vec<u8>>, ()> {
        let ks = &ctx.shared.keyspace;
        let h = ks.hash(key);
        let mut shard = ks.lock(h);
        match shard.get(h, key, ctx.now) {
            None => Ok(None),
            Some(e) => match e.value().as_str() {
                Some(s) => Ok(Some(s.with_bytes(|b| b.to_vec()))),
                None => Err(()),
            },
        }
    };
    let (a, b) = match (read(args.get(1)), read(args.get(2))) {
        (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
        _ => {
            return Err(CmdError::err(
                "The specified keys must contain string values",
            ))
        }
    };
    let (mut get_len, mut get_idx, mut with_match_len, mut min_match_len) =
        (false, false, false, 0);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if is(opt, "idx") {
            get_idx = true;
        } else if is(opt, "len") {
            get_len = true;
        } else if is(opt, "withmatchlen") {
            with_match_len = true;
        } else if is(opt, "minmatchlen") && i + 1 < args.len() {
            min_match_len = crate::cmd::int_arg(args.get(i + 1))?.max(0) as u64;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if get_idx && get_len {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let max = ctx
        .shared
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    if cells.saturating_mul(4) > max {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // table[i * (blen + 1) + j] = LCS length of a[..i] and b[..j].
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the ends, collecting the common string and the matching ranges.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<[u64; 5]> = Vec::new();
    let closed = alen; // "no open range"
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (closed, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == closed {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != closed {
                emit = true;
            }
        }
        if emit {
            let match_len = (a_end - a_start + 1) as u64;
            if min_match_len == 0 || match_len >= min_match_len {
                ranges.push([
                    a_start as u64,
                    a_end as u64,
                    b_start as u64,
                    b_end as u64,
                    match_len,
                ]);
            }
            a_start = closed;
        }
    }
    if !get_idx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for [a0, a1, b0, b1, len] in ranges {
        ctx.out.array(2 + with_match_len as usize);
        ctx.out.array(2);
        ctx.out.int(a0 as i64);
        ctx.out.int(a1 as i64);
        ctx.out.array(2);
        ctx.out.int(b0 as i64);
        ctx.out.int(b1 as i64);
        if with_match_len {
            ctx.out.int(len as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}
