#!/usr/bin/env python3
"""Memory per element of small collections: shardcache vs redis-server, side by side.

Creates K keys of each type holding N elements (hash: 8-byte fields, 16-byte values; set:
16-byte members; list: 16-byte elements; sorted set: 16-byte members with integer scores) with `redis-cli --pipe`, and reports the growth of
each server's resident set divided by K*N. Fresh servers per measurement; medians of rounds.

Usage: python3 bench/collection_memory.py [--keys 10000] [--elements 10] [--rounds 3]
"""
import argparse
import os
import statistics
import subprocess
import tempfile

from common import free_port, rss_growth_of_load  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resp(*args):
    out = f"*{len(args)}\r\n"
    for a in args:
        out += f"${len(a)}\r\n{a}\r\n"
    return out


def protocol(kind, keys, n):
    path = os.path.join(tempfile.gettempdir(), f"sc-coll-{kind}-{keys}-{n}.resp")
    with open(path, "w") as f:
        for k in range(keys):
            key = f"{kind}:{k:06d}"
            if kind == "hash":
                args = ["HSET", key]
                for i in range(n):
                    args += [f"field{i:03d}", f"value-{k:06d}-{i:03d}"[:16].ljust(16, "v")]
            elif kind == "zset":
                args = ["ZADD", key]
                for i in range(n):
                    args += [str(i * 10 + k % 7), f"m{k:07d}:{i:04d}".ljust(16, "m")]
            elif kind == "set":
                args = ["SADD", key] + [f"m{k:07d}:{i:04d}".ljust(16, "m") for i in range(n)]
            else:
                args = ["RPUSH", key] + [f"elem-{k:06d}-{i:03d}"[:16].ljust(16, "e") for i in range(n)]
            f.write(resp(*args))
    return path


def measure(cmd, port, path, keys):
    return rss_growth_of_load(cmd, port, path, keys, settle=1.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--elements", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    total = args.keys * args.elements
    print(f"# {args.keys} keys x {args.elements} elements, resident memory growth per element, "
          f"median of {args.rounds} rounds")
    print(f"{'type':>6} {'shardcache B/elem':>18} {'redis B/elem':>13} {'ratio':>6}")
    for kind in ("hash", "set", "list", "zset"):
        path = protocol(kind, args.keys, args.elements)
        ours, theirs = [], []
        for _ in range(args.rounds):
            p = free_port()
            ours.append(measure([binary, "server", "--port", str(p)], p, path, args.keys) / total)
            p = free_port()
            theirs.append(measure(["redis-server", "--port", str(p), "--save", "", "--appendonly", "no"],
                                  p, path, args.keys) / total)
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{kind:>6} {o:>18.1f} {t:>13.1f} {o / t:>6.2f}")


if __name__ == "__main__":
    main()
