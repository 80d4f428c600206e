//! Keyspace notifications (`notify-keyspace-events`): Pub/Sub messages on
//! `__keyspace@0__:<key>` (the event) and `__keyevent@0__:<event>` (the key) for every
//! change, with Redis 7.0's event names and classes.
//!
//! Commands name their own events ([`event`]), as Redis's do. The mutation seam adds what
//! no command names: `expired` and `evicted` (at the moment the key goes), `new` (a key
//! created), and `del` for keys a command deleted — held back until the command's own
//! event for that key (an emptied list: `lpop`, then `del`), or until the command ends (DEL,
//! GETDEL, an empty STORE result).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Shared;

pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// `keyspaceEventsStringToFlags`: `None` for a character that names no class.
pub fn parse(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// `keyspaceEventsFlagsToString`, what CONFIG GET answers.
pub fn format(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// The classes in force (read on every change while any is on).
#[derive(Default)]
pub struct Notifications {
    flags: AtomicU32,
}

impl Notifications {
    pub fn set(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Whether anything is published at all (a class and a channel kind).
    #[inline]
    pub fn enabled(&self) -> bool {
        let f = self.flags();
        f & (KEYSPACE | KEYEVENT) != 0 && f & !(KEYSPACE | KEYEVENT) != 0
    }
}

/// Publishes one event now (`notifyKeyspaceEvent`).
pub fn publish(shared: &Shared, class: u32, event: &str, key: &[u8]) {
    let flags = shared.notify.flags();
    if flags & class == 0 {
        return;
    }
    let limit = shared.live.output_limit("pubsub");
    let over = &shared.stats.client_output_buffer_limit_disconnections;
    if flags & KEYSPACE != 0 {
        let mut channel = b"__keyspace@0__:".to_vec();
        channel.extend_from_slice(key);
        shared
            .pubsub
            .publish(&channel, event.as_bytes(), limit, over);
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@0__:{event}");
        shared.pubsub.publish(channel.as_bytes(), key, limit, over);
    }
}

/// A command's deleted keys whose `del` waits for the command's own event on them.
#[derive(Default)]
struct Pending {
    active: bool,
    /// The command changed a key (the seam saw a write, creation or deletion).
    dirty: bool,
    /// A read-only command: its misses are `keymiss` events (a write command's lookups are
    /// Redis's `lookupKeyWrite`, which reports none).
    reading: bool,
    dels: Vec<Vec<u8>>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// Starts a command's notifications on this thread.
pub fn begin(reading: bool) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.active = true;
        p.reading = reading;
        p.dirty = false;
        p.dels.clear();
    });
}

/// Ends them: the `del`s no event of the command claimed go out now, in order.
pub fn finish(shared: &Shared) {
    let dels = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.active = false;
        std::mem::take(&mut p.dels)
    });
    for key in dels {
        publish(shared, GENERIC, "del", &key);
    }
}

/// A command's event on `key`; a pending `del` of the same key follows it.
pub fn event(shared: &Shared, class: u32, event: &str, key: &[u8]) {
    if !shared.notify.enabled() {
        return;
    }
    publish(shared, class, event, key);
    let del = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.dels
            .iter()
            .position(|k| k == key)
            .map(|i| p.dels.remove(i))
    });
    if del.is_some() {
        publish(shared, GENERIC, "del", key);
    }
}

