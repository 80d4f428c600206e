//! GEO commands against redis-server 7.0, reply for reply in RESP2 and RESP3: curated cases
//! for every option and error, then random points and random searches (radius and box, every
//! unit, sorted or not, COUNT with and without ANY, STORE/STOREDIST), whose unsorted replies
//! must come in Redis's own order (the same nine cells scanned the same way).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{assert_cases_match, compare, Node, RedisServer};

const CASES: &str = r#"
GEOADD
GEOADD k
GEOADD k 13.361389 38.115556
GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD Sicily 13.361389 38.115556 Palermo
GEOADD Sicily CH 13.361390 38.115556 Palermo
GEOADD Sicily NX 1 1 Palermo 2 2 newone
GEOADD Sicily XX 3 3 newone2 13.4 38.1 Palermo
GEOADD Sicily XX NX 1 1 a
GEOADD Sicily CH NX XX 1 1 a
GEOADD Sicily 200 100 bad
GEOADD Sicily 10 86 bad
GEOADD Sicily abc 10 bad
GEOADD Sicily 10 abc bad
GEOADD Sicily 1 2 a 3
GEOADD Sicily GT 1 1 a
GEOADD Sicily CH CH 1 1 a
GEOPOS Sicily Palermo Catania NonExisting
GEOPOS Sicily
GEOPOS nokey a b
GEODIST Sicily Palermo Catania
GEODIST Sicily Palermo Catania km
GEODIST Sicily Palermo Catania MI
GEODIST Sicily Palermo Catania ft
GEODIST Sicily Palermo Catania parsec
GEODIST Sicily Palermo Catania km extra
GEODIST Sicily Palermo Nope
GEODIST nokey a b
GEODIST nokey a b parsec
GEOHASH Sicily Palermo Catania missing
GEOHASH nokey a
GEOHASH Sicily
GEORADIUS Sicily 15 37 200 km
GEORADIUS Sicily 15 37 200 km WITHDIST
GEORADIUS Sicily 15 37 200 km WITHCOORD
GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH
GEORADIUS Sicily 15 37 200 km WITHDIST ASC
GEORADIUS Sicily 15 37 200 km WITHDIST DESC
GEORADIUS Sicily 15 37 200 km COUNT 1
GEORADIUS Sicily 15 37 200 km COUNT 1 DESC
GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
GEORADIUS Sicily 15 37 200 km ANY
GEORADIUS Sicily 15 37 200 km COUNT 0
GEORADIUS Sicily 15 37 200 km COUNT -1
GEORADIUS Sicily 15 37 200 km COUNT x
GEORADIUS Sicily 15 37 200 km COUNT
GEORADIUS Sicily 15 37 -1 km
GEORADIUS Sicily 15 37 abc km
GEORADIUS Sicily 15 37 200 parsec
GEORADIUS Sicily 200 37 200 km
GEORADIUS Sicily 15 37 200 km STORE dst
ZRANGE dst 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STOREDIST dst2
ZRANGE dst2 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
GEORADIUS Sicily 15 37 1 m STORE dst
EXISTS dst
GEORADIUS nokey 15 37 200 km
GEORADIUS nokey 15 37 200 km STORE dst2
EXISTS dst2
GEORADIUS Sicily 15 37 200 km BYBOX 1 1 km
GEORADIUS Sicily 15 37 200 km FROMMEMBER Palermo
GEORADIUS_RO Sicily 15 37 200 km WITHDIST
GEORADIUS_RO Sicily 15 37 200 km STORE dst
GEORADIUSBYMEMBER Sicily Palermo 200 km
GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST WITHCOORD
GEORADIUSBYMEMBER Sicily nope 200 km
GEORADIUSBYMEMBER Sicily Palermo -5 km
GEORADIUSBYMEMBER nokey Palermo 200 km
GEORADIUSBYMEMBER nokey Palermo -200 km
GEORADIUSBYMEMBER nokey Palermo 200 km STORE dst
GEORADIUSBYMEMBER Sicily Palermo 200 km STORE dst3
ZRANGE dst3 0 -1 WITHSCORES
GEORADIUSBYMEMBER_RO Sicily Palermo 200 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km WITHHASH
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1000 km COUNT 2 DESC
GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 1 km
GEOSEARCH Sicily FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 1 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km
GEOSEARCH Sicily BYRADIUS 1 km
GEOSEARCH Sicily FROMLONLAT 15 37
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX a 1 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 a km
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 parsec
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE dst
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 200 km
GEOSEARCH nokey FROMMEMBER nope BYRADIUS 200 km
GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ANY
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1 ANY
GEOSEARCHSTORE dst4 Sicily FROMLONLAT 15 37 BYRADIUS 200 km
ZRANGE dst4 0 -1 WITHSCORES
GEOSEARCHSTORE dst5 Sicily FROMLONLAT 15 37 BYBOX 500 500 km STOREDIST DESC COUNT 1
ZRANGE dst5 0 -1 WITHSCORES
GEOSEARCHSTORE dst5 Sicily FROMLONLAT 15 37 BYBOX 500 500 km WITHDIST
GEOSEARCHSTORE dst5 Sicily FROMLONLAT 0 0 BYRADIUS 1 m
EXISTS dst5
GEOSEARCHSTORE dst5 nokey FROMLONLAT 0 0 BYRADIUS 1 m
SET str x
GEOADD str 1 1 a
GEOPOS str a
GEODIST str a b
GEOHASH str a
GEORADIUS str 1 1 1 km
GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 km
GEOSEARCHSTORE dst str FROMLONLAT 1 1 BYRADIUS 1 km
GEOSEARCHSTORE str Sicily FROMLONLAT 15 37 BYRADIUS 200 km
TYPE str
GEOADD poles 0 85.05112878 n 0 -85.05112878 s 180 0 e -180 0 w 179.9999 0 e2
GEOPOS poles n s e w e2
GEOHASH poles n s e w e2
GEOSEARCH poles FROMLONLAT 180 0 BYRADIUS 100 km ASC WITHCOORD
GEOSEARCH poles FROMLONLAT 0 85 BYRADIUS 5000 km ASC WITHDIST
GEOSEARCH poles FROMLONLAT 0 0 BYRADIUS 20000 km WITHDIST
ZSCORE poles n
"#;

