//! Arbitrary bytes into the generic RESP2/RESP3 frame parser: no panic, and a parsed frame
//! re-encodes and re-parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = Frame::parse(data) {
        assert!(used <= data.len());
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        let (again, _) = Frame::parse(&wire).unwrap().unwrap();
        // NaN-free: doubles are kept as text, so equality is exact.
        assert_eq!(again, frame);
    }
});
