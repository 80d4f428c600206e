//! A key, its value and its metadata in one heap allocation.
//!
//! Why this layout: a cache's memory goes to per-key overhead when keys and values are small.
//! Redis spends ~120 bytes of heap on a 10-byte key with a 32-byte value (dictEntry, robj,
//! two sds strings). Here the same key costs one allocation of 48 bytes plus its 8-byte table
//! slot:
//!
//! ```text
//! [0]      flags: encoding (2 bits) | has TTL | 2-bit access counter | promoted | spare
//! [1..4]   24-bit access field, as Redis's `lru`: seconds clock, or LFU minutes+counter
//! [4..12]  deadline in ms (only when the TTL flag is set)
//! [..+4]   position in the shard's volatile-key list (only when the TTL flag is set)
//! varint   key length, then the key bytes
//! value    int: 8 bytes | embstr: varint length + bytes | raw: Vec<u8> parts (24 bytes)
//! ```
//!
//! Integers are stored as integers and strings of up to 512 bytes inline; longer strings, and
//! strings modified in place by APPEND/SETRANGE, get their own growable buffer. `OBJECT
//! ENCODING` still answers Redis's `int`/`embstr`/`raw` (an inline string over 44 bytes is
//! reported `raw`, as Redis stores it).

use std::alloc::{alloc, dealloc, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use crate::stream::Stream;
use crate::value::{Hash, List, Set, Str, Value, EMBSTR_MAX};
use crate::zset::ZSet;

const ENC_INT: u8 = 0;
const ENC_EMB: u8 = 1;
const ENC_RAW: u8 = 2;
/// Written whole and longer than an embstr: reported as `raw` like Redis, but stored inline
/// (one allocation instead of two) until something modifies it in place.
const ENC_INLINE_RAW: u8 = 3;
/// Longest string kept inline; longer ones get their own buffer.
pub const INLINE_MAX: usize = 512;
const ENC_MASK: u8 = 0b11;
const FLAG_TTL: u8 = 1 << 2;
const FREQ_SHIFT: u8 = 3;
const FREQ_MASK: u8 = 0b11 << FREQ_SHIFT;
const FLAG_MAIN: u8 = 1 << 5;
/// Bits 6-7: the value's type. Strings use the encoding bits; collections store an 8-byte
/// pointer to their boxed structure.
const TYPE_SHIFT: u8 = 6;
const TYPE_STR: u8 = 0;
const TYPE_HASH: u8 = 1;
const TYPE_LIST: u8 = 2;
const TYPE_SET: u8 = 3;
/// Sorted sets share type bits 3 with sets and are told apart by the (otherwise unused for
/// collections) encoding bits: 0 = set, 1 = sorted set.
const COLL_ZSET: u8 = 1;
/// Streams share type bits 3 too, with encoding bits 2.
const COLL_STREAM: u8 = 2;

/// What an entry holds, decoded from the flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Hash,
    List,
    Set,
    ZSet,
    Stream,
}

const HEADER: usize = 4;
const TTL_FIELDS: usize = 12;
const RAW_PARTS: usize = 24;

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes `n` as LEB128 at `p`; returns the bytes written.
unsafe fn write_varint(p: *mut u8, mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        *p.add(i) = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    *p.add(i) = n as u8;
    i + 1
}

/// Reads a LEB128 number at `p`: (value, bytes read).
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let b = *p.add(i);
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

/// How a string value is to be stored.
enum StrInit<'a> {
    Int(i64),
    Emb(&'a [u8]),
    InlineRaw(&'a [u8]),
    Raw(Vec<u8>),
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

/// A borrowed view of a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes { bytes: &'a [u8], raw: bool },
}

impl StrRef<'_> {
    /// Calls `f` with the bytes, formatting integers on the stack.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrRef::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            StrRef::Bytes { bytes, .. } => f(bytes),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    pub fn len(&self) -> usize {
        match self {
            StrRef::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrRef::Bytes { bytes, .. } => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrRef::Int(n) => Some(*n),
            StrRef::Bytes { bytes, .. } => resp::number::parse_i64(bytes),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrRef::Int(_) => "int",
            StrRef::Bytes { raw: false, .. } => "embstr",
            StrRef::Bytes { raw: true, .. } => "raw",
        }
    }

    pub fn to_owned(&self) -> Str {
        match *self {
            StrRef::Int(n) => Str::Int(n),
            StrRef::Bytes { bytes, raw: false } => Str::Emb(bytes.into()),
            StrRef::Bytes { bytes, raw: true } => Str::Raw(bytes.to_vec()),
        }
    }
}

