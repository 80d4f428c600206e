//! DEL key [key ...] / UNLINK key [key ...]
use resp::Args;

use crate::command::Ctx;
use crate::error::CmdResult;

/// Removes the keys; replies with how many existed. UNLINK is the same here: values are freed
/// outside the shard lock either way (the removed entry is dropped after the lock is released).
pub fn del(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let mut removed = 0;
    for key in args.tail(1).iter() {
        let h = ks.hash(key);
        let entry = ks.lock(h).remove(h, key, ctx.now);
        removed += entry.is_some() as i64;
        drop(entry);
    }
    ctx.out.int(removed);
    Ok(())
}

/// Values whose freeing costs more than this many allocations are freed by a background
/// thread on UNLINK (Redis's `LAZYFREE_THRESHOLD`).
const LAZYFREE_THRESHOLD: usize = 64;

/// What freeing a value costs, in allocations, as Redis's `lazyfreeGetFreeEffort` counts
/// them: a hashtable's or skiplist's elements, a list's nodes, a stream's radix-tree nodes
/// plus its groups times the first group's pending entries; 1 for compact encodings.
fn free_effort(v: store::ValueRef<'_>) -> usize {
    use store::ValueRef;
    match v {
        ValueRef::Hash(h) if h.encoding() == "hashtable" => h.len(),
        ValueRef::Set(s) if s.encoding() == "hashtable" => s.len(),
        ValueRef::ZSet(z) if z.encoding() == "skiplist" => z.len(),
        // A quicklist node holds up to 8 KB.
        ValueRef::List(l) => l.heap_size() / 8192 + 1,
        ValueRef::Stream(s) => {
            let groups = s.groups.len();
            let first_pel = s.groups.values().next().map_or(0, |g| g.pel.len());
            s.radix_tree_nodes() + groups * (1 + first_pel)
        }
        _ => 1,
    }
}

/// Removes the keys as DEL does, but frees big values on a background thread (counted in
/// INFO's `lazyfree_pending_objects` until freed, then in `lazyfreed_objects`).
pub fn unlink(ctx: &mut Ctx<'_>, args: Args<'_>) -> CmdResult {
    let ks = &ctx.shared.keyspace;
    let mut removed = 0;
    let mut lazy = Vec::new();
    for key in args.tail(1).iter() {
        let h = ks.hash(key);
        let Some(entry) = ks.lock(h).remove(h, key, ctx.now) else {
            continue;
        };
        removed += 1;
        if free_effort(entry.as_ref().value()) > LAZYFREE_THRESHOLD {
            lazy.push(entry);
        }
    }
    if !lazy.is_empty() {
        lazy_free(ctx.shared, lazy);
    }
    ctx.out.int(removed);
    Ok(())
}

/// Frees `values` on a background thread, counting them as Redis's lazy free does.
pub(crate) fn lazy_free<T: Send + 'static>(shared: &crate::Shared, values: Vec<T>) {
    lazy_free_counted(shared, values.len() as u64, values);
}

/// Frees `what` on a background thread as `objects` lazily freed objects.
pub(crate) fn lazy_free_counted<T: Send + 'static>(shared: &crate::Shared, objects: u64, what: T) {
    use std::sync::atomic::Ordering;
    let stats = shared.stats.lazyfree.clone();
    stats.pending.fetch_add(objects, Ordering::Relaxed);
    std::thread::spawn(move || {
        drop(what);
        stats.pending.fetch_sub(objects, Ordering::Relaxed);
        stats.freed.fetch_add(objects, Ordering::Relaxed);
    });
}
