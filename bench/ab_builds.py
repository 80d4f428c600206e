#!/usr/bin/env python3
"""Two builds of the node side by side: did a change make the node slower?

Runs `redis-benchmark -t set,get -c 50 -d 32 -r 100000` at pipeline 1 and 16 against a node
started from each binary, at the same time on free loopback ports, alternating the order each
round (as bench/node_vs_redis.py does against redis-server). Reports medians, the ratio
new/old, p99 latency and server CPU per operation — on this shared machine the CPU figure is
the steadier one; throughput ratios between two runs of the same build move by ±0.1.

To get the "old" binary: build the commit before the change and copy
target/release/shardcache aside, e.g.
    git stash; cargo build --release -p shardcache; cp target/release/shardcache /tmp/sc-old
    git stash pop; cargo build --release -p shardcache

Usage: python3 bench/ab_builds.py --old /tmp/sc-old [--new target/release/shardcache]
       [--rounds 3] [--threads 0] [--requests-p1 300000] [--requests-p16 2000000]
"""
import argparse
import os
import subprocess

from common import free_port, print_ratios, run_rounds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the binary before the change")
    ap.add_argument("--new", default=os.path.join(ROOT, "target", "release", "shardcache"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="worker threads of both (0: default)")
    ap.add_argument("--requests-p1", type=int, default=300_000)
    ap.add_argument("--requests-p16", type=int, default=2_000_000)
    args = ap.parse_args()

    procs = {}
    try:
        for name, binary in (("shardcache", args.new), ("old", args.old)):
            port = free_port()
            procs[name] = (port, subprocess.Popen(
                [binary, "server", "--port", str(port), "--save", "", "--threads", str(args.threads)],
                stderr=subprocess.DEVNULL))
            wait_port(port)
        targets = {name: (port, [p.pid]) for name, (port, p) in procs.items()}
        results = run_rounds(targets, args.rounds, args.requests_p1, args.requests_p16)
        print(f"# {args.rounds} rounds; new = {args.new}, old = {args.old}; threads {args.threads or 'default'}")
        print_ratios(results, "old", "old")
        print("(ratio: new/old; cpu us/op: server utime+stime per SET+GET request, median of rounds)")
    finally:
        for _, p in procs.values():
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