/// A borrowed view of a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Str(StrRef<'a>),
    Hash(&'a Hash),
    List(&'a List),
    Set(&'a Set),
    ZSet(&'a ZSet),
    Stream(&'a Stream),
}

impl<'a> ValueRef<'a> {
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::Hash(_) => "hash",
            ValueRef::List(_) => "list",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
            ValueRef::Stream(_) => "stream",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding(),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::List(_) => "quicklist",
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
            ValueRef::Stream(_) => "stream",
        }
    }

    pub fn as_str(&self) -> Option<StrRef<'a>> {
        match self {
            ValueRef::Str(s) => Some(*s),
            _ => None,
        }
    }

    pub fn as_hash(&self) -> Option<&'a Hash> {
        match self {
            ValueRef::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&'a List> {
        match self {
            ValueRef::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_set(&self) -> Option<&'a Set> {
        match self {
            ValueRef::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_zset(&self) -> Option<&'a ZSet> {
        match self {
            ValueRef::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_stream(&self) -> Option<&'a Stream> {
        match self {
            ValueRef::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_owned(&self) -> Value {
        match self {
            ValueRef::Stream(s) => Value::Stream(Box::new((*s).clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new((*z).clone())),
            ValueRef::Set(s) => Value::Set(Box::new((*s).clone())),
            ValueRef::Str(s) => Value::Str(s.to_owned()),
            ValueRef::Hash(h) => Value::Hash(Box::new((*h).clone())),
            ValueRef::List(l) => Value::List(Box::new((*l).clone())),
        }
    }
}

/// The address of an entry; all field access goes through it. Views and the owner wrap it.
#[derive(Clone, Copy)]
struct Raw(NonNull<u8>);

impl Raw {
    fn p(&self) -> *mut u8 {
        self.0.as_ptr()
    }

    fn flags(&self) -> u8 {
        // SAFETY: the first byte always exists.
        unsafe { *self.p() }
    }

    fn encoding_bits(&self) -> u8 {
        self.flags() & ENC_MASK
    }

    fn type_bits(&self) -> u8 {
        self.flags() >> TYPE_SHIFT
    }

    fn kind(&self) -> Kind {
        match self.type_bits() {
            TYPE_STR => Kind::Str,
            TYPE_HASH => Kind::Hash,
            TYPE_LIST => Kind::List,
            _ if self.encoding_bits() == COLL_ZSET => Kind::ZSet,
            _ if self.encoding_bits() == COLL_STREAM => Kind::Stream,
            _ => Kind::Set,
        }
    }

    /// The boxed collection's address (collections only).
    fn collection_ptr(&self) -> *mut u8 {
        self.read_u64(self.value_offset()) as *mut u8
    }

    fn has_ttl(&self) -> bool {
        self.flags() & FLAG_TTL != 0
    }

    fn key_span(&self) -> (usize, usize) {
        let at = HEADER + if self.has_ttl() { TTL_FIELDS } else { 0 };
        // SAFETY: the key length varint is written here by `build`.
        let (len, n) = unsafe { read_varint(self.p().add(at)) };
        (at + n, len)
    }

    fn value_offset(&self) -> usize {
        let (at, len) = self.key_span();
        at + len
    }

    fn read_u64(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        // SAFETY: callers pass offsets of 8-byte fields inside the allocation.
        unsafe { std::ptr::copy_nonoverlapping(self.p().add(at), b.as_mut_ptr(), 8) };
        u64::from_le_bytes(b)
    }

    fn write_u64(&self, at: usize, v: u64) {
        // SAFETY: as in read_u64; writers hold exclusive access (EntryMut or the owner).
        unsafe { std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), self.p().add(at), 8) };
    }

    fn raw_parts(&self) -> (*mut u8, usize, usize) {
        let at = self.value_offset();
        (
            self.read_u64(at) as *mut u8,
            self.read_u64(at + 8) as usize,
            self.read_u64(at + 16) as usize,
        )
    }

    /// # Safety
    /// The returned slices must not outlive the entry.
    unsafe fn key<'a>(&self) -> &'a [u8] {
        let (at, len) = self.key_span();
        std::slice::from_raw_parts(self.p().add(at), len)
    }

    /// # Safety
    /// As for `key`.
    unsafe fn value<'a>(&self) -> ValueRef<'a> {
        let at = self.value_offset();
        match self.kind() {
            Kind::Hash => return ValueRef::Hash(&*(self.collection_ptr() as *const Hash)),
            Kind::List => return ValueRef::List(&*(self.collection_ptr() as *const List)),
            Kind::Set => return ValueRef::Set(&*(self.collection_ptr() as *const Set)),
            Kind::ZSet => return ValueRef::ZSet(&*(self.collection_ptr() as *const ZSet)),
            Kind::Stream => return ValueRef::Stream(&*(self.collection_ptr() as *const Stream)),
            Kind::Str => {}
        }
        ValueRef::Str(match self.encoding_bits() {
            ENC_INT => StrRef::Int(self.read_u64(at) as i64),
            enc @ (ENC_EMB | ENC_INLINE_RAW) => {
                let (len, n) = read_varint(self.p().add(at));
                let bytes = std::slice::from_raw_parts(self.p().add(at + n), len);
                StrRef::Bytes {
                    bytes,
                    raw: enc == ENC_INLINE_RAW,
                }
            }
            _ => {
                let (p, len, _) = self.raw_parts();
                StrRef::Bytes {
                    bytes: std::slice::from_raw_parts(p, len),
                    raw: true,
                }
            }
        })
    }

    fn expire_at(&self) -> Option<u64> {
        self.has_ttl().then(|| self.read_u64(HEADER))
    }

    fn volatile_pos(&self) -> u32 {
        let mut b = [0u8; 4];
        // SAFETY: present when has_ttl (checked by callers).
        unsafe { std::ptr::copy_nonoverlapping(self.p().add(HEADER + 8), b.as_mut_ptr(), 4) };
        u32::from_le_bytes(b)
    }

    fn access(&self) -> u32 {
        let mut b = [0u8; 4];
        // SAFETY: bytes 1..4 are the access field.
        unsafe { std::ptr::copy_nonoverlapping(self.p().add(1), b.as_mut_ptr(), 3) };
        u32::from_le_bytes(b)
    }

    fn freq(&self) -> u8 {
        (self.flags() & FREQ_MASK) >> FREQ_SHIFT
    }

    fn main(&self) -> bool {
        self.flags() & FLAG_MAIN != 0
    }

    fn alloc_size(&self) -> usize {
        let at = self.value_offset();
        if self.type_bits() != TYPE_STR {
            return at + 8;
        }
        at + match self.encoding_bits() {
            ENC_INT => 8,
            ENC_EMB | ENC_INLINE_RAW => {
                // SAFETY: an inline string starts with its length varint.
                let (len, n) = unsafe { read_varint(self.p().add(at)) };
                n + len
            }
            _ => RAW_PARTS,
        }
    }

    fn raw_capacity(&self) -> usize {
        if self.type_bits() == TYPE_STR && self.encoding_bits() == ENC_RAW {
            self.raw_parts().2
        } else {
            0
        }
    }

    fn is_heap_raw(&self) -> bool {
        self.type_bits() == TYPE_STR && self.encoding_bits() == ENC_RAW
    }
}

/// A shared view of an entry.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    raw: Raw,
    _life: std::marker::PhantomData<&'a Entry>,
}

/// An exclusive view of an entry: in-place changes that keep its size.
pub struct EntryMut<'a> {
    raw: Raw,
    _life: std::marker::PhantomData<&'a mut Entry>,
}

impl<'a> EntryRef<'a> {
    pub fn key(&self) -> &'a [u8] {
        // SAFETY: the view's lifetime is bounded by the entry's owner.
        unsafe { self.raw.key() }
    }

    pub fn value(&self) -> ValueRef<'a> {
        // SAFETY: as for key.
        unsafe { self.raw.value() }
    }

    pub fn expire_at(&self) -> Option<u64> {
        self.raw.expire_at()
    }

    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at().is_some_and(|at| now > at)
    }

    pub fn has_ttl(&self) -> bool {
        self.raw.has_ttl()
    }

    pub fn volatile_pos(&self) -> u32 {
        self.raw.volatile_pos()
    }

    /// Redis's 24-bit `lru` field: a seconds clock (LRU) or minutes<<8|counter (LFU).
    pub fn access(&self) -> u32 {
        self.raw.access()
    }

    /// The 2-bit access counter used by the eviction policy (0..=3).
    pub fn freq(&self) -> u8 {
        self.raw.freq()
    }

    /// Whether the eviction policy promoted this key out of probation (read since insert).
    pub fn main(&self) -> bool {
        self.raw.main()
    }

    pub fn meta(&self) -> Meta {
        Meta {
            access: self.access(),
            freq: self.freq(),
            main: self.main(),
        }
    }

    /// Bytes requested from the allocator for the entry itself.
    pub fn alloc_size(&self) -> usize {
        self.raw.alloc_size()
    }

    /// Capacity of the separate buffer of a raw string (0 otherwise).
    pub fn raw_capacity(&self) -> usize {
        self.raw.raw_capacity()
    }

    /// Whether the string lives in its own growable buffer (in-place changes possible).
    pub fn is_heap_raw(&self) -> bool {
        self.raw.is_heap_raw()
    }

    /// Heap bytes outside the entry allocation: a raw string's buffer or a collection.
    pub fn extra_bytes(&self) -> usize {
        match self.value() {
            ValueRef::Hash(h) => std::mem::size_of::<Hash>() + h.heap_size(),
            ValueRef::List(l) => std::mem::size_of::<List>() + l.heap_size(),
            ValueRef::Set(s) => std::mem::size_of::<Set>() + s.heap_size(),
            ValueRef::ZSet(z) => std::mem::size_of::<ZSet>() + z.heap_size(),
            ValueRef::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
            ValueRef::Str(_) => self.raw.raw_capacity(),
        }
    }

    /// The entry's address (the shard's volatile-key list refers to entries by it).
    pub(crate) fn addr(&self) -> u64 {
        self.raw.p() as u64
    }
}

