//! Prefetching the keys of a pipeline before running it.
//!
//! With keys spread over more memory than the caches hold, finding a key costs two cache
//! misses (its table slot, then its entry), and a pipeline of commands used to wait for them
//! one command at a time: `perf` put `Table::find` at a quarter of a primary's and half of a
//! replica's CPU under `redis-benchmark -P 16 -r 100000`. Walking the next few waiting
//! requests first (`resp::lookahead`) and prefetching their keys lets those misses overlap.

/// Requests walked ahead at a time: enough misses in flight to overlap, few enough that the
/// first slots are still in the cache when their entries are fetched.
const AHEAD: usize = 16;
/// Longer arguments are not hashed for a prefetch (a key that long is rare; a long value in
/// the second position — ECHO, AUTH — is not a key at all).
const MAX_KEY: usize = 256;

/// Below this many bytes of keys and values the keyspace stays in the caches (a core's L2
/// holds 0.5-2 MB; this machine's 1 MB) and a prefetch would only cost its locks.
const CACHED_BYTES: u64 = 1 << 20;

/// Prefetches the keys of the requests at the front of `buf` when at least two are complete
/// (a lone request gains nothing: its misses have nothing to overlap with). Returns the
/// bytes of the requests walked over (all of `buf` when the keyspace is small), so a caller
/// runs them before warming again.
pub fn warm(keyspace: &store::Keyspace, buf: &[u8]) -> usize {
    if keyspace.used_bytes() < CACHED_BYTES {
        return buf.len();
    }
    let mut spans = [const { 0..0 }; AHEAD];
    let mut keys = 0;
    let (commands, bytes) = resp::lookahead::second_args(buf, AHEAD, |key| {
        if key.len() <= MAX_KEY {
            spans[keys] = key;
            keys += 1;
        }
    });
    if commands >= 2 {
        let mut hashes = [0u64; AHEAD];
        for (h, key) in hashes.iter_mut().zip(spans[..keys].iter().cloned()) {
            *h = keyspace.hash(&buf[key]);
        }
        keyspace.prefetch(&hashes[..keys]);
    }
    bytes
}