/// The event of a command that changed its key(s), for the commands whose event is one
/// name on fixed keys (Redis's `notifyKeyspaceEvent` calls in `t_*.c`); commands with more
/// to say (SET with a TTL, RENAME, moves between keys, pops from the first non-empty key)
/// name their events themselves.
pub fn command_events(shared: &Shared, name: &str, args: resp::Args<'_>) {
    let dirty = PENDING.with(|p| p.borrow().dirty);
    if !dirty {
        return;
    }
    let (class, ev, keys): (u32, &str, &[usize]) = match name {
        "setnx" | "getset" => (STRING, "set", &[1]),
        "append" => (STRING, "append", &[1]),
        "incr" | "decr" | "incrby" | "decrby" => (STRING, "incrby", &[1]),
        "incrbyfloat" => (STRING, "incrbyfloat", &[1]),
        "setrange" => (STRING, "setrange", &[1]),
        "setbit" | "bitfield" => (STRING, "setbit", &[1]),
        "bitop" => (STRING, "set", &[2]),
        "pfadd" | "pfmerge" => (STRING, "pfadd", &[1]),
        "lpush" | "lpushx" => (LIST, "lpush", &[1]),
        "rpush" | "rpushx" => (LIST, "rpush", &[1]),
        "linsert" => (LIST, "linsert", &[1]),
        "lset" => (LIST, "lset", &[1]),
        "lpop" => (LIST, "lpop", &[1]),
        "rpop" => (LIST, "rpop", &[1]),
        "lrem" => (LIST, "lrem", &[1]),
        "ltrim" => (LIST, "ltrim", &[1]),
        "hset" | "hsetnx" | "hmset" => (HASH, "hset", &[1]),
        "hdel" => (HASH, "hdel", &[1]),
        "hincrby" => (HASH, "hincrby", &[1]),
        "hincrbyfloat" => (HASH, "hincrbyfloat", &[1]),
        "sadd" => (SET, "sadd", &[1]),
        "srem" => (SET, "srem", &[1]),
        "spop" => (SET, "spop", &[1]),
        "sinterstore" | "sunionstore" | "sdiffstore" => (SET, name, &[1]),
        "zrem" => (ZSET, "zrem", &[1]),
        "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" => (ZSET, name, &[1]),
        "zpopmin" | "zpopmax" => (ZSET, name, &[1]),
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => (ZSET, name, &[1]),
        "persist" => (GENERIC, "persist", &[1]),
        "restore" | "restore-asking" => (GENERIC, "restore", &[1]),
        "copy" => (GENERIC, "copy_to", &[2]),
        _ => return,
    };
    for &k in keys {
        // A STORE whose result was empty deleted its destination: `del` only.
        let deleted = PENDING.with(|p| p.borrow().dels.iter().any(|d| d == args.get(k)));
        let store = ev.ends_with("store") || name == "bitop";
        if store && deleted {
            continue;
        }
        if k < args.len() {
            event(shared, class, ev, args.get(k));
        }
    }
}

/// Drops a pending `del` the command accounts for itself (RENAME's source, MOVE).
pub fn forget_del(key: &[u8]) {
    PENDING.with(|p| p.borrow_mut().dels.retain(|k| k != key));
}

/// The seam's part: what no command names.
pub fn on_mutation(shared: &Shared, key: &[u8], what: store::Mutation) {
    use store::Mutation;
    match what {
        Mutation::Expire => publish(shared, EXPIRED, "expired", key),
        Mutation::Evict => publish(shared, EVICTED, "evicted", key),
        Mutation::Create => {
            // Deleted, then created again by the same command: replaced, no `del`.
            let in_command = PENDING.with(|p| {
                let mut p = p.borrow_mut();
                p.dirty |= p.active;
                p.dels.retain(|k| k != key);
                p.active
            });
            if in_command {
                publish(shared, NEW, "new", key);
            }
        }
        Mutation::Delete => PENDING.with(|p| {
            let mut p = p.borrow_mut();
            if p.active {
                p.dirty = true;
                p.dels.push(key.to_vec());
            }
        }),
        Mutation::Write => PENDING.with(|p| {
            let mut p = p.borrow_mut();
            p.dirty |= p.active;
        }),
        Mutation::Miss => {
            if PENDING.with(|p| p.borrow().active && p.borrow().reading) {
                publish(shared, KEY_MISS, "keymiss", key);
            }
        }
        Mutation::Flush => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_as_redis_prints_them() {
        assert_eq!(format(parse("g$lshzxetd").unwrap()), "A");
        assert_eq!(format(parse("KEA").unwrap()), "AKE");
        assert_eq!(format(parse("nKmE").unwrap()), "nKEm");
        assert_eq!(format(parse("").unwrap()), "");
        assert!(parse("Kq").is_none());
    }
}