fn line(s: &str) -> Vec<Vec<u8>> {
    s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
}

#[tokio::test]
async fn curated_geo_cases_match_redis_in_resp2_and_resp3() {
    for resp3 in [false, true] {
        let redis = RedisServer::start().await;
        let node = Node::start().await;
        assert_cases_match(&node, &redis, CASES, line, resp3).await;
    }
}

fn coord(rng: &mut StdRng, max: f64) -> String {
    let v: f64 = rng.gen_range(-max..max);
    match rng.gen_range(0..3) {
        0 => format!("{v:.1}"),
        1 => format!("{v:.6}"),
        _ => format!("{v}"),
    }
}

/// Random points around a few centres (so searches find many), then random searches of
/// every shape and option; every reply compared with Redis's exactly.
#[tokio::test]
async fn random_geo_searches_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let seeds: u64 = std::env::var("GEO_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut failures = Vec::new();
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        for c in [&mut ours, &mut theirs] {
            c.run("FLUSHALL").await;
        }
        let centres = [
            (13.36, 38.11),
            (-122.4, 37.7),
            (0.0, 0.0),
            (179.5, -60.0),
            (2.35, 84.5),
        ];
        for i in 0..400 {
            let (cx, cy) = centres[rng.gen_range(0..centres.len())];
            let spread: f64 = [0.01, 0.5, 5.0, 40.0][rng.gen_range(0..4)];
            // Drawn again rather than clamped: clamping would stack points on one spot, and
            // Redis orders equal distances by its own sort's whims (its partial quicksort).
            let draw = |rng: &mut StdRng, c: f64, lim: f64| loop {
                let v = c + rng.gen_range(-spread..spread);
                if (-lim..=lim).contains(&v) {
                    break v;
                }
            };
            let x = draw(&mut rng, cx, 180.0);
            let y = draw(&mut rng, cy, 85.0);
            let args = line(&format!("GEOADD pts {x} {y} m{i}"));
            if let Some(e) = compare(&mut ours, &mut theirs, &args).await {
                failures.push(e);
            }
        }
        for _ in 0..150 {
            let (cx, cy) = centres[rng.gen_range(0..centres.len())];
            let from = if rng.gen_bool(0.2) {
                format!("FROMMEMBER m{}", rng.gen_range(0..450))
            } else {
                format!(
                    "FROMLONLAT {} {}",
                    (cx + rng.gen_range(-1.0..1.0)).clamp(-180.0, 180.0),
                    (cy + rng.gen_range(-1.0..1.0)).clamp(-85.0, 85.0)
                )
            };
            let unit = ["m", "km", "mi", "ft", "KM"][rng.gen_range(0..5)];
            let size = |rng: &mut StdRng| {
                let meters: f64 =
                    [100.0, 5_000.0, 50_000.0, 400_000.0, 3_000_000.0][rng.gen_range(0..5)];
                let per_unit = match unit {
                    "m" => 1.0,
                    "km" | "KM" => 1000.0,
                    "mi" => 1609.34,
                    _ => 0.3048,
                };
                format!("{:.3}", meters / per_unit * rng.gen_range(0.5..1.5))
            };
            let by = if rng.gen_bool(0.5) {
                format!("BYRADIUS {} {unit}", size(&mut rng))
            } else {
                format!("BYBOX {} {} {unit}", size(&mut rng), size(&mut rng))
            };
            let mut opts = Vec::new();
            for o in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
                if rng.gen_bool(0.3) {
                    opts.push(o.to_string());
                }
            }
            match rng.gen_range(0..4) {
                0 => opts.push("ASC".into()),
                1 => opts.push("DESC".into()),
                _ => {}
            }
            if rng.gen_bool(0.4) {
                opts.push(format!("COUNT {}", rng.gen_range(1..30)));
                if rng.gen_bool(0.3) {
                    opts.push("ANY".into());
                }
            }
            let query = format!("GEOSEARCH pts {from} {by} {}", opts.join(" "));
            let query = query.trim_end();
            if let Some(e) = compare(&mut ours, &mut theirs, &line(query)).await {
                failures.push(e);
            }
            if rng.gen_bool(0.2) {
                let plain: Vec<&str> = opts
                    .iter()
                    .map(String::as_str)
                    .filter(|o| !o.starts_with("WITH"))
                    .collect();
                let dist = if rng.gen_bool(0.5) { " STOREDIST" } else { "" };
                let store = format!(
                    "GEOSEARCHSTORE out pts {from} {by} {}{dist}",
                    plain.join(" ")
                );
                let store = store.trim_end().replace("  ", " ");
                for l in [store.clone(), "ZRANGE out 0 -1 WITHSCORES".into()] {
                    if let Some(e) = compare(&mut ours, &mut theirs, &line(&l)).await {
                        failures.push(format!("{e}\n  (after {store})"));
                    }
                }
            }
            if rng.gen_bool(0.2) {
                let c = format!(
                    "GEORADIUS pts {} {} {} {unit} WITHDIST",
                    coord(&mut rng, 180.0),
                    coord(&mut rng, 85.0),
                    size(&mut rng)
                );
                if let Some(e) = compare(&mut ours, &mut theirs, &line(&c)).await {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
