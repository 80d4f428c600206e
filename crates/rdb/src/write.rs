//! Writing RDB version 10 with Redis 7.0's encodings, so any Redis >= 7.0 (and
//! `redis-check-rdb`) loads what we write:
//! - strings: integers that fit 32 bits in the integer encodings, strings over 20 bytes LZF
//!   compressed when that saves space, the rest as they are;
//! - lists: quicklist 2, listpack nodes of at most 8 KiB (`list-max-listpack-size -2`);
//! - sets: an intset when every member is an integer and there are at most 512, else plain;
//! - hashes: a listpack up to 512 fields and values of at most 64 bytes, else plain;
//! - sorted sets: a listpack up to 128 members of at most 64 bytes, else binary scores.

use std::io::Write;

use crate::packed::{canonical_int, intset, listpack};
use crate::{opcodes, types, Entry, Value, CRC64, WRITE_VERSION};

/// Redis 7.0's defaults for the compact encodings.
const SET_MAX_INTSET_ENTRIES: usize = 512;
const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
const MAX_LISTPACK_VALUE: usize = 64;
const LIST_NODE_BYTES: usize = 8192;

pub(crate) fn push_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string as `rdbSaveRawString` writes it.
pub(crate) fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if let Ok(v) = i8::try_from(v) {
                out.push(0xc0);
                out.push(v as u8);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(c) = crate::lzf::compress(s) {
            out.push(0xc3);
            push_len(out, c.len() as u64);
            push_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    push_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A score as listpack text that reads back as the same double with strtod: the shorter of
/// Rust's shortest round-trip forms, plain (`0.5`) or exponent (`1e300`), so it stays far
/// below the 128 bytes Redis copies a listpack score into before parsing it.
fn score_text(score: f64) -> Vec<u8> {
    let plain = score.to_string();
    let exp = format!("{score:e}");
    if exp.len() < plain.len() { exp } else { plain }.into_bytes()
}

/// A value to encode, borrowed from wherever it lives (the keyspace, during a snapshot), so
/// encoding copies bytes once, into the output.
pub enum ValueView<'a> {
    String(&'a [u8]),
    List(Vec<&'a [u8]>),
    Set(Vec<&'a [u8]>),
    SortedSet(Vec<(&'a [u8], f64)>),
    Hash(Vec<(&'a [u8], &'a [u8])>),
    Stream(&'a crate::stream::StreamValue),
}

impl Value {
    /// A borrowed view of this value, for [`encode_view`].
    pub fn view(&self) -> ValueView<'_> {
        match self {
            Value::String(s) => ValueView::String(s),
            Value::List(items) => ValueView::List(items.iter().collect()),
            Value::Set(members) => ValueView::Set(members.iter().collect()),
            Value::SortedSet(pairs) => ValueView::SortedSet(pairs.iter().collect()),
            Value::Hash(pairs) => ValueView::Hash(pairs.iter().collect()),
            Value::Stream(s) => ValueView::Stream(s),
        }
    }
}

/// Encodes a value as Redis 7.0 would; answers its RDB type.
pub fn encode_value(value: &Value, out: &mut Vec<u8>) -> u8 {
    encode_view(value.view(), out)
}

/// Encodes a borrowed value as Redis 7.0 would; answers its RDB type.
pub fn encode_view(value: ValueView<'_>, out: &mut Vec<u8>) -> u8 {
    match value {
        ValueView::String(s) => {
            push_string(out, s);
            types::STRING
        }
        ValueView::Stream(s) => {
            crate::stream::encode(s, out);
            types::STREAM_LISTPACKS_2
        }
        ValueView::List(items) => {
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut node: Vec<&[u8]> = Vec::new();
            let mut size = 0;
            for item in items {
                if !node.is_empty() && size + item.len() + 11 > LIST_NODE_BYTES {
                    nodes.push(listpack(node.drain(..)));
                    size = 0;
                }
                size += item.len() + 11;
                node.push(item);
            }
            if !node.is_empty() {
                nodes.push(listpack(node.drain(..)));
            }
            push_len(out, nodes.len() as u64);
            for n in &nodes {
                push_len(out, 2); // a packed (listpack) node
                push_string(out, n);
            }
            types::LIST_QUICKLIST_2
        }
        ValueView::Set(members) => {
            let ints: Option<Vec<i64>> = if members.len() <= SET_MAX_INTSET_ENTRIES {
                members.iter().map(|m| canonical_int(m)).collect()
            } else {
                None
            };
            match ints {
                Some(ints) => {
                    push_string(out, &intset(&ints));
                    types::SET_INTSET
                }
                None => {
                    push_len(out, members.len() as u64);
                    for m in members {
                        push_string(out, m);
                    }
                    types::SET
                }
            }
        }
        ValueView::SortedSet(mut pairs) => {
            let small = pairs.len() <= ZSET_MAX_LISTPACK_ENTRIES
                && pairs.iter().all(|(m, _)| m.len() <= MAX_LISTPACK_VALUE);
            if small {
                pairs.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
                let scores: Vec<Vec<u8>> = pairs.iter().map(|(_, s)| score_text(*s)).collect();
                let lp = listpack(
                    pairs
                        .iter()
                        .zip(&scores)
                        .flat_map(|((m, _), s)| [*m, s.as_slice()]),
                );
                push_string(out, &lp);
                types::ZSET_LISTPACK
            } else {
                push_len(out, pairs.len() as u64);
                for (m, s) in pairs {
                    push_string(out, m);
                    out.extend_from_slice(&s.to_le_bytes());
                }
                types::ZSET_2
            }
        }
        ValueView::Hash(pairs) => {
            let small = pairs.len() <= HASH_MAX_LISTPACK_ENTRIES
                && pairs
                    .iter()
                    .all(|(f, v)| f.len() <= MAX_LISTPACK_VALUE && v.len() <= MAX_LISTPACK_VALUE);
            if small {
                let lp = listpack(pairs.iter().flat_map(|(f, v)| [*f, *v]));
                push_string(out, &lp);
                types::HASH_LISTPACK
            } else {
                push_len(out, pairs.len() as u64);
                for (f, v) in pairs {
                    push_string(out, f);
                    push_string(out, v);
                }
                types::HASH
            }
        }
    }
}

/// A key of any type as [`encode_entry`] writes it, from a borrowed view (a snapshot skips
/// building an [`Entry`] for each key).
pub fn encode_view_entry(
    key: &[u8],
    value: ValueView<'_>,
    expire_ms: Option<u64>,
    out: &mut Vec<u8>,
) {
    if let Some(ms) = expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&ms.to_le_bytes());
    }
    let type_at = out.len();
    out.push(0);
    push_string(out, key);
    out[type_at] = encode_view(value, out);
}

/// One key as an RDB file holds it: expiry and eviction hints, then type, key and value.
pub fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    if let Some(ms) = e.expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&ms.to_le_bytes());
    }
    if let Some(idle) = e.idle_seconds {
        out.push(opcodes::IDLE);
        push_len(out, idle);
    }
    if let Some(freq) = e.freq {
        out.push(opcodes::FREQ);
        out.push(freq);
    }
    let type_at = out.len();
    out.push(0);
    push_string(out, &e.key);
    out[type_at] = encode_value(&e.value, out);
}

/// Writes an RDB file: [`Writer::new`] (header and aux fields), [`Writer::select_db`],
/// [`Writer::entry`] per key, [`Writer::finish`] (EOF and checksum).
pub struct Writer<W: Write> {
    out: W,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// The header `REDIS0010` and the auxiliary fields (e.g. `redis-ver`, `ctime`).
    pub fn new(out: W, aux: &[(&str, &str)]) -> std::io::Result<Writer<W>> {
        let mut w = Writer {
            out,
            digest: CRC64.digest(),
            buf: Vec::with_capacity(64 * 1024),
            written: 0,
        };
        w.buf
            .extend_from_slice(format!("REDIS{WRITE_VERSION:04}").as_bytes());
        for (k, v) in aux {
            w.buf.push(opcodes::AUX);
            push_string(&mut w.buf, k.as_bytes());
            push_string(&mut w.buf, v.as_bytes());
        }
        w.flush_if_full()?;
        Ok(w)
    }

    /// A function library (written before the keys, as Redis does).
    pub fn function(&mut self, code: &[u8]) -> std::io::Result<()> {
        self.buf.push(opcodes::FUNCTION2);
        push_string(&mut self.buf, code);
        self.flush_if_full()
    }

    /// Starts database `db`, with the sizing hint Redis writes (keys, keys with a TTL).
    pub fn select_db(&mut self, db: u64, keys: u64, expires: u64) -> std::io::Result<()> {
        self.buf.push(opcodes::SELECTDB);
        push_len(&mut self.buf, db);
        self.buf.push(opcodes::RESIZEDB);
        push_len(&mut self.buf, keys);
        push_len(&mut self.buf, expires);
        self.flush_if_full()
    }

    /// One key: its expiry and eviction hints, then type, key and value.
    pub fn entry(&mut self, e: &Entry) -> std::io::Result<()> {
        encode_entry(e, &mut self.buf);
        self.flush_if_full()
    }

    /// Entries encoded elsewhere with [`encode_entry`] (a snapshot encodes shards on the
    /// threads that visit them and writes them here in whatever order they come).
    pub fn encoded_entries(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= 64 * 1024 {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        self.digest.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The EOF opcode and the CRC64 of the whole file; answers the sink and the size.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.buf.push(opcodes::EOF);
        self.flush_buf()?;
        let crc = self.digest.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok((self.out, self.written + 8))
    }
}
