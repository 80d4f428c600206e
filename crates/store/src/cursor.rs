//! Cursors of HSCAN, SSCAN and ZSCAN over a big collection (a hash table, a set table, a
//! sorted set's member map), whose entries sit in an insertion-ordered vector: positions
//! `0..len`, a removal either moving the last entry into the hole (`swap_remove`) or
//! shifting the later ones down (`shift_remove`), an insertion appending.
//!
//! A scan walks the positions from the *end* down: cursor `c` (not 0) means "positions
//! below `c` are still to visit". Why downwards: every change above moves entries only
//! towards lower positions (a shift, or the last entry filling a hole), so an entry not yet
//! visited (below `c`) can never move to `c` or above; an entry already visited may move
//! below `c` and come back a second time, which SCAN allows. So an entry present for the
//! whole scan is returned at least once — Redis's guarantee — however the collection
//! changes between calls; entries added during the scan may or may not be returned.

/// The positions to visit for `cursor` (0: start) over `len` entries, `count` of them
/// (highest first: iterate the range in reverse), and the cursor to return (0 when done).
pub fn window(len: usize, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
    let hi = if cursor == 0 {
        len
    } else {
        usize::try_from(cursor).unwrap_or(usize::MAX).min(len)
    };
    let lo = hi.saturating_sub(count.max(1));
    (lo..hi, lo as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexSet;
    use proptest::prelude::*;

    #[test]
    fn windows_walk_down_to_zero() {
        assert_eq!(window(25, 0, 10), (15..25, 15));
        assert_eq!(window(25, 15, 10), (5..15, 5));
        assert_eq!(window(25, 5, 10), (0..5, 0));
        assert_eq!(window(0, 0, 10), (0..0, 0));
        assert_eq!(window(3, u64::MAX, 10), (0..3, 0));
    }

    proptest! {
        /// Whatever is removed (either way) or added between the calls, every entry present
        /// from the first call to the last is returned.
        #[test]
        fn entries_present_throughout_are_returned(
            start in 1usize..300,
            ops in proptest::collection::vec((0u8..3, 0usize..1000), 0..200),
            count in 1usize..40,
        ) {
            let mut set: IndexSet<usize> = (0..start).collect();
            let mut next_new = start;
            let mut removed = std::collections::HashSet::new();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0u64;
            let mut ops = ops.into_iter();
            loop {
                let (range, next) = window(set.len(), cursor, count);
                for i in range.rev() {
                    seen.insert(*set.get_index(i).unwrap());
                }
                if next == 0 {
                    break;
                }
                cursor = next;
                // Some changes before the next call.
                for (kind, at) in ops.by_ref().take(3) {
                    match kind {
                        0 if !set.is_empty() => {
                            let v = *set.get_index(at % set.len()).unwrap();
                            set.swap_remove(&v);
                            removed.insert(v);
                        }
                        1 if !set.is_empty() => {
                            let v = *set.get_index(at % set.len()).unwrap();
                            set.shift_remove(&v);
                            removed.insert(v);
                        }
                        _ => {
                            set.insert(next_new);
                            next_new += 1;
                        }
                    }
                }
            }
            for v in 0..start {
                if !removed.contains(&v) {
                    prop_assert!(seen.contains(&v), "{} was never returned", v);
                }
            }
        }
    }
}
