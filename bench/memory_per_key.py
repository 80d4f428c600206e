#!/usr/bin/env python3
"""Resident memory per key: shardcache vs redis-server, side by side.

Loads N keys (10-byte keys `key:000000`, 32-byte values) into a fresh server with
`redis-cli --pipe`, and reports the growth of the server's resident set (VmRSS) divided by
N, without a TTL and with `EX 3600`. Each configuration runs `--rounds` times on fresh
servers; medians are printed.

Usage: python3 bench/memory_per_key.py [--keys 1000000] [--rounds 3]
"""
import argparse
import os
import statistics
import subprocess
import tempfile

from common import free_port, rss_growth_of_load  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def protocol_file(n, ttl):
    path = os.path.join(tempfile.gettempdir(), f"sc-load-{n}-{ttl}.resp")
    if os.path.exists(path):
        return path
    value = "v" * 32
    with open(path, "w") as f:
        for i in range(n):
            key = f"key:{i:06d}"
            if ttl:
                f.write(f"*5\r\n$3\r\nSET\r\n$10\r\n{key}\r\n$32\r\n{value}\r\n$2\r\nEX\r\n$4\r\n3600\r\n")
            else:
                f.write(f"*3\r\n$3\r\nSET\r\n$10\r\n{key}\r\n$32\r\n{value}\r\n")
    return path


def measure(cmd, port, path, n):
    return rss_growth_of_load(cmd, port, path, n, expect_keys=n) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    print(f"# {args.keys} keys (10-byte key, 32-byte value), resident memory growth per key, "
          f"median of {args.rounds} rounds")
    print(f"{'ttl':>8} {'shardcache B/key':>17} {'redis B/key':>12} {'ratio':>6}")
    for ttl in (False, True):
        path = protocol_file(args.keys, ttl)
        ours, theirs = [], []
        for _ in range(args.rounds):
            p = free_port()
            ours.append(measure([binary, "server", "--port", str(p)], p, path, args.keys))
            p = free_port()
            theirs.append(measure(["redis-server", "--port", str(p), "--save", "", "--appendonly", "no"],
                                  p, path, args.keys))
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{'EX 3600' if ttl else 'none':>8} {o:>17.1f} {t:>12.1f} {o / t:>6.2f}")


if __name__ == "__main__":
    main()
