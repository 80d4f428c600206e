//! What the gateway stores under a cache key: a whole response (status, headers, body and
//! its freshness times), or, for a URL whose responses vary by request headers, the names of
//! those headers (the variants live under their own keys). A small binary format written by
//! hand: it is on every hit's path, and a format of our own keeps entries from other tools
//! (or another version) from being mistaken for ours (the magic is checked).
//!
//! Layout: `SCG1`, kind (1 byte), then for a response: status (u16), stored_at, fresh_until,
//! stale_until, error_until (u64 ms each), upstream age (u32 s), header count (u16), each
//! header as name (u16 length + bytes) and value (u32 length + bytes), then the body (the
//! rest). For a vary marker: count (u16) and each lowercase header name (u16 length + bytes).
//! Integers are big-endian.

use bytes::Bytes;

const MAGIC: &[u8; 4] = b"SCG1";
const RESPONSE: u8 = 0;
const VARY: u8 = 1;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, Bytes)>,
    pub body: Bytes,
    /// When it was stored (unix ms).
    pub stored_at: u64,
    /// Served as a HIT until then.
    pub fresh_until: u64,
    /// Served stale while a refresh runs until then (`stale-while-revalidate`).
    pub stale_until: u64,
    /// Served stale when the upstream fails until then (`stale-if-error`).
    pub error_until: u64,
    /// The upstream's `Age` when it was stored (seconds).
    pub upstream_age: u32,
}

impl Stored {
    /// How long the store must keep it (ms from `now`).
    pub fn keep_ms(&self, now: u64) -> u64 {
        self.fresh_until
            .max(self.stale_until)
            .max(self.error_until)
            .saturating_sub(now)
    }

    /// The `Age` header value at `now` (seconds).
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.stored_at) / 1000 + u64::from(self.upstream_age)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Response(Stored),
    /// The response varies by these request headers (lowercase).
    Vary(Vec<String>),
}

fn put16(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n.min(u16::MAX as usize) as u16).to_be_bytes());
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        match self {
            Entry::Response(s) => {
                out.push(RESPONSE);
                out.extend_from_slice(&s.status.to_be_bytes());
                for t in [s.stored_at, s.fresh_until, s.stale_until, s.error_until] {
                    out.extend_from_slice(&t.to_be_bytes());
                }
                out.extend_from_slice(&s.upstream_age.to_be_bytes());
                put16(&mut out, s.headers.len());
                for (name, value) in s.headers.iter().take(u16::MAX as usize) {
                    put16(&mut out, name.len());
                    out.extend_from_slice(&name.as_bytes()[..name.len().min(u16::MAX as usize)]);
                    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
                    out.extend_from_slice(value);
                }
                out.extend_from_slice(&s.body);
            }
            Entry::Vary(names) => {
                out.push(VARY);
                put16(&mut out, names.len());
                for n in names {
                    put16(&mut out, n.len());
                    out.extend_from_slice(n.as_bytes());
                }
            }
        }
        out
    }

    /// Reads an entry; `None` for anything that is not one (a foreign value, a truncated
    /// one): the gateway then treats the key as a miss.
    pub fn decode(data: Bytes) -> Option<Entry> {
        let mut r = Reader { data: &data, at: 0 };
        if r.take(4)? != MAGIC {
            return None;
        }
        match r.u8()? {
            RESPONSE => {
                let status = r.u16()?;
                let stored_at = r.u64()?;
                let fresh_until = r.u64()?;
                let stale_until = r.u64()?;
                let error_until = r.u64()?;
                let upstream_age = r.u32()?;
                let count = r.u16()?;
                let mut headers = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let n = r.u16()? as usize;
                    let name = String::from_utf8(r.take(n)?.to_vec()).ok()?;
                    let v = r.u32()? as usize;
                    let start = r.at;
                    r.take(v)?;
                    headers.push((name, data.slice(start..start + v)));
                }
                let body = data.slice(r.at..);
                Some(Entry::Response(Stored {
                    status,
                    headers,
                    body,
                    stored_at,
                    fresh_until,
                    stale_until,
                    error_until,
                    upstream_age,
                }))
            }
            VARY => {
                let count = r.u16()?;
                let mut names = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let n = r.u16()? as usize;
                    names.push(String::from_utf8(r.take(n)?.to_vec()).ok()?);
                }
                (r.at == data.len()).then_some(Entry::Vary(names))
            }
            _ => None,
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.data.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_foreign_values_are_misses() {
        let stored = Stored {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    Bytes::from_static(b"application/json"),
                ),
                ("etag".into(), Bytes::from_static(b"\"x\"")),
            ],
            body: Bytes::from_static(b"{\"a\":1}"),
            stored_at: 1,
            fresh_until: 2,
            stale_until: 3,
            error_until: 4,
            upstream_age: 5,
        };
        let e = Entry::Response(stored.clone());
        assert_eq!(Entry::decode(Bytes::from(e.encode())), Some(e));
        let v = Entry::Vary(vec!["accept-language".into()]);
        assert_eq!(Entry::decode(Bytes::from(v.encode())), Some(v));
        assert_eq!(Entry::decode(Bytes::from_static(b"hello")), None);
        let mut cut = Entry::Response(stored).encode();
        cut.truncate(30);
        assert_eq!(Entry::decode(Bytes::from(cut)), None);
        assert_eq!(Entry::decode(Bytes::new()), None);
    }
}
