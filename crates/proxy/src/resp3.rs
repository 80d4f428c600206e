//! RESP3 for proxy clients. The proxy's backend connections are shared and speak RESP2, so
//! a client that chose RESP3 (`HELLO 3`) gets each reply reshaped as Redis 7 would have sent
//! it in RESP3: nulls as `_`, maps, sets, doubles, and score pairs. The shape depends on the
//! command and its options, and is worked out when the command is dispatched.

use resp::Frame;

/// How a command's RESP2 reply becomes its RESP3 reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The same values (nulls become `_` on encoding).
    Plain,
    /// A flat field/value array becomes a map (HGETALL).
    Map,
    /// An array becomes a set (SMEMBERS, SINTER, ...).
    Set,
    /// A bulk string score becomes a double (ZSCORE, ZINCRBY, ZADD ... INCR).
    Double,
    /// Every element a double or null (ZMSCORE).
    Doubles,
    /// A flat member/score array becomes pairs `[member, double]` (WITHSCORES, ZPOPMIN n).
    ScorePairs,
    /// `[member, score]` with the score a double (ZPOPMIN without a count).
    FlatScore,
    /// `[rank, score]` with the score a double (ZRANK ... WITHSCORE).
    RankScore,
    /// A flat field/value array becomes pairs (HRANDFIELD ... WITHVALUES).
    Pairs,
    /// Coordinates as doubles (GEOPOS).
    GeoPos,
}

fn has(argv: &[&[u8]], option: &str) -> bool {
    argv.iter()
        .skip(2)
        .any(|a| a.eq_ignore_ascii_case(option.as_bytes()))
}

/// The RESP3 shape of `name`'s reply (lowercase name, full argument vector).
pub fn shape(name: &str, argv: &[&[u8]]) -> Shape {
    match name {
        "hgetall" => Shape::Map,
        "smembers" | "sinter" | "sunion" | "sdiff" => Shape::Set,
        "zscore" | "zincrby" | "zadd" => Shape::Double,
        "zmscore" => Shape::Doubles,
        "zrange" | "zrangebyscore" | "zrevrange" | "zrevrangebyscore" | "zunion" | "zinter"
        | "zdiff" | "zrandmember"
            if has(argv, "withscores") =>
        {
            Shape::ScorePairs
        }
        "zpopmin" | "zpopmax" if argv.len() > 2 => Shape::ScorePairs,
        "zpopmin" | "zpopmax" => Shape::FlatScore,
        "zrank" | "zrevrank" if has(argv, "withscore") => Shape::RankScore,
        "hrandfield" if has(argv, "withvalues") => Shape::Pairs,
        "geopos" => Shape::GeoPos,
        _ => Shape::Plain,
    }
}

fn double(f: Frame) -> Frame {
    match f {
        Frame::Bulk(b) => Frame::Double(String::from_utf8_lossy(&b).into_owned()),
        other => other,
    }
}

fn pairs(items: Vec<Frame>, second: impl Fn(Frame) -> Frame) -> Vec<Frame> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push(Frame::Array(vec![a, second(b)]));
    }
    out
}

/// Reshapes a RESP2 reply for a RESP3 client. Errors and unexpected types pass unchanged.
pub fn to_resp3(shape: Shape, reply: Frame) -> Frame {
    match (shape, reply) {
        (Shape::Map, Frame::Array(items)) => {
            let mut map = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                map.push((k, v));
            }
            Frame::Map(map)
        }
        (Shape::Set, Frame::Array(items)) => Frame::Set(items),
        (Shape::Double, f @ Frame::Bulk(_)) => double(f),
        (Shape::Doubles, Frame::Array(items)) => {
            Frame::Array(items.into_iter().map(double).collect())
        }
        (Shape::ScorePairs, Frame::Array(items)) => Frame::Array(pairs(items, double)),
        (Shape::Pairs, Frame::Array(items)) => Frame::Array(pairs(items, |v| v)),
        (Shape::FlatScore | Shape::RankScore, Frame::Array(mut items)) if items.len() == 2 => {
            let score = items.pop().expect("two items");
            items.push(double(score));
            Frame::Array(items)
        }
        (Shape::GeoPos, Frame::Array(items)) => Frame::Array(
            items
                .into_iter()
                .map(|p| match p {
                    Frame::Array(xy) => Frame::Array(xy.into_iter().map(double).collect()),
                    other => other,
                })
                .collect(),
        ),
        (_, other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn shapes_follow_redis_resp3() {
        fn args(s: &str) -> Vec<&[u8]> {
            s.split(' ').map(str::as_bytes).collect()
        }
        assert_eq!(shape("hgetall", &args("HGETALL h")), Shape::Map);
        assert_eq!(
            shape("zrange", &args("ZRANGE z 0 -1 WithScores")),
            Shape::ScorePairs
        );
        assert_eq!(shape("zrange", &args("ZRANGE z 0 -1")), Shape::Plain);
        assert_eq!(shape("zpopmin", &args("ZPOPMIN z")), Shape::FlatScore);
        assert_eq!(shape("zpopmin", &args("ZPOPMIN z 2")), Shape::ScorePairs);
        assert_eq!(
            to_resp3(Shape::Map, Frame::Array(vec![b("f"), b("v")])),
            Frame::Map(vec![(b("f"), b("v"))])
        );
        assert_eq!(
            to_resp3(
                Shape::ScorePairs,
                Frame::Array(vec![b("a"), b("1"), b("b"), b("2.5")])
            ),
            Frame::Array(vec![
                Frame::Array(vec![b("a"), Frame::Double("1".into())]),
                Frame::Array(vec![b("b"), Frame::Double("2.5".into())]),
            ])
        );
        assert_eq!(to_resp3(Shape::Double, Frame::Null), Frame::Null);
        assert_eq!(
            to_resp3(Shape::Double, Frame::Error("ERR x".into())),
            Frame::Error("ERR x".into())
        );
    }
}
