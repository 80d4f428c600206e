//! LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
use resp::Args;

use super::read_list;
use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn lpos(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let element = args.get(2);
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        let opt = args.get(i);
        if is(opt, "rank") && has_value {
            rank = int_arg(args.get(i + 1))?;
            if rank == 0 {
                return Err(CmdError::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if is(opt, "count") && has_value {
            count = Some(crate::cmd::non_negative(
                args.get(i + 1),
                "COUNT can't be negative",
            )?);
        } else if is(opt, "maxlen") && has_value {
            maxlen = crate::cmd::non_negative(args.get(i + 1), "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let found = read_list(ctx, args, |list, out| {
        let len = list.len();
        let wanted = match count {
            Some(0) => usize::MAX,
            Some(n) => n as usize,
            None => 1,
        };
        let skip = rank.unsigned_abs().saturating_sub(1);
        let limit = if maxlen == 0 {
            len
        } else {
            (maxlen as usize).min(len)
        };
        let indexes: Box<dyn Iterator<Item = usize>> = if rank > 0 {
            Box::new(0..limit)
        } else {
            Box::new((len - limit..len).rev())
        };
        let items: Vec<&[u8]> = list.iter().collect();
        let matches: Vec<usize> = indexes
            .filter(|&i| items[i] == element)
            .skip(skip.min(usize::MAX as u64) as usize)
            .take(wanted)
            .collect();
        match count {
            Some(_) => {
                out.array(matches.len());
                matches.iter().for_each(|&i| out.int(i as i64));
            }
            None => match matches.first() {
                Some(&i) => out.int(i as i64),
                None => out.null(),
            },
        }
    })?;
    if found.is_none() {
        if count.is_some() {
            ctx.out.array(0);
        } else {
            ctx.out.null();
        }
    }
    Ok(())
}
