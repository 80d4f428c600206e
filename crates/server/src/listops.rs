//! List operations shared by the list commands and the blocking machinery, which delivers
//! elements to blocked clients (so the server core needs them without reaching into
//! `cmd/`).

use store::List;

use crate::error::CmdError;

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// Pops one element from `end` of the list at `key` (deleting the emptied list); `None` when
/// the key is absent. Shared with the blocking pops and their deliveries.
pub(crate) fn pop_one(
    ks: &store::Keyspace,
    key: &[u8],
    end: End,
    now: u64,
) -> Result<Option<Vec<u8>>, CmdError> {
    let h = ks.hash(key);
    ks.lock(h)
        .modify_if::<List, _>(h, key, now, false, |l| {
            let v = match end {
                End::Left => l.pop_front(),
                End::Right => l.pop_back(),
            };
            let changed = v.is_some();
            (v, changed)
        })
        .map(Option::flatten)
        .map_err(|()| CmdError::WrongType)
}

/// Pops up to `count` elements from `end` of the list at `key` (LMPOP, BLMPOP), in pop
/// order; `None` when the key is absent.
pub(crate) fn pop_many(
    ks: &store::Keyspace,
    key: &[u8],
    end: End,
    count: usize,
    now: u64,
) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let h = ks.hash(key);
    ks.lock(h)
        .modify_if::<List, _>(h, key, now, false, |l| {
            let n = count.min(l.len());
            let popped: Vec<Vec<u8>> = (0..n)
                .filter_map(|_| match end {
                    End::Left => l.pop_front(),
                    End::Right => l.pop_back(),
                })
                .collect();
            let changed = !popped.is_empty();
            (Some(popped), changed)
        })
        .map(Option::flatten)
        .map_err(|()| CmdError::WrongType)
}

/// Pops from one end of `source` and pushes onto one end of `destination` atomically (both
/// shards locked together); the same key rotates the list. `None` when `source` is missing.
/// Shared with BLMOVE, also when it serves a blocked client.
pub(crate) fn move_element(
    ks: &store::Keyspace,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now: u64,
) -> Result<Option<Vec<u8>>, CmdError> {
    let (hs, hd) = (ks.hash(src), ks.hash(dst));
    let mut set = ks.lock_many(&[hs, hd]);
    match set.shard(hs).peek(hs, src, now) {
        None => return Ok(None),
        Some(e) if e.value().as_list().is_none() => return Err(CmdError::WrongType),
        Some(_) => {}
    }
    if let Some(e) = set.shard(hd).peek(hd, dst, now) {
        if e.value().as_list().is_none() {
            return Err(CmdError::WrongType);
        }
    }
    let element = set
        .shard(hs)
        .modify::<List, _>(hs, src, now, false, |l| match from {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        })
        .map_err(|()| CmdError::WrongType)?
        .flatten()
        .expect("source list is not empty");
    set.shard(hd)
        .modify::<List, _>(hd, dst, now, true, |l| match to {
            End::Left => l.push_front(&element),
            End::Right => l.push_back(&element),
        })
        .map_err(|()| CmdError::WrongType)?;
    Ok(Some(element))
}
