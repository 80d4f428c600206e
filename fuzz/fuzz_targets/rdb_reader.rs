//! Arbitrary bytes as an RDB file: the reader answers items or an error, never panics, and
//! never allocates much more than the input (lengths are not trusted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reader) = rdb::read::Reader::new(data) {
        for item in reader {
            if item.is_err() {
                break;
            }
        }
    }
});
