//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c` of Redis 7.0), pure: a point
//! becomes a 52-bit interleaved hash stored as a sorted-set score, and a radius or box search
//! becomes nine score ranges (a cell and its neighbours at a step chosen from the radius).
//! Ported operation for operation — the same doubles, the same truncations, the same order of
//! the nine cells — so searches find the same members in the same order as Redis, and
//! distances print the same digits.

/// Latitudes Redis can index (EPSG:900913): not the poles.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// 26 steps: 52 bits.
pub const STEP_MAX: u8 = 26;

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The standard ranges (latitude cut at ±85.05°).
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell: the hash of its first `step` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: `None` outside the ranges (or of the indexable area).
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    // C converts the doubles to uint32_t by truncation.
    Some(Bits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The score Redis stores for a point (GEOADD): its 26-step hash as a 52-bit integer.
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, STEP_MAX).map(|h| align52(h) as f64)
}

/// `geohashDecode`.
pub fn decode(long_range: Range, lat_range: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + ((f64::from(ilato) + 1.0) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + ((f64::from(ilono) + 1.0) * 1.0 / div) * long_scale,
        },
    })
}

/// `(uint64_t)x` as gcc compiles it for x86-64, which Redis's `decodeGeohash` applies to any
/// score (a member added with ZADD can hold any): below 2^63 a truncating signed
/// conversion (so -1.0 is all ones, and -2^63 or less the "integer indefinite" 2^63), at or
/// above it the same conversion of `x - 2^63` with the top bit flipped (so 2^64 and more,
/// and infinity, are 0). Rust's `as u64` saturates instead.
fn c_double_to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvttsd2si = |v: f64| {
        if (-TWO_63..TWO_63).contains(&v) {
            v as i64 as u64
        } else {
            1u64 << 63
        }
    };
    if x < TWO_63 {
        cvttsd2si(x)
    } else {
        cvttsd2si(x - TWO_63) ^ (1u64 << 63)
    }
}

/// A stored score back to (longitude, latitude): the centre of its cell (`decodeGeohash`).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode(LONG_RANGE, LAT_RANGE, hash)?;
    let x = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let y = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((x, y))
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

/// The eight neighbours of a cell, in Redis's search order after the cell itself: north,
/// south, east, west, north-east, north-west, south-east, south-west.
fn neighbors(hash: Bits) -> [Bits; 8] {
    let at = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    [
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

const NORTH: usize = 0;
const SOUTH: usize = 1;
const EAST: usize = 2;
const WEST: usize = 3;
const NORTH_EAST: usize = 4;
const NORTH_WEST: usize = 5;
const SOUTH_EAST: usize = 6;
const SOUTH_WEST: usize = 7;

fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// What a search covers: a circle or a box (sizes in the unit, `conversion` to meters).
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search: its centre, shape and unit.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub center: (f64, f64),
    pub shape: Shape,
    /// Meters per unit.
    pub conversion: f64,
}

impl Search {
    /// `geohashBoundingBox`: min lon, min lat, max lon, max lat.
    fn bounds(&self) -> [f64; 4] {
        let (longitude, latitude) = self.center;
        let (height, width) = match self.shape {
            Shape::Radius(r) => (self.conversion * r, self.conversion * r),
            Shape::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let southern = latitude < 0.0;
        [
            if southern {
                longitude - long_delta_bottom
            } else {
                longitude - long_delta_top
            },
            latitude - lat_delta,
            if southern {
                longitude + long_delta_bottom
            } else {
                longitude + long_delta_top
            },
            latitude + lat_delta,
        ]
    }

    /// `geohashCalculateAreasByShapeWGS84`: the cells to scan, in Redis's order (the centre
    /// cell, then its neighbours; cells that cannot hold a match are left out).
    pub fn cells(&self) -> Vec<Bits> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let (longitude, latitude) = self.center;
        let radius_meters = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps_by_radius(radius_meters, latitude);
        let mut hash =
            encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or_default();
        let mut around = neighbors(hash);
        let mut area = decode(LONG_RANGE, LAT_RANGE, hash);
        let side = |b: Bits| decode(LONG_RANGE, LAT_RANGE, b);
        let decrease = side(around[NORTH]).is_some_and(|a| a.latitude.max < max_lat)
            || side(around[SOUTH]).is_some_and(|a| a.latitude.min > min_lat)
            || side(around[EAST]).is_some_and(|a| a.longitude.max < max_lon)
            || side(around[WEST]).is_some_and(|a| a.longitude.min > min_lon);
        if steps > 1 && decrease {
            steps -= 1;
            hash = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or_default();
            around = neighbors(hash);
            area = decode(LONG_RANGE, LAT_RANGE, hash);
        }
        if steps >= 2 {
            if let Some(area) = area {
                let mut zero =
                    |cells: &[usize]| cells.iter().for_each(|&c| around[c] = Bits::default());
                if area.latitude.min < min_lat {
                    zero(&[SOUTH, SOUTH_WEST, SOUTH_EAST]);
                }
                if area.latitude.max > max_lat {
                    zero(&[NORTH, NORTH_EAST, NORTH_WEST]);
                }
                if area.longitude.min < min_lon {
                    zero(&[WEST, SOUTH_WEST, NORTH_WEST]);
                }
                if area.longitude.max > max_lon {
                    zero(&[EAST, SOUTH_EAST, NORTH_EAST]);
                }
            }
        }
        let mut cells = vec![hash];
        cells.extend_from_slice(&around);
        cells
    }

    /// The distance of a point from the centre when it lies inside the shape (in meters).
    pub fn distance_if_inside(&self, x: f64, y: f64) -> Option<f64> {
        let (cx, cy) = self.center;
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(cx, cy, x, y);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                // The latitude test first: it is the cheaper one.
                if lat_distance(y, cy) > h / 2.0 {
                    return None;
                }
                if distance(x, y, cx, y) > w / 2.0 {
                    return None;
                }
                Some(distance(cx, cy, x, y))
            }
        }
    }
}

