#!/usr/bin/env python3
"""How low can any eviction policy take the miss ratio of `hit_ratio.py`'s trace, given how
many keys fit? A simulation, not a benchmark: no server runs.

The trace is `hit_ratio.py`'s (same seed, same windows of 32 GETs followed by the SETs of
that window's misses). Each policy is replayed over it holding a fixed number of keys:

- `lru`: exact LRU (Redis's sampled `allkeys-lru` is close to it);
- `perfect-lfu`: evict the key with the fewest requests *so far*, counting every request
  since the start of the trace, also for keys that were evicted (unbounded history; ties go
  to the least recently used). The trace draws keys independently from a fixed Zipf
  distribution whose ranks are shuffled, so a key's request count so far is all an online
  policy can know about it: keeping the keys with the highest counts is the best an online
  policy can do, and this is its miss ratio. Real policies (ours, W-TinyLFU, S3-FIFO) keep
  bounded history and are at or above it.
- `hindsight`: keeps the keys the whole trace requests most (knows the future); the floor
  only an oracle reaches.

It prints each policy's miss ratio at the given capacities, then the capacity perfect-LFU
needs to reach `--target` x Redis's miss ratio, and what that leaves per key at `--maxmemory`.

Usage: python3 bench/eviction_bound.py [--alpha 1.0] [--capacity 111900 --capacity 84000]
       [--redis-miss 0.249] [--target 0.80] [--maxmemory-mb 16] [--payload 111]
"""
import argparse
import heapq
import os
import sys
from collections import Counter, OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hit_ratio import WINDOW, make_trace  # noqa: E402


def windows(trace):
    for start in range(0, len(trace), WINDOW):
        yield trace[start:start + WINDOW]


def lru(trace, capacity):
    cache = OrderedDict()
    misses = 0
    for window in windows(trace):
        missed = []
        for key in window:
            if key in cache:
                cache.move_to_end(key)
            else:
                missed.append(key)
        misses += len(missed)
        for key in missed:
            cache[key] = None
            cache.move_to_end(key)
            if len(cache) > capacity:
                cache.popitem(last=False)
    return misses / len(trace)


def perfect_lfu(trace, capacity):
    """Lazy heap of (count, last access, key): an entry is current while the key is cached
    and its count has not grown since the entry was pushed."""
    count = Counter()
    cached = set()
    heap = []
    misses = 0
    clock = 0
    for window in windows(trace):
        missed = []
        for key in window:
            clock += 1
            count[key] += 1
            if key in cached:
                heapq.heappush(heap, (count[key], clock, key))
            else:
                missed.append(key)
        misses += len(missed)
        for key in missed:
            if key in cached:  # repeated inside one window: a miss twice, stored once
                continue
            cached.add(key)
            heapq.heappush(heap, (count[key], clock, key))
            while len(cached) > capacity:
                n, _, victim = heapq.heappop(heap)
                if victim in cached and count[victim] == n:
                    cached.remove(victim)
    return misses / len(trace)


def hindsight(trace, capacity):
    keep = {k for k, _ in Counter(trace).most_common(capacity)}
    seen = set()
    misses = 0
    for key in trace:
        if key not in keep or key not in seen:
            misses += 1
            seen.add(key)
    return misses / len(trace)


def capacity_for(trace, goal, lo, hi):
    """Smallest capacity (to 1%) at which perfect LFU misses at most `goal`."""
    if perfect_lfu(trace, hi) > goal:
        return None
    while hi - lo > lo // 100:
        mid = (lo + hi) // 2
        if perfect_lfu(trace, mid) <= goal:
            hi = mid
        else:
            lo = mid
    return hi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=2_000_000)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--capacity", type=int, action="append",
                    help="keys held (DBSIZE at the end of hit_ratio.py); repeatable")
    ap.add_argument("--redis-miss", type=float, default=0.249,
                    help="redis-server's miss ratio from hit_ratio.py")
    ap.add_argument("--target", type=float, default=0.80)
    ap.add_argument("--maxmemory-mb", type=float, default=16)
    ap.add_argument("--payload", type=int, default=111, help="key + value bytes per entry")
    args = ap.parse_args()
    args.scan_every, args.scan_len = 0, 0
    trace = make_trace(args)
    print(f"# Zipf alpha={args.alpha}, {args.requests} requests over {args.objects} objects; "
          f"compulsory floor {len(set(trace)) / len(trace):.4f}")
    print(f"{'keys held':>10} {'lru':>8} {'perfect-lfu':>12} {'hindsight':>10}")
    for capacity in args.capacity or [84_000, 111_900]:
        print(f"{capacity:>10} {lru(trace, capacity):>8.4f} {perfect_lfu(trace, capacity):>12.4f} "
              f"{hindsight(trace, capacity):>10.4f}")
    goal = args.target * args.redis_miss
    need = capacity_for(trace, goal, 50_000, 400_000)
    if need is None:
        print(f"perfect LFU does not reach {goal:.4f} with 400,000 keys")
        return
    budget = args.maxmemory_mb * 2**20 / need
    print(f"{args.target:.2f} x Redis's {args.redis_miss:.3f} = {goal:.4f} needs >= {need:,} keys "
          f"under perfect LFU: {budget:.1f} bytes per key in {args.maxmemory_mb:g} MiB, "
          f"of which {args.payload} are the key and value themselves "
          f"({budget - args.payload:.1f} left for the table, header and allocator)")


if __name__ == "__main__":
    main()
