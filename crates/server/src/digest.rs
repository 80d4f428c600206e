//! Redis's dataset digest (DEBUG DIGEST, DEBUG DIGEST-VALUE), whole or per slot: the same
//! data gives the same digest on any node, whatever the order it was written in, so a
//! primary and its replica can be compared without shipping their data.

use crate::Shared;

pub fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Redis's `xorDigest`: the SHA1 of `data` xored into `digest` (order does not matter).
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// Redis's `mixDigest`: `digest = SHA1(digest xor SHA1(data))` (order matters).
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's `xorObjectDigest`: the value's type, its contents (lists in order; sets, sorted
/// sets and hashes element by element, xored), and whether it expires.
fn value_digest(digest: &mut [u8; 20], value: store::ValueRef<'_>, expires: bool) {
    use store::ValueRef;
    let kind: u32 = match value {
        ValueRef::Str(_) => 0,
        ValueRef::List(_) => 1,
        ValueRef::Set(_) => 2,
        ValueRef::ZSet(_) => 3,
        ValueRef::Hash(_) => 4,
        ValueRef::Stream(_) => 6,
    };
    mix_digest(digest, &kind.to_be_bytes());
    match value {
        ValueRef::Stream(s) => s.visit(store::StreamId::MIN, store::StreamId::MAX, false, |it| {
            mix_digest(digest, format!("{}.{}", it.id.ms, it.id.seq).as_bytes());
            for (f, v) in it.fields() {
                mix_digest(digest, f);
                mix_digest(digest, v);
            }
            true
        }),
        ValueRef::Str(s) => s.with_bytes(|b| mix_digest(digest, b)),
        ValueRef::List(l) => l.iter().for_each(|e| mix_digest(digest, e)),
        ValueRef::Set(s) => s.members().into_iter().for_each(|m| xor_digest(digest, m)),
        ValueRef::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, member);
                mix_digest(&mut element, resp::reply::format_double(score).as_bytes());
                xor_digest(digest, &element);
            }
        }
        ValueRef::Hash(h) => {
            for (field, value) in h.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, field);
                mix_digest(&mut element, value);
                xor_digest(digest, &element);
            }
        }
    }
    if expires {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Redis's `computeDatasetDigest` of db 0 (the only one): each key's digest xored together;
/// 40 zeros for an empty keyspace. Logically expired keys count until they are removed, as
/// in Redis.
pub fn dataset_digest(shared: &Shared) -> [u8; 20] {
    let mut total = [0u8; 20];
    let mut any = false;
    for i in 0..store::keyspace::SHARDS {
        let shard = shared.keyspace.lock_index(i);
        for e in shard.iter() {
            if !any {
                mix_digest(&mut total, &0u32.to_be_bytes());
                any = true;
            }
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, e.key());
            value_digest(&mut digest, e.value(), e.expire_at().is_some());
            xor_digest(&mut total, &digest);
        }
    }
    total
}

/// DEBUG DIGEST-VALUE's digest of one key's value (without its name), `None` if absent.
pub fn key_digest(shared: &Shared, key: &[u8]) -> Option<[u8; 20]> {
    let ks = &shared.keyspace;
    let h = ks.hash(key);
    let mut shard = ks.lock(h);
    // Logically expired keys too, as Redis (it does not use lookupKey here).
    let e = shard.peek(h, key, 0)?;
    let mut digest = [0u8; 20];
    value_digest(&mut digest, e.value(), e.expire_at().is_some());
    Some(digest)
}

/// Each non-empty slot's digest (the same per-key digests as [`dataset_digest`], xored per
/// slot), in slot order. Logically expired keys count until they are removed, as in
/// [`dataset_digest`].
pub fn slot_digests(shared: &Shared) -> Vec<(u16, [u8; 20])> {
    let mut slots: std::collections::BTreeMap<u16, [u8; 20]> = Default::default();
    for i in 0..store::keyspace::SHARDS {
        let shard = shared.keyspace.lock_index(i);
        for e in shard.iter() {
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, e.key());
            value_digest(&mut digest, e.value(), e.expire_at().is_some());
            let slot = slots.entry(placement::slot::key_slot(e.key())).or_default();
            for (s, d) in slot.iter_mut().zip(digest) {
                *s ^= d;
            }
        }
    }
    slots.into_iter().collect()
}
