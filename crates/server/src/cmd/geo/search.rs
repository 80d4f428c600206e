//! GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH, GEOSEARCHSTORE: Redis's
//! `georadiusGeneric`, with its argument rules, its errors in its order, its nine-cell scan
//! and its replies.
use resp::Args;
use store::geohash::{Search, Shape};
use store::{Ttl, Value, ZSet};

use crate::cmd::is;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS: around coordinates.
    Coords,
    /// GEORADIUSBYMEMBER: around a member.
    Member,
    /// GEOSEARCH / GEOSEARCHSTORE: FROM... BY... arguments.
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
struct Found {
    member: Vec<u8>,
    /// Meters until the reply divides by the unit.
    dist: f64,
    score: f64,
    x: f64,
    y: f64,
}

/// Type of `key`: `Ok(false)` when absent, WRONGTYPE for a non-zset.
fn zset_exists(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<bool, CmdError> {
    Ok(crate::cmd::zsets::read_zset(ctx, key, |_, _| ())?.is_some())
}

fn member_position(ctx: &mut Ctx<'_>, key: &[u8], member: &[u8]) -> Result<(f64, f64), CmdError> {
    crate::cmd::zsets::read_zset(ctx, key, |z, _| z.score(member))?
        .flatten()
        .and_then(store::geohash::decode_score)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// A distance and unit (`extractDistanceOrReply`).
fn radius(n: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = store::float::parse_double(n).ok_or_else(|| CmdError::err("need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, super::unit(u)?))
}

/// A box and unit (`extractBoxOrReply`).
fn bybox(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let width = store::float::parse_double(w).ok_or_else(|| CmdError::err("need numeric width"))?;
    let height =
        store::float::parse_double(h).ok_or_else(|| CmdError::err("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((width, height, super::unit(u)?))
}

/// Every member of the cells inside the shape, in Redis's order (cell by cell, each by
/// score), stopping at `limit` matches (ANY).
fn scan(z: &ZSet, search: &Search, limit: usize) -> Vec<Found> {
    let cells = search.cells();
    let mut found = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii make neighbouring cells equal: each range is scanned once.
        if last.is_some_and(|l| cells[l] == *cell) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = store::geohash::cell_scores(*cell);
        let start = z.partition_point(|s, _| s < min);
        for (member, score) in z.iter_from(start) {
            if score >= max {
                break;
            }
            let Some((x, y)) = store::geohash::decode_score(score) else {
                continue;
            };
            if let Some(dist) = search.distance_if_inside(x, y) {
                found.push(Found {
                    member: member.to_vec(),
                    dist,
                    score,
                    x,
                    y,
                });
            }
            if limit > 0 && found.len() >= limit {
                break;
            }
        }
        last = Some(i);
    }
    found
}

fn generic(ctx: &mut Ctx<'_>, args: Args<'_>, kind: Kind, nostore: bool, store: bool) -> CmdResult {
    let src_index = if store { 2 } else { 1 };
    let src = args.get(src_index);
    let exists = zset_exists(ctx, src)?;
    let mut center = (0.0, 0.0);
    let mut shape = None;
    let mut conversion = 1.0;
    let base = match kind {
        Kind::Coords => {
            center = super::lon_lat(args.get(2), args.get(3))?;
            let (r, c) = radius(args.get(4), args.get(5))?;
            shape = Some(Shape::Radius(r));
            conversion = c;
            6
        }
        Kind::Member if !exists => 5,
        Kind::Member => {
            center = member_position(ctx, src, args.get(2))?;
            let (r, c) = radius(args.get(3), args.get(4))?;
            shape = Some(Shape::Radius(r));
            conversion = c;
            5
        }
        Kind::Search => src_index + 1,
    };
    let mut store_key: Option<&[u8]> = store.then(|| args.get(1));
    let mut storedist = false;
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox_set) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let search = kind == Kind::Search;
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = args.get(base + i);
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && i + 1 < remaining {
            count = resp::number::parse_i64(args.get(base + i + 1)).ok_or(CmdError::NotInteger)?;
            if count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < remaining && !nostore && !search
        {
            store_key = Some(args.get(base + i + 1));
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && search && store {
            storedist = true;
        } else if is(a, "frommember") && i + 1 < remaining && search && !fromloc {
            if exists {
                center = member_position(ctx, src, args.get(base + i + 1))?;
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && search && !frommember {
            center = super::lon_lat(args.get(base + i + 1), args.get(base + i + 2))?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && search && !bybox_set {
            let (r, c) = radius(args.get(base + i + 1), args.get(base + i + 2))?;
            shape = Some(Shape::Radius(r));
            conversion = c;
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && search && !byradius {
            let (w, h, c) = bybox(
                args.get(base + i + 1),
                args.get(base + i + 2),
                args.get(base + i + 3),
            )?;
            shape = Some(Shape::Box {
                width: w,
                height: h,
            });
            conversion = c;
            bybox_set = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if store_key.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if store && search {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(args.get(0)).into_owned();
    if search && !(frommember || fromloc) {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(byradius || bybox_set) {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    let ks = &ctx.shared.keyspace;
    if !exists {
        match store_key {
            Some(dst) => {
                let h = ks.hash(dst);
                ks.lock(h).remove(h, dst, ctx.now);
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(());
    }
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let search = Search {
        center,
        shape: shape.expect("a shape when the key exists"),
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let hs = ks.hash(src);
    let mut hashes = vec![hs];
    if let Some(dst) = store_key {
        hashes.push(ks.hash(dst));
    }
    let mut shards = ks.lock_many(&hashes);
    let mut found = match shards.shard(hs).peek(hs, src, ctx.now) {
        Some(e) => scan(
            e.value().as_zset().ok_or(CmdError::WrongType)?,
            &search,
            limit,
        ),
        None => Vec::new(),
    };
    match sort {
        Sort::None => {}
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    for f in &mut found {
        f.dist /= conversion;
    }
    let Some(dst) = store_key else {
        drop(shards);
        let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
        ctx.out.array(found.len());
        for f in &found {
            if options > 0 {
                ctx.out.array(options + 1);
            }
            ctx.out.bulk(&f.member);
            if withdist {
                super::reply_distance(ctx.out, f.dist);
            }
            if withhash {
                ctx.out.int(f.score as i64);
            }
            if withcoord {
                ctx.out.array(2);
                super::reply_coordinate(ctx.out, f.x);
                super::reply_coordinate(ctx.out, f.y);
            }
        }
        return Ok(());
    };
    let hd = ks.hash(dst);
    let shard = shards.shard(hd);
    shard.remove(hd, dst, ctx.now);
    let n = found.len();
    if n > 0 {
        let z = ZSet::from_pairs(found.iter().map(|f| {
            (
                f.member.as_slice(),
                if storedist { f.dist } else { f.score },
            )
        }));
        shard.set(hd, dst, Value::ZSet(Box::new(z)), Ttl::Clear, ctx.now);
        drop(shards);
        let event = if kind == Kind::Search {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        crate::notify::event(ctx.shared, crate::notify::ZSET, event, dst);
    }
    ctx.out.int(n as i64);
    Ok(())
}

pub fn georadius(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Coords, false, false)
}

pub fn georadius_ro(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Coords, true, false)
}

pub fn georadiusbymember(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Member, false, false)
}

pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Member, true, false)
}

pub fn geosearch(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Search, true, false)
}

pub fn geosearchstore(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    generic(ctx, args, Kind::Search, false, true)
}
