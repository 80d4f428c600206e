//! SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
use resp::Args;
use store::ScanFilter;

use crate::cmd::{int_arg, is};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn scan(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let cursor = crate::cmd::scan_cursor(args.get(1))?;
    let mut filter = ScanFilter::default();
    let mut count = 10usize;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        let has_value = i + 1 < args.len();
        if is(a, "count") && has_value {
            let n = int_arg(args.get(i + 1))?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if is(a, "match") && has_value {
            filter.pattern = Some(args.get(i + 1).to_vec());
        } else if is(a, "type") && has_value {
            filter.type_name = Some(String::from_utf8_lossy(args.get(i + 1)).into_owned());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut keys = Vec::new();
    let next = ctx
        .shared
        .keyspace
        .scan(cursor, count, &filter, ctx.now, &mut keys);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}