impl<'a> EntryMut<'a> {
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            raw: self.raw,
            _life: std::marker::PhantomData,
        }
    }

    pub fn key(&self) -> &[u8] {
        self.as_ref().key()
    }

    pub fn value(&self) -> ValueRef<'_> {
        self.as_ref().value()
    }

    pub fn expire_at(&self) -> Option<u64> {
        self.raw.expire_at()
    }

    pub fn set_access(&mut self, v: u32) {
        // SAFETY: exclusive view; bytes 1..4 are the access field.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (v & 0x00ff_ffff).to_le_bytes().as_ptr(),
                self.raw.p().add(1),
                3,
            )
        };
    }

    pub fn set_freq(&mut self, f: u8) {
        // SAFETY: exclusive view; byte 0 is the flags byte.
        unsafe {
            let p = self.raw.p();
            *p = (*p & !FREQ_MASK) | (f.min(3) << FREQ_SHIFT);
        }
    }

    pub fn set_main(&mut self, main: bool) {
        // SAFETY: exclusive view; byte 0 is the flags byte.
        unsafe {
            let p = self.raw.p();
            *p = if main {
                *p | FLAG_MAIN
            } else {
                *p & !FLAG_MAIN
            };
        }
    }

    /// Changes the deadline of an entry that already has one.
    pub fn set_deadline_in_place(&mut self, at: u64) {
        debug_assert!(self.raw.has_ttl());
        self.raw.write_u64(HEADER, at);
    }

    pub fn set_volatile_pos(&mut self, pos: u32) {
        debug_assert!(self.raw.has_ttl());
        // SAFETY: exclusive view; the field exists when has_ttl.
        unsafe {
            std::ptr::copy_nonoverlapping(
                pos.to_le_bytes().as_ptr(),
                self.raw.p().add(HEADER + 8),
                4,
            )
        };
    }

    /// The hash, for in-place changes; `None` for other types.
    pub fn hash_mut(&mut self) -> Option<&mut Hash> {
        if self.raw.type_bits() != TYPE_HASH {
            return None;
        }
        // SAFETY: a hash entry owns this box; &mut self makes this the only access.
        Some(unsafe { &mut *(self.raw.collection_ptr() as *mut Hash) })
    }

    /// The list, for in-place changes; `None` for other types.
    pub fn list_mut(&mut self) -> Option<&mut List> {
        if self.raw.type_bits() != TYPE_LIST {
            return None;
        }
        // SAFETY: a list entry owns this box; &mut self makes this the only access.
        Some(unsafe { &mut *(self.raw.collection_ptr() as *mut List) })
    }

    /// The set, for in-place changes; `None` for other types.
    pub fn set_mut(&mut self) -> Option<&mut Set> {
        if self.raw.kind() != Kind::Set {
            return None;
        }
        // SAFETY: a set entry owns this box; &mut self makes this the only access.
        Some(unsafe { &mut *(self.raw.collection_ptr() as *mut Set) })
    }

    /// The sorted set, for in-place changes; `None` for other types.
    pub fn zset_mut(&mut self) -> Option<&mut ZSet> {
        if self.raw.kind() != Kind::ZSet {
            return None;
        }
        // SAFETY: a sorted-set entry owns this box; &mut self makes this the only access.
        Some(unsafe { &mut *(self.raw.collection_ptr() as *mut ZSet) })
    }

    /// The stream, for in-place changes; `None` for other types.
    pub fn stream_mut(&mut self) -> Option<&mut Stream> {
        if self.raw.kind() != Kind::Stream {
            return None;
        }
        // SAFETY: a stream entry owns this box; &mut self makes this the only access.
        Some(unsafe { &mut *(self.raw.collection_ptr() as *mut Stream) })
    }

    /// Sets the integer of an int-encoded string (INCR in place); false for other encodings.
    pub fn set_int_in_place(&mut self, n: i64) -> bool {
        if self.raw.type_bits() != TYPE_STR || self.raw.encoding_bits() != ENC_INT {
            return false;
        }
        let at = self.raw.value_offset();
        self.raw.write_u64(at, n as u64);
        true
    }

    /// Runs `f` on the buffer of a raw string (APPEND, SETRANGE in place); `None` for other
    /// encodings (convert first with [`Entry::into_raw`]).
    pub fn with_raw<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        if !self.raw.is_heap_raw() {
            return None;
        }
        let (p, len, cap) = self.raw.raw_parts();
        // SAFETY: the parts describe a Vec this entry owns; the (possibly moved) parts are
        // written back before returning, so ownership stays with the entry.
        let mut v = ManuallyDrop::new(unsafe { Vec::from_raw_parts(p, len, cap) });
        let r = f(&mut v);
        let at = self.raw.value_offset();
        self.raw.write_u64(at, v.as_mut_ptr() as u64);
        self.raw.write_u64(at + 8, v.len() as u64);
        self.raw.write_u64(at + 16, v.capacity() as u64);
        Some(r)
    }
}

