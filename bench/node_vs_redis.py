#!/usr/bin/env python3
"""Throughput and CPU per operation: a shardcache node vs redis-server, side by side.

Both servers run on this machine at the same time, on free loopback ports. Each round runs
`redis-benchmark -t set,get -c 50 -d 32 -r 100000 -P <p>` against each server, alternating the
order (A B, then B A) so drift on a shared machine hits both. We report medians over rounds,
the ratio ours/redis, p99 latency, and server CPU time per operation (utime+stime from
/proc/<pid>/stat around each run), which is steadier than ops/s on a noisy machine.

With --pin, the load generator runs on core 0 and each server on core 1 (taskset), the same
for both: on a 2-core machine this keeps the scheduler from stacking the client and a server
on one core, which otherwise adds run-to-run noise of several percent at pipeline depth 1.

With --aof everysec|always, both servers keep an append-only file (each in a temporary
directory of its own) with that fsync policy: the cost of durability, side by side.

Usage: python3 bench/node_vs_redis.py [--rounds 5] [--threads 0] [--pin] [--requests-p1 300000]
       [--requests-p16 2000000] [--aof no|everysec|always]
       (builds target/release/shardcache if missing)
"""
import argparse
import os
import shutil
import subprocess
import tempfile

from common import free_port, print_ratios, run_rounds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="shardcache worker threads (0 = per core)")
    ap.add_argument("--pin", action="store_true", help="client on core 0, servers on core 1")
    ap.add_argument("--requests-p1", type=int, default=300_000)
    ap.add_argument("--requests-p16", type=int, default=2_000_000)
    ap.add_argument("--aof", choices=["no", "everysec", "always"], default="no",
                    help="both servers keep an append-only file with this appendfsync")
    args = ap.parse_args()

    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    ours_port, redis_port = free_port(), free_port()
    server_prefix = ["taskset", "-c", "1"] if args.pin else []
    ours_dir, redis_dir = tempfile.mkdtemp(prefix="bench-ours-"), tempfile.mkdtemp(prefix="bench-redis-")
    aof = []
    if args.aof != "no":
        aof = ["--appendonly", "yes", "--appendfsync", args.aof]
    ours = subprocess.Popen(server_prefix + [binary, "server", "--port", str(ours_port), "--threads", str(args.threads),
                                             "--dir", ours_dir] + aof,
                            stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(server_prefix + ["redis-server", "--port", str(redis_port), "--save", "", "--dir", redis_dir]
                             + (aof or ["--appendonly", "no"]),
                             stdout=subprocess.DEVNULL)
    try:
        wait_port(ours_port)
        wait_port(redis_port)
        servers = {"shardcache": (ours_port, [ours.pid]), "redis": (redis_port, [redis.pid])}
        results = run_rounds(servers, args.rounds, args.requests_p1, args.requests_p16, pin=args.pin)

        print(f"# {args.rounds} rounds, redis-benchmark -t set,get -c 50 -d 32 -r 100000; "
              f"shardcache threads={args.threads or 'default'}; appendonly: {args.aof}"
              f"{'; pinned: client core 0, servers core 1' if args.pin else ''}")
        print_ratios(results, "redis", "redis")
        print("(cpu us/op: server utime+stime per SET+GET request over the whole run, median of rounds)")
    finally:
        ours.terminate()
        redis.terminate()
        ours.wait()
        redis.wait()
        shutil.rmtree(ours_dir, ignore_errors=True)
        shutil.rmtree(redis_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
