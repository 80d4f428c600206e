//! Reading RDB: a streaming [`Reader`] over any `Read`, and the value [`Decoder`] it shares
//! with DUMP payloads.
//!
//! Lengths come from the file and are not trusted: strings are read in bounded steps (a
//! length beyond the end of the data fails at the end of the data, having allocated no more
//! than what arrived), element counts only reserve a little up front, and every packed blob
//! is checked for consistency before use. Errors name the byte offset and the key.

use std::io::Read;

use crate::packed;
use crate::{
    opcodes, types, Elements, Entry, Pairs, RdbError, Scored, Value, CRC64, MAX_READ_VERSION,
};

/// What a snapshot holds besides keys, or a key we cannot hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An auxiliary field (`redis-ver`, `ctime`, `used-mem`, ...).
    Aux(Vec<u8>, Vec<u8>),
    /// How many keys (and keys with a TTL) the database that follows holds, as its writer
    /// said (RESIZEDB): a hint for sizing tables, not checked.
    SizeHint {
        db: u64,
        keys: u64,
        expires: u64,
    },
    Entry(Entry),
    /// A function library's code (FUNCTION LOAD's argument).
    Function(Vec<u8>),
    /// Read past, not loaded: a module value. `key` is the
    /// key when it was a key's value.
    Skipped {
        what: String,
        key: Option<Vec<u8>>,
    },
}

