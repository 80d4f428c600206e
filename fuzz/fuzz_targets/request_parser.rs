//! Feeds arbitrary bytes to the request parser, split at an arbitrary point (the resumable
//! state is where bugs hide), and checks its invariants: no panic, progress stays within the
//! buffer, every argument lies inside the bytes it was parsed from, and parsing the same bytes
//! in one piece or in two gives the same commands.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp::{Limits, Parsed, RequestParser};

fn parse_all(data: &[u8], split: usize) -> Result<Vec<Vec<Vec<u8>>>, resp::ProtocolError> {
    let limits = Limits { max_bulk_len: 1 << 20, authenticated: true };
    let mut parser = RequestParser::new();
    let mut commands = Vec::new();
    let mut at = 0;
    let mut avail = split.min(data.len());
    loop {
        let buf = &data[at..avail];
        match parser.parse(buf, &limits)? {
            Parsed::Command { consumed } => {
                assert!(consumed > 0 && consumed <= buf.len());
                let args = parser.args(buf);
                assert!(!args.is_empty());
                commands.push(args.iter().map(|a| a.to_vec()).collect());
                at += consumed;
            }
            Parsed::Empty { consumed } => {
                assert!(consumed > 0 && consumed <= buf.len());
                at += consumed;
            }
            Parsed::Incomplete { .. } => {
                if avail == data.len() {
                    return Ok(commands);
                }
                avail = data.len();
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if input.is_empty() {
        return;
    }
    let split = input[0] as usize * input.len() / 256;
    let data = &input[1..];
    let whole = parse_all(data, data.len());
    let pieces = parse_all(data, split);
    assert_eq!(whole, pieces, "splitting the input changed the result");
});
