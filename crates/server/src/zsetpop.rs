//! Popping the lowest or highest members of a sorted set, shared by ZMPOP and the blocking
//! pops (BZPOPMIN, BZPOPMAX, BZMPOP), whose deliveries the server core makes.

use store::ZSet;

use crate::error::CmdError;

/// Members with their scores, in the order they were popped.
pub(crate) type Scored = Vec<(Vec<u8>, f64)>;

/// Pops up to `count` members with their scores from the low (`max` false) or high end of
/// the sorted set at `key`, in pop order (the emptied set is deleted); `None` when the key is
/// absent.
pub(crate) fn pop_scored(
    ks: &store::Keyspace,
    key: &[u8],
    max: bool,
    count: usize,
    now: u64,
) -> Result<Option<Scored>, CmdError> {
    let h = ks.hash(key);
    ks.lock(h)
        .modify_if::<ZSet, _>(h, key, now, false, |z| {
            let n = count.min(z.len());
            let mut popped = if max {
                z.remove_range(z.len() - n, z.len())
            } else {
                z.remove_range(0, n)
            };
            if max {
                popped.reverse();
            }
            let changed = !popped.is_empty();
            (Some(popped), changed)
        })
        .map(Option::flatten)
        .map_err(|()| CmdError::WrongType)
}