/// Owner of one entry allocation. Dropping it frees the entry.
pub struct Entry {
    raw: Raw,
}

// SAFETY: an Entry exclusively owns its allocation (like a Box), so it can move between
// threads; shared access goes through the shard's mutex.
unsafe impl Send for Entry {}

/// Metadata carried over when an entry is rebuilt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    pub access: u32,
    pub freq: u8,
    pub main: bool,
}

impl Entry {
    /// Builds an entry for a string written whole, choosing the encoding as Redis's
    /// `tryObjectEncoding` (int, embstr up to 44 bytes, raw beyond).
    pub fn new_str(key: &[u8], bytes: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        let init = if bytes.len() <= 20 {
            match resp::number::parse_i64(bytes) {
                Some(n) => StrInit::Int(n),
                None => StrInit::Emb(bytes),
            }
        } else if bytes.len() <= EMBSTR_MAX {
            StrInit::Emb(bytes)
        } else if bytes.len() <= INLINE_MAX {
            StrInit::InlineRaw(bytes)
        } else {
            StrInit::Raw(bytes.to_vec())
        };
        Self::build(key, init, expire, meta)
    }

    /// Builds an entry holding an owned value as it is (keeping its encoding).
    pub fn new(key: &[u8], value: Value, expire: Option<u64>, meta: Meta) -> Entry {
        match value {
            Value::Str(Str::Int(n)) => Self::build(key, StrInit::Int(n), expire, meta),
            Value::Str(Str::Emb(b)) => Self::build(key, StrInit::Emb(&b), expire, meta),
            Value::Str(Str::Raw(v)) if v.len() <= INLINE_MAX => {
                Self::build(key, StrInit::InlineRaw(&v), expire, meta)
            }
            Value::Str(Str::Raw(v)) => Self::build(key, StrInit::Raw(v), expire, meta),
            Value::Hash(h) => Self::build(key, StrInit::Hash(h), expire, meta),
            Value::List(l) => Self::build(key, StrInit::List(l), expire, meta),
            Value::Set(s) => Self::build(key, StrInit::Set(s), expire, meta),
            Value::ZSet(z) => Self::build(key, StrInit::ZSet(z), expire, meta),
            Value::Stream(s) => Self::build(key, StrInit::Stream(s), expire, meta),
        }
    }

