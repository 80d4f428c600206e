//! The DUMP/RESTORE payload: a value as RDB encodes it, preceded by its type byte and
//! followed by the RDB version (2 bytes, little endian) and the CRC64 of all of that (8
//! bytes, little endian). RESTORE refuses a payload whose version is newer than it reads or
//! whose checksum does not match, with Redis's own message.

use crate::read::{Decoder, Src};
use crate::write::{self, ValueView};
use crate::{RdbError, Value, CRC64, MAX_READ_VERSION, WRITE_VERSION};

/// Redis's reply to a payload it cannot take.
pub const BAD_PAYLOAD: &str = "DUMP payload version or checksum are wrong";

/// The payload DUMP answers for `value`.
pub fn encode(value: &Value) -> Vec<u8> {
    encode_view(value.view())
}

/// The payload for a borrowed value.
pub fn encode_view(value: ValueView<'_>) -> Vec<u8> {
    let mut out = vec![0u8];
    out[0] = write::encode_view(value, &mut out);
    out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a payload cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Version too new, or the checksum does not match: Redis's [`BAD_PAYLOAD`].
    #[error("{BAD_PAYLOAD}")]
    VersionOrChecksum,
    /// Well-formed trailer, unreadable value (Redis: "Bad data format").
    #[error("Bad data format")]
    BadData(#[source] RdbError),
    /// A type this server does not hold: what it is ("stream", "module value ...").
    #[error("{0}s are not supported")]
    Unsupported(String),
}

/// The value of a DUMP payload, after checking its version and checksum.
pub fn decode(payload: &[u8]) -> Result<Value, PayloadError> {
    if payload.len() < 11 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > MAX_READ_VERSION || CRC64.checksum(&payload[..payload.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut dec = Decoder {
        src: Src::new(body, body.len().min(64 * 1024)),
    };
    let t = dec.src.u8().map_err(PayloadError::BadData)?;
    let value = dec.value(t).map_err(PayloadError::BadData)?;
    if dec.src.offset != body.len() as u64 {
        return Err(PayloadError::BadData(
            dec.src.corrupt("trailing bytes after the value"),
        ));
    }
    value.map_err(|what| {
        PayloadError::Unsupported(format!("ERR {what}s are not supported by this server"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis 7.0's `DUMP` of the integer string "10" (from its documentation).
    #[test]
    fn redis_documented_payload_decodes() {
        // "\x00\xc0\n\n\x00n\x9fWE\x0e\xaec\xbb" is DUMP of 10 in Redis 7.0 (version 10).
        let p = b"\x00\xc0\n\n\x00n\x9fWE\x0e\xaec\xbb";
        assert_eq!(decode(p).unwrap(), Value::String(b"10".to_vec()));
        assert_eq!(encode(&Value::String(b"10".to_vec())), p.to_vec());
    }

    #[test]
    fn bad_payloads_are_refused() {
        let mut p = encode(&Value::String(b"hello".to_vec()));
        let last = p.len() - 1;
        p[last] ^= 1;
        assert!(matches!(decode(&p), Err(PayloadError::VersionOrChecksum)));
        assert!(matches!(
            decode(b"short"),
            Err(PayloadError::VersionOrChecksum)
        ));
        // A newer version than we read.
        let mut v = vec![0u8, 1, b'x'];
        v.extend_from_slice(&99u16.to_le_bytes());
        let crc = CRC64.checksum(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&v), Err(PayloadError::VersionOrChecksum)));
    }
}
