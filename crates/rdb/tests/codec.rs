//! The codec against itself: files written here read back identically (proptest, every type
//! and encoding threshold), and damaged files — every truncation, flipped bytes, a wrong
//! checksum, impossible lengths, unknown types — fail with an error naming an offset, never
//! a panic and never a partial success.

use proptest::prelude::*;
use rdb::read::{Item, Reader};
use rdb::write::Writer;
use rdb::{Entry, RdbError, Value};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..80),
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..400),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let n = 700usize;
    prop_oneof![
        bytes().prop_map(Value::String),
        proptest::collection::vec(bytes(), 1..300).prop_map(|v| Value::List(v.into())),
        proptest::collection::btree_set(bytes(), 1..300)
            .prop_map(|s| Value::Set(s.into_iter().collect())),
        proptest::collection::btree_set(any::<i64>(), 1..n)
            .prop_map(|s| Value::Set(s.into_iter().map(|v| v.to_string().into_bytes()).collect())),
        proptest::collection::btree_map(bytes(), score(), 1..200)
            .prop_map(|m| Value::SortedSet(m.into_iter().collect())),
        proptest::collection::btree_map(bytes(), bytes(), 1..n)
            .prop_map(|m| Value::Hash(m.into_iter().collect())),
    ]
}

fn write(entries: &[Entry]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), &[("redis-ver", "7.0.15")]).unwrap();
    w.select_db(0, entries.len() as u64, 0).unwrap();
    for e in entries {
        w.entry(e).unwrap();
    }
    let (bytes, size) = w.finish().unwrap();
    assert_eq!(size as usize, bytes.len());
    bytes
}

fn read(bytes: &[u8]) -> Result<Vec<Entry>, RdbError> {
    let mut out = Vec::new();
    for item in Reader::new(bytes)? {
        if let Item::Entry(e) = item? {
            out.push(e);
        }
    }
    Ok(out)
}

fn sample() -> Vec<Entry> {
    let mut e = vec![
        Entry::new("s", Value::String(b"hello".repeat(10))),
        Entry::new(
            "l",
            Value::List(vec![b"a".to_vec(), b"123".to_vec()].into()),
        ),
        Entry::new(
            "h",
            Value::Hash(vec![(b"f".to_vec(), b"v".to_vec())].into()),
        ),
        Entry::new("z", Value::SortedSet(vec![(b"m".to_vec(), 1.5)].into())),
        Entry::new("i", Value::Set(vec![b"1".to_vec(), b"2".to_vec()].into())),
    ];
    e[0].expire_ms = Some(1_900_000_000_000);
    e[1].idle_seconds = Some(17);
    e[2].freq = Some(5);
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn written_files_read_back_identically(values in proptest::collection::vec(value(), 1..6)) {
        let entries: Vec<Entry> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let mut e = Entry::new(format!("k{i}"), v);
                if i % 2 == 0 {
                    e.expire_ms = Some(1_700_000_000_000 + i as u64);
                }
                e
            })
            .collect();
        let back = read(&write(&entries)).unwrap();
        prop_assert_eq!(back.len(), entries.len());
        for (a, b) in back.iter().zip(&entries) {
            prop_assert_eq!(&a.key, &b.key);
            prop_assert_eq!(a.expire_ms, b.expire_ms);
            prop_assert_eq!(a.value.normalized(), b.value.normalized());
        }
    }

    /// Random damage anywhere: an error or (rarely, when the damage is in a value's bytes and
    /// the checksum is what catches it) — never a panic, never success with a bad checksum.
    #[test]
    fn damaged_files_fail_cleanly(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bytes = write(&sample());
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        prop_assert!(read(&bytes).is_err());
    }
}

#[test]
fn eviction_hints_and_ttls_survive() {
    let back = read(&write(&sample())).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn the_database_size_hint_is_reported_before_the_keys() {
    let bytes = write(&sample());
    let items: Vec<Item> = Reader::new(&bytes[..])
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let hint = items
        .iter()
        .position(|i| {
            matches!(
                i,
                Item::SizeHint {
                    db: 0,
                    keys: 5,
                    expires: 0
                }
            )
        })
        .expect("a size hint");
    let first_key = items
        .iter()
        .position(|i| matches!(i, Item::Entry(_)))
        .unwrap();
    assert!(hint < first_key);
}

#[test]
fn every_truncation_is_an_error_with_an_offset() {
    let bytes = write(&sample());
    for cut in 0..bytes.len() {
        let err = read(&bytes[..cut]).unwrap_err();
        assert!(err.offset() <= cut as u64, "cut {cut}: {err}");
        assert!(err.to_string().contains("offset"), "{err}");
    }
}

#[test]
fn a_wrong_checksum_names_it() {
    let mut bytes = write(&sample());
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let err = read(&bytes).unwrap_err().to_string();
    assert!(err.contains("wrong checksum"), "{err}");
    // A zero checksum means "not computed" (rdbchecksum no), as Redis reads it.
    bytes[n - 8..].fill(0);
    assert_eq!(read(&bytes).unwrap().len(), 5);
}

#[test]
fn impossible_lengths_and_unknown_types_are_refused_without_allocating() {
    // A string claiming 2^63 bytes: fails at the end of the data.
    let mut f = b"REDIS0010".to_vec();
    f.push(0); // type string
    f.push(1);
    f.push(b'k');
    f.push(0x81);
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    f.extend_from_slice(b"short");
    let err = read(&f).unwrap_err().to_string();
    assert!(err.contains("unexpected end of data"), "{err}");
    assert!(err.contains("key 'k'"), "{err}");
    // A list claiming 2^40 elements.
    let mut f = b"REDIS0010".to_vec();
    f.extend_from_slice(&[1, 1, b'k', 0x81]);
    f.extend_from_slice(&(1u64 << 40).to_be_bytes());
    assert!(read(&f).is_err());
    // An unknown value type.
    let mut f = b"REDIS0010".to_vec();
    f.extend_from_slice(&[42, 1, b'k']);
    let err = read(&f).unwrap_err().to_string();
    assert!(err.contains("unknown value type 42"), "{err}");
    // Not RDB at all, and a version from the future.
    assert!(read(b"HELLO")
        .unwrap_err()
        .to_string()
        .contains("not an RDB file"));
    assert!(read(b"REDIS0099\xff")
        .unwrap_err()
        .to_string()
        .contains("unsupported RDB version"));
}

#[test]
fn old_versions_without_checksums_and_second_expiries_read() {
    // Version 3: no checksum after EOF; an expiry in seconds; a plain list.
    let mut f = b"REDIS0003".to_vec();
    f.push(0xfe); // SELECTDB 2
    f.push(2);
    f.push(0xfd); // EXPIRETIME (seconds)
    f.extend_from_slice(&1_800_000_000u32.to_le_bytes());
    f.extend_from_slice(&[1, 1, b'l', 2, 1, b'a', 0xc0, 7]);
    f.push(0xff);
    let e = read(&f).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].db, 2);
    assert_eq!(e[0].expire_ms, Some(1_800_000_000_000));
    assert_eq!(
        e[0].value,
        Value::List(vec![b"a".to_vec(), b"7".to_vec()].into())
    );
}
