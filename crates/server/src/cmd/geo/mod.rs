//! Geospatial commands: points are members of a sorted set whose scores are 52-bit geohashes
//! (`store::geohash`), exactly as Redis stores them, so a geo key moves between Shard-Cache
//! and Redis (DUMP/RESTORE, snapshots, replication) unchanged and ZSET commands work on it.

mod add;
mod read;
mod search;

use crate::command::Handler;
use crate::error::CmdError;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("geoadd", add::geoadd),
    ("geopos", read::geopos),
    ("geodist", read::geodist),
    ("geohash", read::geohash),
    ("georadius", search::georadius),
    ("georadius_ro", search::georadius_ro),
    ("georadiusbymember", search::georadiusbymember),
    ("georadiusbymember_ro", search::georadiusbymember_ro),
    ("geosearch", search::geosearch),
    ("geosearchstore", search::geosearchstore),
];

/// A longitude/latitude pair from two arguments (`extractLongLatOrReply`).
pub(crate) fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let x = store::float::parse_double(lon).ok_or(CmdError::NotFloat)?;
    let y = store::float::parse_double(lat).ok_or(CmdError::NotFloat)?;
    if !(store::geohash::LONG_MIN..=store::geohash::LONG_MAX).contains(&x)
        || !(store::geohash::LAT_MIN..=store::geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// Meters per unit (`extractUnitOrReply`).
pub(crate) fn unit(u: &[u8]) -> Result<f64, CmdError> {
    match u.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A distance as Redis prints it: four decimals, always a bulk string.
pub(crate) fn reply_distance(out: &mut resp::ReplyWriter, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// A coordinate as Redis prints it (`addReplyHumanLongDouble`): a bulk string in RESP2, a
/// double in RESP3, with 17 decimals at most.
pub(crate) fn reply_coordinate(out: &mut resp::ReplyWriter, v: f64) {
    let text = store::float::format_human_f64(v);
    if out.is_resp3() {
        out.raw(format!(",{text}\r\n").as_bytes());
    } else {
        out.bulk(text.as_bytes());
    }
}
