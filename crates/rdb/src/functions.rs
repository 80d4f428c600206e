//! The FUNCTION DUMP / FUNCTION RESTORE payload: each library's code as an RDB
//! `FUNCTION2` record (opcode 245, then the code as an RDB string), followed by the RDB
//! version and the CRC64, like a DUMP payload. Redis 7.0 writes and reads the same bytes.

use crate::read::{Decoder, Src};
use crate::{opcodes, CRC64, MAX_READ_VERSION, WRITE_VERSION};

/// Why a payload cannot be restored, in Redis's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionPayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("given type is not a function")]
    NotAFunction,
    #[error("Pre-GA function format not supported")]
    PreGa,
    #[error("Bad data format")]
    BadData,
}

/// FUNCTION DUMP of libraries with these codes.
pub fn encode(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(opcodes::FUNCTION2);
        crate::write::push_string(&mut out, code);
    }
    out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes in a FUNCTION RESTORE payload.
pub fn decode(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    if payload.len() < 10 {
        return Err(FunctionPayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > MAX_READ_VERSION || CRC64.checksum(&payload[..payload.len() - 8]) != crc {
        return Err(FunctionPayloadError::VersionOrChecksum);
    }
    let mut dec = Decoder {
        src: Src::new(body, body.len().min(64 * 1024)),
    };
    let mut codes = Vec::new();
    while dec.src.offset < body.len() as u64 {
        match dec.src.u8().map_err(|_| FunctionPayloadError::BadData)? {
            opcodes::FUNCTION2 => {
                codes.push(dec.string().map_err(|_| FunctionPayloadError::BadData)?);
            }
            opcodes::FUNCTION_PRE_GA => return Err(FunctionPayloadError::PreGa),
            _ => return Err(FunctionPayloadError::NotAFunction),
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_bad_ones_are_refused() {
        let long = "#!lua name=lib\n".repeat(20);
        let codes: Vec<&[u8]> = vec![b"#!lua name=a\nreturn 1", long.as_bytes()];
        let p = encode(&codes);
        assert_eq!(
            decode(&p).unwrap(),
            codes.iter().map(|c| c.to_vec()).collect::<Vec<_>>()
        );
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(decode(&bad), Err(FunctionPayloadError::VersionOrChecksum));
        assert_eq!(decode(b"bad"), Err(FunctionPayloadError::VersionOrChecksum));
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<Vec<u8>>::new());
    }
}
