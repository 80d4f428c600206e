//! Arbitrary bytes as a RESTORE payload: decoded or refused, never a panic; a decoded value
//! encodes to a payload that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = rdb::dump::decode(data) {
        let again = rdb::dump::encode(&value);
        assert!(rdb::dump::decode(&again).is_ok());
    }
});