    /// A new key holding an empty set.
    pub fn new_set(key: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        Self::build(key, StrInit::Set(Box::default()), expire, meta)
    }

    /// A new key holding an empty sorted set.
    pub fn new_zset(key: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        Self::build(key, StrInit::ZSet(Box::default()), expire, meta)
    }

    /// A new key holding an empty stream.
    pub fn new_stream(key: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        Self::build(key, StrInit::Stream(Box::default()), expire, meta)
    }

    /// A new key holding an empty list.
    pub fn new_list(key: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        Self::build(key, StrInit::List(Box::default()), expire, meta)
    }

    /// A new key holding an empty hash.
    pub fn new_hash(key: &[u8], expire: Option<u64>, meta: Meta) -> Entry {
        Self::build(key, StrInit::Hash(Box::default()), expire, meta)
    }

    fn size_for(key_len: usize, init: &StrInit<'_>, ttl: bool) -> usize {
        let value = match init {
            StrInit::Int(_) => 8,
            StrInit::Emb(b) | StrInit::InlineRaw(b) => varint_len(b.len()) + b.len(),
            StrInit::Raw(_) => RAW_PARTS,
            StrInit::Hash(_) | StrInit::List(_) | StrInit::Set(_) | StrInit::ZSet(_) => 8,
            StrInit::Stream(_) => 8,
        };
        HEADER + if ttl { TTL_FIELDS } else { 0 } + varint_len(key_len) + key_len + value
    }

