//! GEOADD key [NX | XX] [CH] longitude latitude member [...]
use resp::request::OwnedArgs;
use resp::Args;

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// Runs as the ZADD it amounts to (scores are the points' geohashes), as Redis does; replicas
/// get that ZADD.
pub fn geoadd(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < args.len() {
        let a = args.get(at);
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        at += 1;
    }
    let rest = args.len() - at;
    if !rest.is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut zadd: OwnedArgs = [&b"zadd"[..]].into_iter().collect();
    for i in 1..at {
        zadd.push(args.get(i));
    }
    for i in 0..rest / 3 {
        let base = at + i * 3;
        let (x, y) = super::lon_lat(args.get(base), args.get(base + 1))?;
        let score = store::geohash::score_of(x, y).expect("checked to be in range");
        zadd.push(itoa::Buffer::new().format(score as u64).as_bytes());
        zadd.push(args.get(base + 2));
    }
    let zadd_args = zadd.as_args();
    crate::replication::log::rewrite_parts(&zadd_args.iter().collect::<Vec<_>>());
    crate::cmd::zsets::zadd_command(ctx, zadd_args)
}
