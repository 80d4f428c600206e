#!/usr/bin/env python3
"""Client-side caching: redis-py with its cache (RESP3 CLIENT TRACKING) vs without, on a
shardcache node, for a read-mostly workload.

One client runs N operations on K keys drawn from a Zipf-like skew (90% GET, 10% SET), first
without a cache, then with redis-py's built-in cache (`cache_config=CacheConfig()`). Reported:
ops/s, round trips to the server (its GET and SET counts from INFO commandstats), and how
many reads the cache answered. The node runs with `--compat-version 7.4.0` (redis-py turns
its cache on only for Redis 7.4+).

Usage: python3 bench/client_cache.py [--ops 200000] [--keys 1000]
       (uses .venv's redis-py; builds target/release/shardcache if missing)
"""
import argparse
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".venv", "lib",
                                f"python{sys.version_info.major}.{sys.version_info.minor}",
                                "site-packages"))
import redis  # noqa: E402
from redis.cache import CacheConfig  # noqa: E402

from common import free_port, wait_port  # noqa: E402


def calls(port):
    stats = redis.Redis(port=port).info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("get", "set"))


def workload(client, ops, keys, seed):
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(keys)]
    names = [f"key:{i}" for i in range(keys)]
    picks = rng.choices(names, weights=weights, k=ops)
    writes = [rng.random() < 0.10 for _ in range(ops)]
    start = time.perf_counter()
    for k, w in zip(picks, writes):
        if w:
            client.set(k, "v" * 32)
        else:
            client.get(k)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=1000)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    port = free_port()
    proc = subprocess.Popen([binary, "server", "--port", str(port), "--compat-version", "7.4.0"],
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        seed = redis.Redis(port=port)
        for i in range(args.keys):
            seed.set(f"key:{i}", "v" * 32)
        rows = []
        for label, client in [
            ("no cache", redis.Redis(port=port, protocol=3)),
            ("redis-py cache", redis.Redis(port=port, protocol=3, cache_config=CacheConfig())),
        ]:
            before = calls(port)
            secs = workload(client, args.ops, args.keys, 7)
            trips = calls(port) - before
            rows.append((label, args.ops / secs, trips))
        print(f"# {args.ops} operations, 90% GET / 10% SET over {args.keys} keys (Zipf-like), "
              "one redis-py client")
        print(f"{'client':>16} {'ops/s':>10} {'round trips':>12} {'saved':>7}")
        for label, rate, trips in rows:
            print(f"{label:>16} {rate:>10,.0f} {trips:>12,} {1 - trips / args.ops:>7.1%}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
