#!/usr/bin/env python3
"""Moving slots with their keys: Shard-Cache's online migration vs `redis-cli --cluster
reshard` on a 3-node Redis Cluster, side by side in one run.

Both clusters have 3 primaries, no replicas. The same number of slots (`--slots`, taken in
ascending order from the first primary: what `redis-cli --cluster reshard` picks) is loaded
with `--keys` keys of `--value-size` bytes (plus `--big` keys of 1 MB, if asked), spread
evenly over those slots, and moved to the second primary:
- Redis: `redis-cli --cluster reshard --cluster-from A --cluster-to B --cluster-slots N
  --cluster-yes --cluster-pipeline <p>` (MIGRATE <p> keys at a time, ASK redirects);
- Shard-Cache: `CLUSTER MOVESLOTS B <ranges>`, timed until CLUSTER INFO says no slot moves.
During each move a client thread (redis-py RedisCluster, which follows MOVED/ASK/TRYAGAIN)
reads and writes keys of the moving slots without pause; we report the p50/p99/max of its
operations, and count errors it saw. Figures: keys/s, MB/s (payload), the client's
latencies, and the longest switch pause Shard-Cache recorded (CLUSTER MIGRATIONS). The
clusters run one after the other (not at once) on this 2-core machine.

Usage: python3 bench/reshard_vs_redis_cluster.py [--keys 1000000] [--value-size 32]
       [--slots 2000] [--big 0] [--pipeline 10] [--threads 1] [--bandwidth 3mb]
       (builds target/release/shardcache if missing)
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import redis
from redis.cluster import RedisCluster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_vs_redis_cluster import (  # noqa: E402
    child_pids, cli, free_base, start_redis_cluster, start_shardcache)
from common import cpu_seconds, crc16  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tags_for(slots):
    """A hash tag per slot: `{t}` hashes to that slot."""
    want, tags, n = set(slots), {}, 0
    while len(tags) < len(want):
        t = f"t{n}"
        s = crc16(t.encode()) & 16383
        if s in want and s not in tags:
            tags[s] = t
        n += 1
    return tags


def primaries(port):
    """(id, port, first slots ascending) of each primary, in the order of their first slot."""
    out = []
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        f = line.split()
        if "master" not in f[2]:
            continue
        slots = []
        for r in f[8:]:
            if r.startswith("["):
                continue
            a, _, b = r.partition("-")
            slots.extend(range(int(a), int(b or a) + 1))
        out.append((f[0], int(f[1].split("@")[0].split(":")[1]), sorted(slots)))
    return sorted(out, key=lambda p: p[2][0] if p[2] else 99999)


def load(port, keys, value, big):
    """Sends the SETs to the node at `port` with `redis-cli --pipe`."""
    chunks = []
    for k in keys:
        chunks.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value))
    mb = b"x" * (1 << 20)
    for k in big:
        chunks.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(mb), mb))
    p = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=b"".join(chunks),
                       capture_output=True, check=True)
    if b"errors: 0" not in p.stdout:
        sys.exit(f"load failed: {p.stdout[-300:]}")


def dataset(base, args, value):
    """Loads the keys into the first `args.slots` slots of the cluster's first primary:
    answers (its id, its port, the second primary's id, those slots, the keys, the 1 MB keys)."""
    (a_id, a_port, a_slots), (b_id, _, _) = primaries(base)[:2]
    moving = a_slots[:args.slots]
    tags = tags_for(moving)
    keys = [f"{{{tags[moving[i % len(moving)]]}}}:{i}".encode() for i in range(args.keys)]
    big = [f"{{{tags[moving[i % len(moving)]]}}}:big{i}".encode() for i in range(args.big)]
    load(a_port, keys, value, big)
    return a_id, a_port, b_id, moving, keys, big


class Probe(threading.Thread):
    """Reads and writes keys of the moving slots, timing each operation."""

    def __init__(self, port, keys):
        super().__init__(daemon=True)
        self.rc = RedisCluster(host="127.0.0.1", port=port)
        self.keys, self.lat, self.errors = keys, [], 0
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            k = self.keys[(i * 7919) % len(self.keys)]
            t = time.perf_counter()
            try:
                if i % 2:
                    self.rc.set(k, b"v" * 32)
                elif self.rc.get(k) is None:
                    self.errors += 1
            except redis.RedisError:
                self.errors += 1
            self.lat.append(time.perf_counter() - t)
            i += 1


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else 0.0


def run_move(name, port, pids, move, keys, nbytes):
    probe = Probe(port, keys)
    probe.start()
    time.sleep(0.5)
    before_lat = len(probe.lat)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.perf_counter()
    move()
    took = time.perf_counter() - t0
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    time.sleep(0.3)
    probe.stop.set()
    probe.join()
    lat = probe.lat[before_lat:]
    return {
        "name": name, "seconds": took, "keys_s": len(keys) / took, "mb_s": nbytes / took / 1e6,
        "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat) * 1000 if lat else 0,
        "ops": len(lat), "errors": probe.errors, "cpu_s": cpu,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=32)
    ap.add_argument("--slots", type=int, default=2000)
    ap.add_argument("--big", type=int, default=0, help="also this many 1 MB values")
    ap.add_argument("--pipeline", type=int, default=10, help="redis-cli --cluster-pipeline")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bandwidth", default="",
                    help="Shard-Cache's --migration-max-bandwidth (e.g. 3mb: a move as slow as Redis's)")
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    value = b"v" * args.value_size
    nbytes = args.keys * args.value_size + args.big * (1 << 20)
    results = []

    # Redis Cluster and redis-cli --cluster reshard.
    workdir = tempfile.mkdtemp(prefix="bench-reshard-")
    base = free_base(3, 23100)
    procs = start_redis_cluster(base, workdir)
    try:
        a_id, a_port, b_id, moving, keys, big = dataset(base, args, value)

        def reshard():
            subprocess.run(["redis-cli", "--cluster", "reshard", f"127.0.0.1:{base}",
                            "--cluster-from", a_id, "--cluster-to", b_id, "--cluster-slots",
                            str(args.slots), "--cluster-yes", "--cluster-pipeline",
                            str(args.pipeline)], capture_output=True, check=True)
        results.append(run_move("redis", base, [p.pid for p in procs], reshard, keys + big, nbytes))
        owners = primaries(base)
        assert sum(len(p[2]) for p in owners if p[0] == b_id) >= args.slots, "not moved"
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    # Shard-Cache: CLUSTER MOVESLOTS.
    base = free_base(4, base + 60)
    node_args = ["--migration-max-bandwidth", args.bandwidth] if args.bandwidth else []
    dev = start_shardcache(binary, base, args.threads, node_args)
    try:
        a_id, a_port, b_id, moving, keys, big = dataset(base, args, value)
        r = redis.Redis(port=a_port)

        def moveslots():
            pairs = []
            for s in moving:
                pairs += [s, s]
            r.execute_command("CLUSTER", "MOVESLOTS", b_id, *pairs)
            # Done when the source has switched every one of them.
            while True:
                m = r.execute_command("CLUSTER", "MIGRATIONS").decode()
                if f"migration_slots_moved:{len(moving)}\r\n" in m:
                    break
                time.sleep(0.005)
        results.append(run_move("shardcache", base, child_pids(dev.pid), moveslots, keys + big,
                                nbytes))
        m = r.execute_command("CLUSTER", "MIGRATIONS").decode()
        fields = dict(line.split(":", 1) for line in m.splitlines() if ":" in line)
        pause_ms = int(fields.get("migration_max_pause_us", 0)) / 1000
        deadline = time.time() + 30  # the source drops its copies in the background
        while redis.Redis(port=a_port).dbsize() > 1 and time.time() < deadline:
            time.sleep(0.1)
        assert redis.Redis(port=a_port).dbsize() <= 1, "keys left on the source"
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait()

    print(f"# moving {args.slots} slots holding {args.keys} keys of {args.value_size} B"
          + (f" + {args.big} keys of 1 MB" if args.big else "")
          + f" ({nbytes / 1e6:.0f} MB); redis-cli --cluster-pipeline {args.pipeline}; "
          f"shardcache threads per node={args.threads}"
          + (f", --migration-max-bandwidth {args.bandwidth}" if args.bandwidth else ""))
    print(f"{'':12}{'seconds':>9}{'keys/s':>12}{'MB/s':>9}{'client p50 ms':>15}{'p99 ms':>9}"
          f"{'max ms':>9}{'errors':>8}{'server cpu s':>14}")
    for x in results:
        print(f"{x['name']:12}{x['seconds']:9.2f}{x['keys_s']:12.0f}{x['mb_s']:9.1f}"
              f"{x['p50']:15.2f}{x['p99']:9.2f}{x['max']:9.1f}{x['errors']:8}{x['cpu_s']:14.2f}")
    theirs, ours = results
    print(f"ratio shardcache/redis: keys/s {ours['keys_s'] / theirs['keys_s']:.1f}x, "
          f"client p99 {ours['p99'] / max(theirs['p99'], 1e-9):.2f}x")
    print(f"longest switch pause of a moving slot (shardcache): {pause_ms:.1f} ms")


if __name__ == "__main__":
    main()