    fn build(key: &[u8], init: StrInit<'_>, expire: Option<u64>, meta: Meta) -> Entry {
        let size = Self::size_for(key.len(), &init, expire.is_some());
        let layout = Layout::from_size_align(size, 1).expect("entry size fits a layout");
        // SAFETY: size > 0; every byte written below lies within `size` by construction of
        // `size_for`, which mirrors the writes one for one.
        unsafe {
            let p = alloc(layout);
            let Some(ptr) = NonNull::new(p) else {
                std::alloc::handle_alloc_error(layout)
            };
            let enc = match init {
                StrInit::Int(_) => ENC_INT,
                StrInit::Emb(_) => ENC_EMB,
                StrInit::InlineRaw(_) => ENC_INLINE_RAW,
                StrInit::Raw(_) => ENC_RAW,
                StrInit::Hash(_) => TYPE_HASH << TYPE_SHIFT,
                StrInit::List(_) => TYPE_LIST << TYPE_SHIFT,
                StrInit::Set(_) => TYPE_SET << TYPE_SHIFT,
                StrInit::ZSet(_) => (TYPE_SET << TYPE_SHIFT) | COLL_ZSET,
                StrInit::Stream(_) => (TYPE_SET << TYPE_SHIFT) | COLL_STREAM,
            };
            let ttl = if expire.is_some() { FLAG_TTL } else { 0 };
            let main = if meta.main { FLAG_MAIN } else { 0 };
            *p = enc | ttl | main | ((meta.freq.min(3)) << FREQ_SHIFT);
            let access = meta.access & 0x00ff_ffff;
            std::ptr::copy_nonoverlapping(access.to_le_bytes().as_ptr(), p.add(1), 3);
            let mut at = HEADER;
            if let Some(deadline) = expire {
                std::ptr::copy_nonoverlapping(deadline.to_le_bytes().as_ptr(), p.add(at), 8);
                std::ptr::write_bytes(p.add(at + 8), 0, 4);
                at += TTL_FIELDS;
            }
            at += write_varint(p.add(at), key.len());
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(at), key.len());
            at += key.len();
            match init {
                StrInit::Int(n) => {
                    std::ptr::copy_nonoverlapping(n.to_le_bytes().as_ptr(), p.add(at), 8)
                }
                StrInit::Emb(b) | StrInit::InlineRaw(b) => {
                    at += write_varint(p.add(at), b.len());
                    std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(at), b.len());
                }
                StrInit::Hash(h) => {
                    let addr = Box::into_raw(h) as u64;
                    std::ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), p.add(at), 8);
                }
                StrInit::List(l) => {
                    let addr = Box::into_raw(l) as u64;
                    std::ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), p.add(at), 8);
                }
                StrInit::Set(set) => {
                    let addr = Box::into_raw(set) as u64;
                    std::ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), p.add(at), 8);
                }
                StrInit::ZSet(z) => {
                    let addr = Box::into_raw(z) as u64;
                    std::ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), p.add(at), 8);
                }
                StrInit::Stream(st) => {
                    let addr = Box::into_raw(st) as u64;
                    std::ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), p.add(at), 8);
                }
                StrInit::Raw(v) => {
                    let v = ManuallyDrop::new(v);
                    let parts = [v.as_ptr() as usize, v.len(), v.capacity()];
                    for (i, part) in parts.iter().enumerate() {
                        std::ptr::copy_nonoverlapping(
                            part.to_le_bytes().as_ptr(),
                            p.add(at + 8 * i),
                            8,
                        );
                    }
                }
            }
            Entry { raw: Raw(ptr) }
        }
    }

    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            raw: self.raw,
            _life: std::marker::PhantomData,
        }
    }

    pub fn as_mut(&mut self) -> EntryMut<'_> {
        EntryMut {
            raw: self.raw,
            _life: std::marker::PhantomData,
        }
    }

    pub fn key(&self) -> &[u8] {
        self.as_ref().key()
    }

    pub fn value(&self) -> ValueRef<'_> {
        self.as_ref().value()
    }

    pub fn expire_at(&self) -> Option<u64> {
        self.raw.expire_at()
    }

    /// Takes the value out, freeing the entry.
    pub fn into_value(self) -> Value {
        let value = match self.raw.encoding_bits() {
            _ if self.raw.type_bits() == TYPE_HASH => {
                // SAFETY: ownership of the box moves to the returned value; the entry is freed
                // below without dropping it again.
                Value::Hash(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Hash) })
            }
            _ if self.raw.type_bits() == TYPE_LIST => {
                // SAFETY: as for the hash above.
                Value::List(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut List) })
            }
            _ if self.raw.kind() == Kind::Set => {
                // SAFETY: as for the hash above.
                Value::Set(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Set) })
            }
            _ if self.raw.kind() == Kind::ZSet => {
                // SAFETY: as for the hash above.
                Value::ZSet(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut ZSet) })
            }
            _ if self.raw.kind() == Kind::Stream => {
                // SAFETY: as for the hash above.
                Value::Stream(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Stream) })
            }
            ENC_RAW => {
                let (p, len, cap) = self.raw.raw_parts();
                // SAFETY: ownership of the buffer moves to the returned Vec; the entry is
                // freed below without dropping it again.
                Value::Str(Str::Raw(unsafe { Vec::from_raw_parts(p, len, cap) }))
            }
            _ => self.value().to_owned(),
        };
        let this = ManuallyDrop::new(self);
        // SAFETY: frees the entry allocation only (the raw buffer now belongs to `value`).
        unsafe {
            dealloc(
                this.raw.p(),
                Layout::from_size_align_unchecked(this.raw.alloc_size(), 1),
            )
        };
        value
    }

    /// Rebuilds under another key and/or deadline, moving the value and keeping the access
    /// metadata.
    pub fn rebuild(self, key: Option<&[u8]>, expire: Option<u64>) -> Entry {
        let meta = self.as_ref().meta();
        let key = key
            .map(|k| k.to_vec())
            .unwrap_or_else(|| self.key().to_vec());
        let value = self.into_value();
        Entry::new(&key, value, expire, meta)
    }

    /// Moves the string into its own growable buffer (APPEND and SETRANGE modify in place).
    pub fn into_raw(self) -> Entry {
        if self.raw.is_heap_raw() {
            return self;
        }
        let meta = self.as_ref().meta();
        let expire = self.expire_at();
        let key = self.key().to_vec();
        let bytes = self.value().as_str().expect("string").to_vec();
        drop(self);
        Self::build(&key, StrInit::Raw(bytes), expire, meta)
    }

    /// Gives up ownership, for the table's tagged slots.
    pub(crate) fn into_addr(self) -> u64 {
        ManuallyDrop::new(self).raw.p() as u64
    }

    /// # Safety
    /// `addr` must come from [`Entry::into_addr`] and not be owned by anything else.
    pub(crate) unsafe fn from_addr(addr: u64) -> Entry {
        Entry {
            raw: Raw(NonNull::new_unchecked(addr as *mut u8)),
        }
    }

    /// # Safety
    /// `addr` must be a live entry owned elsewhere that outlives `'a`.
    pub(crate) unsafe fn view<'a>(addr: u64) -> EntryRef<'a> {
        EntryRef {
            raw: Raw(NonNull::new_unchecked(addr as *mut u8)),
            _life: std::marker::PhantomData,
        }
    }

    /// # Safety
    /// As for `view`, and no other view of it may be used while this one lives.
    pub(crate) unsafe fn view_mut<'a>(addr: u64) -> EntryMut<'a> {
        EntryMut {
            raw: Raw(NonNull::new_unchecked(addr as *mut u8)),
            _life: std::marker::PhantomData,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.raw.type_bits() == TYPE_HASH {
            // SAFETY: the entry owns this box.
            drop(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Hash) });
        } else if self.raw.type_bits() == TYPE_LIST {
            // SAFETY: the entry owns this box.
            drop(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut List) });
        } else if self.raw.kind() == Kind::Set {
            // SAFETY: the entry owns this box.
            drop(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Set) });
        } else if self.raw.kind() == Kind::ZSet {
            // SAFETY: the entry owns this box.
            drop(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut ZSet) });
        } else if self.raw.kind() == Kind::Stream {
            // SAFETY: the entry owns this box.
            drop(unsafe { Box::from_raw(self.raw.collection_ptr() as *mut Stream) });
        } else if self.raw.encoding_bits() == ENC_RAW {
            let (p, len, cap) = self.raw.raw_parts();
            // SAFETY: the entry owns this buffer.
            drop(unsafe { Vec::from_raw_parts(p, len, cap) });
        }
        let size = self.raw.alloc_size();
        // SAFETY: allocated in `build` with this size and alignment 1.
        unsafe { dealloc(self.raw.p(), Layout::from_size_align_unchecked(size, 1)) };
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const META: Meta = Meta {
        access: 0x123456,
        freq: 2,
        main: true,
    };

    #[test]
    fn small_string_fits_48_bytes() {
        let e = Entry::new_str(&[b'k'; 10], &[b'v'; 32], None, META);
        assert_eq!(e.as_ref().alloc_size(), 48);
        assert_eq!(e.value().encoding(), "embstr");
        let inline = Entry::new_str(&[b'k'; 11], &[b'v'; 100], None, META);
        assert_eq!(
            inline.as_ref().alloc_size(),
            117,
            "100-byte values stay inline"
        );
        assert_eq!(inline.value().encoding(), "raw", "reported as Redis would");
        assert!(!inline.as_ref().is_heap_raw());
        let t = Entry::new_str(&[b'k'; 10], &[b'v'; 32], Some(5), META);
        assert_eq!(t.as_ref().alloc_size(), 60);
        assert_eq!(t.expire_at(), Some(5));
    }

    #[test]
    fn encodings_and_in_place_changes() {
        let mut e = Entry::new_str(b"n", b"42", None, META);
        assert_eq!(e.value().as_str().unwrap(), StrRef::Int(42));
        assert!(e.as_mut().set_int_in_place(43));
        assert_eq!(e.value().as_str().unwrap().as_i64(), Some(43));
        let mut r = e.into_raw();
        assert_eq!(r.value().encoding(), "raw");
        assert!(r.as_ref().is_heap_raw());
        r.as_mut()
            .with_raw(|v| v.extend_from_slice(b"xyz"))
            .unwrap();
        assert_eq!(r.value().as_str().unwrap().to_vec(), b"43xyz");
        assert_eq!(r.as_ref().meta().access, 0x123456);
        let moved = r.rebuild(Some(b"other"), Some(99));
        assert_eq!(moved.key(), b"other");
        assert_eq!(moved.expire_at(), Some(99));
        assert_eq!(moved.value().as_str().unwrap().to_vec(), b"43xyz");
    }

    proptest! {
        #[test]
        fn round_trips(key in proptest::collection::vec(any::<u8>(), 0..300),
                       value in proptest::collection::vec(any::<u8>(), 0..300),
                       ttl in proptest::option::of(any::<u64>()),
                       access in 0u32..(1 << 24), freq in 0u8..4) {
            let mut e = Entry::new_str(&key, &value, ttl, Meta { access, freq, main: freq > 1 });
            prop_assert_eq!(e.key(), &key[..]);
            prop_assert_eq!(e.value().as_str().unwrap().to_vec(), value.clone());
            prop_assert_eq!(e.expire_at(), ttl);
            prop_assert_eq!(e.as_ref().access(), access);
            prop_assert_eq!(e.as_ref().freq(), freq);
            if ttl.is_some() {
                e.as_mut().set_volatile_pos(77);
                prop_assert_eq!(e.as_ref().volatile_pos(), 77);
                prop_assert_eq!(e.expire_at(), ttl);
            }
            e.as_mut().set_access(access ^ 0xff);
            e.as_mut().set_freq(3 - freq);
            prop_assert_eq!(e.key(), &key[..]);
            prop_assert_eq!(e.value().as_str().unwrap().to_vec(), value);
        }
    }
}
