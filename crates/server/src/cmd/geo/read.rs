//! GEOPOS key member [...], GEODIST key m1 m2 [unit], GEOHASH key member [...]
use resp::Args;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

/// The scores of `members` in the sorted set at `key` (`None` for absent members; an
/// absent key reads as empty).
fn scores(ctx: &mut Ctx<'_>, key: &[u8], members: Args<'_>) -> Result<Vec<Option<f64>>, CmdError> {
    let found = crate::cmd::zsets::read_zset(ctx, key, |z, _| {
        members.iter().map(|m| z.score(m)).collect::<Vec<_>>()
    })?;
    Ok(found.unwrap_or_else(|| vec![None; members.len()]))
}

pub fn geopos(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = scores(ctx, args.get(1), args.tail(2))?;
    ctx.out.array(found.len());
    for s in found {
        match s.and_then(store::geohash::decode_score) {
            None => ctx.out.null_array(),
            Some((x, y)) => {
                ctx.out.array(2);
                super::reply_coordinate(ctx.out, x);
                super::reply_coordinate(ctx.out, y);
            }
        }
    }
    Ok(())
}

pub fn geodist(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => super::unit(args.get(4))?,
        _ => return Err(CmdError::Syntax),
    };
    let pair = crate::cmd::zsets::read_zset(ctx, args.get(1), |z, _| {
        (z.score(args.get(2)), z.score(args.get(3)))
    })?;
    let points = match pair {
        Some((Some(a), Some(b))) => {
            store::geohash::decode_score(a).zip(store::geohash::decode_score(b))
        }
        _ => None,
    };
    match points {
        None => ctx.out.null(),
        Some(((x1, y1), (x2, y2))) => {
            super::reply_distance(ctx.out, store::geohash::distance(x1, y1, x2, y2) / to_meter)
        }
    }
    Ok(())
}

pub fn geohash(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let found = scores(ctx, args.get(1), args.tail(2))?;
    ctx.out.array(found.len());
    for s in found {
        let text = s
            .and_then(store::geohash::decode_score)
            .and_then(|(x, y)| store::geohash::geohash_string(x, y));
        match text {
            None => ctx.out.null(),
            Some(t) => ctx.out.bulk(t.as_bytes()),
        }
    }
    Ok(())
}
