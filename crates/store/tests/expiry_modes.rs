//! Expiry as a replica sees it: its clients do not see an expired key but it stays, its
//! primary's stream still reaches it, and only a node that reclaims removes it.

use store::expiry::{set_mode, ExpiryMode};
use store::{Keyspace, Ttl};

#[test]
fn hide_keep_and_reclaim() {
    let ks = Keyspace::new();
    let now = 1_000_000;
    let h = ks.hash(b"k");
    ks.lock(h).set_str(h, b"k", b"v", Ttl::At(now + 10), now);
    let later = now + 20;

    set_mode(ExpiryMode::Hide);
    assert!(ks.lock(h).get(h, b"k", later).is_none());
    assert_eq!(
        ks.len(),
        1,
        "a replica's read leaves the key for the primary's DEL"
    );

    set_mode(ExpiryMode::Keep);
    assert!(ks.lock(h).get(h, b"k", later).is_some());
    // The primary's stream writes to the key as it is (e.g. PERSIST before it expired there).
    assert!(ks.lock(h).set_expire(h, b"k", None, later));
    set_mode(ExpiryMode::Reclaim);
    assert!(ks.lock(h).get(h, b"k", later + 1_000_000).is_some());

    ks.lock(h).set_str(h, b"k", b"v", Ttl::At(now + 10), now);
    assert!(ks.lock(h).get(h, b"k", later).is_none());
    assert_eq!(ks.len(), 0, "a primary reclaims what it meets expired");
}
