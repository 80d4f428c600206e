//! The mutation seam: one observer sees every change to every key — writes (and creations), deletes,
//! expiry (on access and by the active cycle), eviction and flush — in order.

use std::sync::{Arc, Mutex};

use store::{Keyspace, Mutation, MutationObserver, Policy, Ttl};

#[derive(Default)]
struct Recorder(Mutex<Vec<(Vec<u8>, Mutation)>>);

impl MutationObserver for Recorder {
    fn changed(&self, key: &[u8], what: Mutation) {
        self.0.lock().unwrap().push((key.to_vec(), what));
    }
}

fn set(ks: &Keyspace, key: &[u8], ttl: Ttl, now: u64) {
    let h = ks.hash(key);
    ks.lock(h).set_str(h, key, b"v", ttl, now);
}

#[test]
fn every_kind_of_change_reaches_the_observer() {
    let ks = Keyspace::new();
    let rec = Arc::new(Recorder::default());
    ks.set_observer(Some(rec.clone()));
    let now = 1_000_000;
    set(&ks, b"w", Ttl::Clear, now);
    let h = ks.hash(b"w");
    ks.lock(h).set_expire(h, b"w", Some(now + 5000), now);
    ks.lock(h).remove(h, b"w", now);
    // Expired on access, and by the active cycle.
    set(&ks, b"lazy", Ttl::At(now + 10), now);
    let hl = ks.hash(b"lazy");
    assert!(ks.lock(hl).get(hl, b"lazy", now + 20).is_none());
    set(&ks, b"active", Ttl::At(now + 10), now);
    while ks.expire_cycle(now + 20, 100) > 0 {}
    // Evicted, then flushed.
    set(&ks, b"evicted", Ttl::Clear, now);
    assert!(ks.evict_one(Policy::AllKeysRandom, now));
    set(&ks, b"flushed", Ttl::Clear, now);
    drop(ks.flush());
    let seen = rec.0.lock().unwrap().clone();
    let want: Vec<(Vec<u8>, Mutation)> = vec![
        (b"w".to_vec(), Mutation::Write),
        (b"w".to_vec(), Mutation::Create),
        (b"w".to_vec(), Mutation::Write),
        (b"w".to_vec(), Mutation::Delete),
        (b"lazy".to_vec(), Mutation::Write),
        (b"lazy".to_vec(), Mutation::Create),
        (b"lazy".to_vec(), Mutation::Expire),
        (b"lazy".to_vec(), Mutation::Miss),
        (b"active".to_vec(), Mutation::Write),
        (b"active".to_vec(), Mutation::Create),
        (b"active".to_vec(), Mutation::Expire),
        (b"evicted".to_vec(), Mutation::Write),
        (b"evicted".to_vec(), Mutation::Create),
        (b"evicted".to_vec(), Mutation::Evict),
        (b"flushed".to_vec(), Mutation::Write),
        (b"flushed".to_vec(), Mutation::Create),
        (b"flushed".to_vec(), Mutation::Flush),
    ];
    assert_eq!(seen, want);
    // Without an observer nothing is reported (and nothing is paid for).
    ks.set_observer(None);
    set(&ks, b"quiet", Ttl::Clear, now);
    assert_eq!(rec.0.lock().unwrap().len(), want.len());
}