/// The score range `[min, max)` holding every point of a cell (`scoresOfGeoHashBox`).
pub fn cell_scores(hash: Bits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(Bits {
        bits: hash.bits + 1,
        step: hash.step,
    });
    (min as f64, max as f64)
}

fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// Distance along a meridian (`geohashGetLatDistance`): the haversine formula when the
/// longitudes are equal, simplified.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Haversine distance in meters (`geohashGetDistance` of Redis 7.0.x, with its shortcut for
/// equal longitudes: the digits differ from the full formula there).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// GEOHASH's 11-character string: the point re-encoded with the standard ±90° latitude
/// range, in the geohash alphabet (the 11th character is always `0`: 52 bits only).
pub fn geohash_string(longitude: f64, latitude: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let hash = encode(ranges.0, ranges.1, longitude, latitude, 26)?;
    Some(
        (0..11)
            .map(|i| {
                let idx = if i == 10 {
                    0
                } else {
                    (hash.bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                ALPHABET[idx as usize] as char
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn scores_convert_to_bits_as_c_does_on_x86_64() {
        // Expected values printed by `(uint64_t)x` compiled with gcc on x86-64.
        for (x, bits) in [
            (-1.0, 18446744073709551615),
            (-2.5, 18446744073709551614),
            (f64::NEG_INFINITY, 9223372036854775808),
            (f64::INFINITY, 0),
            (1e19, 10000000000000000000),
            (2e19, 0),
            (9.3e18, 9300000000000000000),
            (0.5, 0),
            (3e15, 3000000000000000),
            (-9.3e18, 9223372036854775808),
            (-9223372036854775808.0, 9223372036854775808),
        ] {
            assert_eq!(c_double_to_u64(x), bits, "{x}");
        }
    }
    use super::*;

    #[test]
    fn palermo_as_in_the_redis_docs() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        let score = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(score, 3479099956230698.0);
        let (x, y) = decode_score(score).unwrap();
        assert!((x - 13.361389338970184).abs() < 1e-12 && (y - 38.1155563954963).abs() < 1e-12);
        assert_eq!(geohash_string(x, y).unwrap(), "sqc8b49rny0");
        let catania = decode_score(score_of(15.087269, 37.502669).unwrap()).unwrap();
        // GEODIST Sicily Palermo Catania: 166274.1516 m.
        assert_eq!(
            format!("{:.4}", distance(x, y, catania.0, catania.1)),
            "166274.1516"
        );
    }

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [(0u32, 0u32), (1, 2), (u32::MAX, 7), (123456789, 987654321)] {
            let i = interleave64(a, b);
            let d = deinterleave64(i);
            assert_eq!((d as u32, (d >> 32) as u32), (a, b));
        }
    }
}
