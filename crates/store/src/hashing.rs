//! How a key's 64-bit hash is made, and what its bits mean.
//!
//! | bits   | standalone       | cluster mode (slots)          | used by                         |
//! |--------|------------------|-------------------------------|---------------------------------|
//! | 0..40  | foldhash         | foldhash                      | a table's home slot (low bits)  |
//! | 40..48 | foldhash         | `slot & 255`                  | the keyspace shard              |
//! | 48..54 | foldhash         | `slot >> 8`                   | the table tag (top 16 bits)     |
//! | 54..64 | foldhash         | foldhash                      | the table tag                   |
//!
//! In cluster mode the key's hash slot (CRC16 with hash tags, supplied by the caller so this
//! crate stays free of cluster rules) is written into the hash. That is the per-slot key
//! index, at no memory per key: every key of slot S lives in shard `S & 255`, and a table
//! slot's stored tag says `S >> 8` without touching the entry. So "the keys of slot S" is a
//! pass over one shard's slot array (1/256 of the keyspace, reading 8 bytes per key and only
//! the entries that match), and each shard keeps the key count of its 64 slots, so
//! COUNTKEYSINSLOT is O(1). A node owning a range of slots still spreads its keys evenly:
//! consecutive slots land in consecutive shards.
//!
//! Invariant: the low 40 bits never depend on the slot, so a table recomputing a home slot
//! from the key alone ([`KeyHasher::home`], cheaper: no CRC16) agrees with the full hash a
//! command used to insert or find the key; the full hash ([`KeyHasher::hash`]) is what every
//! lookup must use, since the stored tag comes from it.

use std::hash::BuildHasher;

/// Bit where the shard index starts (see the table above).
pub const SHARD_SHIFT: u32 = 40;
/// Bit where the table tag starts (the table keeps the top 16 bits of the hash).
pub const TAG_SHIFT: u32 = 48;
/// Slots per shard in cluster mode (16384 slots / 256 shards).
pub const SLOTS_PER_SHARD: usize = 64;

/// Maps a key to its cluster hash slot (0..16384).
pub type SlotFn = fn(&[u8]) -> u16;

#[derive(Clone)]
pub struct KeyHasher {
    state: foldhash::fast::FixedState,
    slot_of: Option<SlotFn>,
}

impl KeyHasher {
    pub fn new(seed: u64, slot_of: Option<SlotFn>) -> Self {
        KeyHasher {
            state: foldhash::fast::FixedState::with_seed(seed),
            slot_of,
        }
    }

    /// The key's full hash: what commands use to pick a shard and find the key.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let h = self.state.hash_one(key);
        match self.slot_of {
            None => h,
            Some(slot_of) => with_slot(h, slot_of(key)),
        }
    }

    /// Low bits of the hash only (see the invariant): enough for a table's home slot.
    #[inline]
    pub fn home(&self, key: &[u8]) -> u64 {
        self.state.hash_one(key)
    }

    /// Whether hashes carry the key's cluster slot.
    pub fn has_slots(&self) -> bool {
        self.slot_of.is_some()
    }
}

const SLOT_LOW_MASK: u64 = 0xff << SHARD_SHIFT;
const SLOT_HIGH_MASK: u64 = 0x3f << TAG_SHIFT;

/// `h` with the slot written into bits 40..54.
#[inline]
pub fn with_slot(h: u64, slot: u16) -> u64 {
    let slot = slot as u64 & 0x3fff;
    (h & !(SLOT_LOW_MASK | SLOT_HIGH_MASK))
        | ((slot & 0xff) << SHARD_SHIFT)
        | ((slot >> 8) << TAG_SHIFT)
}

/// Which of its shard's 64 slots a hash (or a table tag, the top 16 bits) belongs to.
#[inline]
pub fn slot_in_shard(h: u64) -> usize {
    ((h >> TAG_SHIFT) & 0x3f) as usize
}

/// The shard holding the keys of `slot`, and the slot's index among that shard's slots.
pub fn slot_home(slot: u16) -> (usize, usize) {
    ((slot & 0xff) as usize, (slot >> 8) as usize & 0x3f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_slot(key: &[u8]) -> u16 {
        (key.iter().map(|&b| b as u32).sum::<u32>() % 16384) as u16
    }

    #[test]
    fn slot_bits_round_trip_and_low_bits_are_unchanged() {
        let h = KeyHasher::new(7, Some(fake_slot));
        for i in 0..10_000u32 {
            let key = format!("key:{i}");
            let full = h.hash(key.as_bytes());
            let slot = fake_slot(key.as_bytes());
            let (shard, within) = slot_home(slot);
            assert_eq!(((full >> SHARD_SHIFT) & 0xff) as usize, shard);
            assert_eq!(slot_in_shard(full), within);
            assert_eq!(
                full & ((1 << SHARD_SHIFT) - 1),
                h.home(key.as_bytes()) & ((1 << SHARD_SHIFT) - 1)
            );
        }
    }

    #[test]
    fn without_slots_the_hash_is_plain() {
        let h = KeyHasher::new(7, None);
        assert_eq!(h.hash(b"abc"), h.home(b"abc"));
        assert!(!h.has_slots());
    }
}