/// A byte source that counts its offset and keeps the running CRC64.
///
/// It buffers by itself (callers need not wrap files in a `BufReader`) so the checksum is
/// computed over whole buffers as they are used up, not over each one-byte read: per-call
/// digest updates were a quarter of the parsing thread's time.
pub(crate) struct Src<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[pos..end]` is read from `inner` and not yet consumed; `digest` covers what came
    /// before `buf`.
    pos: usize,
    end: usize,
    pub(crate) offset: u64,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
}

impl<R: Read> Src<R> {
    /// A source reading `inner` through a buffer of `capacity` bytes.
    pub(crate) fn new(inner: R, capacity: usize) -> Src<R> {
        Src {
            inner,
            buf: vec![0; capacity.max(16)].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset: 0,
            digest: CRC64.digest(),
        }
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> RdbError {
        RdbError::Corrupt {
            offset: self.offset,
            reason: reason.into(),
        }
    }

    /// Refills the (used up) buffer; false at the end of the data.
    fn refill(&mut self) -> Result<bool, RdbError> {
        self.digest.update(&self.buf[..self.end]);
        self.pos = 0;
        self.end = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RdbError::Io {
                        offset: self.offset,
                        source: e,
                    })
                }
            }
        }
    }

    fn fill(&mut self, out: &mut [u8]) -> Result<(), RdbError> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end && !self.refill()? {
                return Err(self.corrupt("unexpected end of data (truncated?)"));
            }
            let n = (out.len() - done).min(self.end - self.pos);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            self.offset += n as u64;
            done += n;
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RdbError> {
        if self.pos < self.end {
            let b = self.buf[self.pos];
            self.pos += 1;
            self.offset += 1;
            return Ok(b);
        }
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    /// `n` bytes, read in steps of at most 1 MiB so a lying length costs nothing.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        const STEP: u64 = 1 << 20;
        let mut out = Vec::with_capacity(n.min(STEP) as usize);
        let mut left = n;
        while left > 0 {
            let step = left.min(STEP) as usize;
            let at = out.len();
            out.resize(at + step, 0);
            self.fill(&mut out[at..])?;
            left -= step as u64;
        }
        Ok(out)
    }

    /// `n` bytes appended to `out`, in steps of at most 1 MiB (as [`Self::bytes`]).
    fn bytes_into(&mut self, n: u64, out: &mut Vec<u8>) -> Result<(), RdbError> {
        const STEP: u64 = 1 << 20;
        let mut left = n;
        while left > 0 {
            let step = left.min(STEP) as usize;
            let at = out.len();
            out.resize(at + step, 0);
            self.fill(&mut out[at..])?;
            left -= step as u64;
        }
        Ok(())
    }

    /// The checksum of everything read so far.
    fn checksum(&self) -> u64 {
        let mut d = self.digest.clone();
        d.update(&self.buf[..self.pos]);
        d.finalize()
    }
}

enum Len {
    Len(u64),
    /// A special string encoding: 0 = int8, 1 = int16, 2 = int32, 3 = LZF.
    Enc(u8),
}

/// Decodes values (and the length-prefixed primitives they are made of).
pub(crate) struct Decoder<R> {
    pub(crate) src: Src<R>,
}

impl<R: Read> Decoder<R> {
    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.src.u8()?;
        Ok(match b >> 6 {
            0 => Len::Len(u64::from(b & 0x3f)),
            1 => Len::Len((u64::from(b & 0x3f) << 8) | u64::from(self.src.u8()?)),
            2 => match b {
                0x80 => Len::Len(u64::from(u32::from_be_bytes(self.src.array()?))),
                0x81 => Len::Len(u64::from_be_bytes(self.src.array()?)),
                _ => {
                    return Err(self
                        .src
                        .corrupt(format!("unknown length encoding {b:#04x}")))
                }
            },
            _ => Len::Enc(b & 0x3f),
        })
    }

    pub(crate) fn length(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Len(n) => Ok(n),
            Len::Enc(_) => Err(self.src.corrupt("an encoded string where a length belongs")),
        }
    }

    /// A count of elements that will follow, with a sanity bound on what is reserved.
    fn count(&mut self) -> Result<(u64, usize), RdbError> {
        let n = self.length()?;
        Ok((n, n.min(1024) as usize))
    }

    pub(crate) fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_or_enc()? {
            Len::Len(n) => self.src.bytes(n),
            Len::Enc(0) => Ok((self.src.u8()? as i8).to_string().into_bytes()),
            Len::Enc(1) => Ok(i16::from_le_bytes(self.src.array()?)
                .to_string()
                .into_bytes()),
            Len::Enc(2) => Ok(i32::from_le_bytes(self.src.array()?)
                .to_string()
                .into_bytes()),
            Len::Enc(3) => {
                let clen = self.length()?;
                let len = self.length()?;
                let data = self.src.bytes(clen)?;
                if len > (clen + 1).saturating_mul(256) {
                    return Err(self
                        .src
                        .corrupt("LZF length larger than the data can expand to"));
                }
                crate::lzf::decompress(&data, len as usize)
                    .ok_or_else(|| self.src.corrupt("invalid LZF-compressed string"))
            }
            Len::Enc(e) => Err(self.src.corrupt(format!("unknown string encoding {e}"))),
        }
    }

    /// A string appended to `out` (no allocation of its own when it is stored plain).
    fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), RdbError> {
        match self.len_or_enc()? {
            Len::Len(n) => self.src.bytes_into(n, out),
            Len::Enc(0) => {
                out.extend_from_slice(itoa::Buffer::new().format(self.src.u8()? as i8).as_bytes());
                Ok(())
            }
            Len::Enc(1) => {
                let n = i16::from_le_bytes(self.src.array()?);
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                Ok(())
            }
            Len::Enc(2) => {
                let n = i32::from_le_bytes(self.src.array()?);
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                Ok(())
            }
            Len::Enc(3) => {
                let clen = self.length()?;
                let len = self.length()?;
                let data = self.src.bytes(clen)?;
                if len > (clen + 1).saturating_mul(256) {
                    return Err(self
                        .src
                        .corrupt("LZF length larger than the data can expand to"));
                }
                let plain = crate::lzf::decompress(&data, len as usize)
                    .ok_or_else(|| self.src.corrupt("invalid LZF-compressed string"))?;
                out.extend_from_slice(&plain);
                Ok(())
            }
            Len::Enc(e) => Err(self.src.corrupt(format!("unknown string encoding {e}"))),
        }
    }

    fn strings(&mut self) -> Result<Elements, RdbError> {
        let (n, reserve) = self.count()?;
        let mut v = Elements::with_capacity(reserve, reserve * 16);
        for _ in 0..n {
            v.push_with(|out| self.string_into(out))?;
        }
        Ok(v)
    }

    /// A score of the old ZSET type: a 1-byte length (253 NaN, 254 +inf, 255 -inf) and text.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.src.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.src.bytes(u64::from(n))?;
                parse_score(&text).ok_or_else(|| self.src.corrupt("invalid score"))
            }
        }
    }

    /// A packed encoding stored as a string, its elements appended to `out`.
    fn packed(
        &mut self,
        what: &str,
        decode: impl Fn(&[u8], &mut Elements) -> Option<()>,
        out: &mut Elements,
    ) -> Result<(), RdbError> {
        let blob = self.string()?;
        decode(&blob, out).ok_or_else(|| self.src.corrupt(format!("invalid {what}")))
    }

    fn packed_alone(
        &mut self,
        what: &str,
        decode: impl Fn(&[u8], &mut Elements) -> Option<()>,
    ) -> Result<Elements, RdbError> {
        let mut out = Elements::default();
        self.packed(what, decode, &mut out)?;
        Ok(out)
    }

    fn pairs(&mut self, items: Elements, what: &str) -> Result<Pairs, RdbError> {
        Pairs::from_alternating(items).ok_or_else(|| {
            self.src
                .corrupt(format!("odd number of elements in a {what}"))
        })
    }

    fn scored(&mut self, items: Elements, what: &str) -> Result<Scored, RdbError> {
        let pairs = self.pairs(items, what)?;
        let mut out = Scored::with_capacity(pairs.len(), 0);
        for (m, s) in pairs.iter() {
            match parse_score(s) {
                Some(score) => out.push(m, score),
                None => return Err(self.src.corrupt(format!("invalid score in a {what}"))),
            }
        }
        Ok(out)
    }

    /// The value of RDB type `t`: `Ok(Err(what))` for a value read past (a module's).
    pub(crate) fn value(&mut self, t: u8) -> Result<Result<Value, String>, RdbError> {
        Ok(Ok(match t {
            types::STRING => Value::String(self.string()?),
            types::LIST => Value::List(self.strings()?),
            types::SET => Value::Set(self.strings()?),
            types::ZSET | types::ZSET_2 => {
                let (n, reserve) = self.count()?;
                let mut v = Scored::with_capacity(reserve, reserve * 16);
                let mut member = Vec::new();
                for _ in 0..n {
                    member.clear();
                    self.string_into(&mut member)?;
                    let score = if t == types::ZSET {
                        self.text_double()?
                    } else {
                        f64::from_le_bytes(self.src.array()?)
                    };
                    if score.is_nan() {
                        return Err(self.src.corrupt("NaN score in a sorted set"));
                    }
                    v.push(&member, score);
                }
                Value::SortedSet(v)
            }
            types::HASH => {
                let (n, reserve) = self.count()?;
                let mut v = Pairs::with_capacity(reserve, reserve * 32);
                for _ in 0..n {
                    v.elements_mut().push_with(|out| self.string_into(out))?;
                    v.elements_mut().push_with(|out| self.string_into(out))?;
                }
                Value::Hash(v)
            }
            types::HASH_ZIPMAP => {
                let blob = self.string()?;
                Value::Hash(
                    packed::zipmap_pairs(&blob)
                        .ok_or_else(|| self.src.corrupt("invalid zipmap"))?,
                )
            }
            types::LIST_ZIPLIST => {
                Value::List(self.packed_alone("ziplist", packed::ziplist_entries)?)
            }
            types::SET_INTSET => Value::Set(self.packed_alone("intset", packed::intset_members)?),
            types::SET_LISTPACK => {
                Value::Set(self.packed_alone("listpack", packed::listpack_entries)?)
            }
            types::ZSET_ZIPLIST => {
                let items = self.packed_alone("ziplist", packed::ziplist_entries)?;
                Value::SortedSet(self.scored(items, "sorted set ziplist")?)
            }
            types::ZSET_LISTPACK => {
                let items = self.packed_alone("listpack", packed::listpack_entries)?;
                Value::SortedSet(self.scored(items, "sorted set listpack")?)
            }
            types::HASH_ZIPLIST => {
                let items = self.packed_alone("ziplist", packed::ziplist_entries)?;
                Value::Hash(self.pairs(items, "hash ziplist")?)
            }
            types::HASH_LISTPACK => {
                let items = self.packed_alone("listpack", packed::listpack_entries)?;
                Value::Hash(self.pairs(items, "hash listpack")?)
            }
            types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
                let (nodes, _) = self.count()?;
                let mut v = Elements::default();
                for _ in 0..nodes {
                    if t == types::LIST_QUICKLIST {
                        self.packed("quicklist ziplist node", packed::ziplist_entries, &mut v)?;
                    } else {
                        match self.length()? {
                            // A plain node holds one (large) element as it is.
                            1 => v.push_with(|out| self.string_into(out))?,
                            2 => self.packed(
                                "quicklist listpack node",
                                packed::listpack_entries,
                                &mut v,
                            )?,
                            c => {
                                return Err(self
                                    .src
                                    .corrupt(format!("unknown quicklist container {c}")))
                            }
                        }
                    }
                }
                Value::List(v)
            }
            types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.stream(t)?))
            }
            types::MODULE_2 => {
                let id = self.length()?;
                self.skip_module_data()?;
                return Ok(Err(format!("module value (module id {id:#x})")));
            }
            types::MODULE_PRE_GA => {
                return Err(self
                    .src
                    .corrupt("module values of Redis 4.0 release candidates cannot be read"))
            }
            other => return Err(self.src.corrupt(format!("unknown value type {other}"))),
        }))
    }

    /// Module data in the self-describing format of MODULE_2 and MODULE_AUX: opcode-tagged
    /// fields up to an EOF opcode.
    fn skip_module_data(&mut self) -> Result<(), RdbError> {
        loop {
            match self.length()? {
                0 => return Ok(()),
                1 | 2 => {
                    self.length()?;
                }
                3 => {
                    self.src.array::<4>()?;
                }
                4 => {
                    self.src.array::<8>()?;
                }
                5 => {
                    self.string()?;
                }
                op => return Err(self.src.corrupt(format!("unknown module data opcode {op}"))),
            }
        }
    }

    /// A stream (`rdbLoadObject`'s stream branch, types 15, 19 and 21).
    fn stream(&mut self, t: u8) -> Result<crate::stream::StreamValue, RdbError> {
        use crate::stream::{ConsumerValue, GroupValue, StreamValue};
        let mut s = StreamValue::default();
        let (listpacks, reserve) = self.count()?;
        s.nodes.reserve(reserve);
        for _ in 0..listpacks {
            let id = self.string()?;
            let id: [u8; 16] = id
                .try_into()
                .map_err(|_| self.src.corrupt("stream node key is not a 128-bit id"))?;
            let lp = self.string()?;
            s.nodes.push((id, lp));
        }
        s.length = self.length()?;
        s.last_id = (self.length()?, self.length()?);
        if t != types::STREAM_LISTPACKS {
            s.first_id = Some((self.length()?, self.length()?));
            s.max_deleted = (self.length()?, self.length()?);
            s.entries_added = Some(self.length()?);
        }
        let (groups, reserve) = self.count()?;
        s.groups.reserve(reserve);
        for _ in 0..groups {
            let mut g = GroupValue {
                name: self.string()?,
                last_id: (self.length()?, self.length()?),
                ..Default::default()
            };
            if t != types::STREAM_LISTPACKS {
                g.entries_read = Some(self.length()? as i64);
            }
            let (pel, reserve) = self.count()?;
            g.pel.reserve(reserve);
            for _ in 0..pel {
                let id = self.src.array::<16>()?;
                let time = u64::from_le_bytes(self.src.array::<8>()?);
                let count = self.length()?;
                g.pel.push((id, time, count));
            }
            let (consumers, reserve) = self.count()?;
            g.consumers.reserve(reserve);
            for _ in 0..consumers {
                let mut c = ConsumerValue {
                    name: self.string()?,
                    seen_time: u64::from_le_bytes(self.src.array::<8>()?),
                    ..Default::default()
                };
                if t == types::STREAM_LISTPACKS_3 {
                    c.active_time = Some(u64::from_le_bytes(self.src.array::<8>()?));
                }
                let (pel, reserve) = self.count()?;
                c.pel.reserve(reserve);
                for _ in 0..pel {
                    c.pel.push(self.src.array::<16>()?);
                }
                g.consumers.push(c);
            }
            s.groups.push(g);
        }
        Ok(s)
    }
}

/// A score as Redis writes it in text (`%.17g`, `inf`, `-inf`).
pub fn parse_score(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Reads an RDB file item by item.
pub struct Reader<R> {
    dec: Decoder<R>,
    version: u16,
    db: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header (`REDIS` and a version from 1 to 11).
    pub fn new(inner: R) -> Result<Reader<R>, RdbError> {
        let mut dec = Decoder {
            src: Src::new(inner, 256 * 1024),
        };
        let magic: [u8; 9] = dec.src.array().map_err(|_| RdbError::Corrupt {
            offset: 0,
            reason: "not an RDB file (shorter than its header)".into(),
        })?;
        if &magic[..5] != b"REDIS" {
            return Err(RdbError::Corrupt {
                offset: 0,
                reason: "not an RDB file (no REDIS signature)".into(),
            });
        }
        let version = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|v| (1..=MAX_READ_VERSION).contains(v))
            .ok_or_else(|| RdbError::Corrupt {
                offset: 5,
                reason: format!(
                    "unsupported RDB version {:?} (versions 1 to {MAX_READ_VERSION} are read)",
                    String::from_utf8_lossy(&magic[5..])
                ),
            })?;
        Ok(Reader {
            dec,
            version,
            db: 0,
            done: false,
        })
    }

    pub fn version(&self) -> u16 {
        self.version
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.dec.src.offset
    }

    /// The next item; `None` after the EOF marker (whose checksum has then been verified).
    pub fn next_item(&mut self) -> Result<Option<Item>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let mut expire_ms = None;
        let mut idle = None;
        let mut freq = None;
        loop {
            let op = self.dec.src.u8()?;
            match op {
                opcodes::EOF => {
                    self.finish()?;
                    return Ok(None);
                }
                opcodes::SELECTDB => self.db = self.dec.length()?,
                opcodes::RESIZEDB => {
                    let keys = self.dec.length()?;
                    let expires = self.dec.length()?;
                    return Ok(Some(Item::SizeHint {
                        db: self.db,
                        keys,
                        expires,
                    }));
                }
                opcodes::AUX => {
                    let k = self.dec.string()?;
                    let v = self.dec.string()?;
                    return Ok(Some(Item::Aux(k, v)));
                }
                opcodes::EXPIRETIME_MS => {
                    expire_ms = Some(u64::from_le_bytes(self.dec.src.array()?));
                }
                opcodes::EXPIRETIME => {
                    let s = u32::from_le_bytes(self.dec.src.array()?);
                    expire_ms = Some(u64::from(s) * 1000);
                }
                opcodes::IDLE => idle = Some(self.dec.length()?),
                opcodes::FREQ => freq = Some(self.dec.src.u8()?),
                opcodes::MODULE_AUX => {
                    let id = self.dec.length()?;
                    self.dec.length()?; // when_opcode
                    self.dec.length()?; // when
                    self.dec.skip_module_data()?;
                    return Ok(Some(Item::Skipped {
                        what: format!("module auxiliary data (module id {id:#x})"),
                        key: None,
                    }));
                }
                opcodes::FUNCTION2 => {
                    return Ok(Some(Item::Function(self.dec.string()?)));
                }
                opcodes::FUNCTION_PRE_GA => {
                    return Err(self.dec.src.corrupt(
                        "function libraries of Redis 7.0 release candidates cannot be read",
                    ))
                }
                t => {
                    let key = self.dec.string()?;
                    let at = self.dec.src.offset;
                    let value = self.dec.value(t).map_err(|e| match e {
                        RdbError::Corrupt { offset, reason } => RdbError::Corrupt {
                            offset,
                            reason: format!(
                                "{reason} (key '{}', value at offset {at})",
                                String::from_utf8_lossy(&key)
                            ),
                        },
                        io => io,
                    })?;
                    return Ok(Some(match value {
                        Ok(value) => Item::Entry(Entry {
                            db: self.db,
                            key,
                            value,
                            expire_ms,
                            idle_seconds: idle,
                            freq,
                        }),
                        Err(what) => Item::Skipped {
                            what,
                            key: Some(key),
                        },
                    }));
                }
            }
        }
    }

    /// After the EOF opcode: the 8-byte CRC64 of everything before it (version 5 on; zero
    /// means the writer had checksums disabled).
    fn finish(&mut self) -> Result<(), RdbError> {
        self.done = true;
        if self.version < 5 {
            return Ok(());
        }
        let computed = self.dec.src.checksum();
        let stored = u64::from_le_bytes(self.dec.src.array()?);
        if stored != 0 && stored != computed {
            return Err(RdbError::Corrupt {
                offset: self.dec.src.offset - 8,
                reason: format!(
                    "wrong checksum (stored {stored:#018x}, computed {computed:#018x})"
                ),
            });
        }
        Ok(())
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Item, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(Some(i)) => Some(Ok(i)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
