//! Consumer groups: their last delivered ID, read counter, pending-entry list (PEL) and
//! consumers, as Redis's `streamCG`, `streamNACK` and `streamConsumer`.
use std::collections::{BTreeMap, BTreeSet};

use super::StreamId;

/// An entry a consumer group delivered and nobody acknowledged yet (Redis's `streamNACK`).
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    pub consumer: Box<[u8]>,
    /// Unix milliseconds of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Unix milliseconds of the consumer's last attempted interaction (a read or claim,
    /// whether or not it got anything).
    pub seen_time: u64,
    /// Unix milliseconds of its last successful one — an entry delivered into its PEL or
    /// claimed by it (Redis 7.2's `active_time`); [`NEVER_ACTIVE`] if none yet.
    pub active_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// `active_time` of a consumer that never got an entry.
pub const NEVER_ACTIVE: i64 = -1;

impl Consumer {
    /// A consumer created at `now` that has not got anything yet.
    pub fn new(now: u64) -> Consumer {
        Consumer {
            seen_time: now,
            active_time: NEVER_ACTIVE,
            pel: BTreeSet::new(),
        }
    }
}

/// `entries_read` when it cannot be known (`SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a consumer and its pending entries from the group; how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Moves (or creates) pending entry `id` to `consumer`, which must exist; the consumer
    /// was active at `now`.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], nack: Nack, now: u64) {
        if let Some(old) = self.pel.insert(id, nack) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pel.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
            c.active_time = now as i64;
        }
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    pub(super) fn heap(&self) -> usize {
        std::mem::size_of::<Group>()
            + self.pel.len() * 64
            + self
                .consumers
                .iter()
                .map(|(n, c)| 64 + n.len() + c.pel.len() * 24)
                .sum::<usize>()
    }
}
