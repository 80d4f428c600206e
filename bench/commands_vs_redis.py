#!/usr/bin/env python3
"""Bitmap, HyperLogLog and scripting commands: a shardcache node vs redis-server, side by side.

Both servers run on this machine at once. Each round runs, against each server (alternating
which goes first), `redis-benchmark -c 50 -r 100000 -P <p> --csv <command>` for SETBIT and
BITCOUNT on one bitmap of 100000 bits (12.5 KB), PFADD and PFCOUNT on one HyperLogLog, and
EVALSHA and EVAL of a 3-command script (INCR, SET, GET on random keys), at pipeline 1 and 16. Reported: median ops/s, the ratio ours/redis, and server CPU per operation
(utime+stime around each run: steadier than ops/s on a shared machine).

Usage: python3 bench/commands_vs_redis.py [--rounds 3] [--requests-p1 100000]
       [--requests-p16 500000]   (builds target/release/shardcache if missing)
"""
import argparse
import csv
import hashlib
import io
import os
import statistics
import subprocess
import sys

from common import cpu_seconds, free_port, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = [
    # (__rand_int__ is zero-padded, which a bit offset may not be: a fixed offset in a
    # 100000-bit bitmap.)
    ("SETBIT", ["SETBIT", "bits", "99999", "1"]),
    ("BITCOUNT", ["BITCOUNT", "bits"]),
    ("PFADD", ["PFADD", "hll", "__rand_int__"]),
    ("PFCOUNT", ["PFCOUNT", "hll"]),
]
SCRIPT = ("redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) "
          "return redis.call('get', KEYS[2])")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
COMMANDS += [
    ("EVALSHA", ["EVALSHA", SCRIPT_SHA, "2", "ctr:__rand_int__", "val:__rand_int__", "v"]),
    ("EVAL", ["EVAL", SCRIPT, "2", "ctr:__rand_int__", "val:__rand_int__", "v"]),
]


def bench(port, pipeline, requests, command):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", "50", "-r", "100000", "-n", str(requests),
         "-P", str(pipeline), "--csv", *command],
        capture_output=True, text=True, check=True).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
    if not rows:
        sys.exit(f"unexpected redis-benchmark output: {out}")
    return float(rows[0][1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=100_000)
    ap.add_argument("--requests-p16", type=int, default=500_000)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    ports = {"shardcache": free_port(), "redis": free_port()}
    procs = {
        "shardcache": subprocess.Popen([binary, "server", "--port", str(ports["shardcache"])],
                                       stderr=subprocess.DEVNULL),
        "redis": subprocess.Popen(["redis-server", "--port", str(ports["redis"]), "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL),
    }
    try:
        for p in ports.values():
            wait_port(p)
            subprocess.run(["redis-cli", "-p", str(p), "SCRIPT", "LOAD", SCRIPT], check=True,
                           capture_output=True)
        results = {}
        names = list(ports)
        for rnd in range(args.rounds):
            for pipeline in (1, 16):
                requests = args.requests_p1 if pipeline == 1 else args.requests_p16
                for label, command in COMMANDS:
                    for name in (names if rnd % 2 == 0 else names[::-1]):
                        pid = procs[name].pid
                        before = cpu_seconds(pid)
                        rps = bench(ports[name], pipeline, requests, command)
                        cpu = (cpu_seconds(pid) - before) * 1e6 / requests
                        results.setdefault((name, pipeline, label), []).append((rps, cpu))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        print(f"# {args.rounds} rounds, redis-benchmark -c 50 -r 100000 <command>; medians")
        print(f"{'pipeline':>8} {'command':>9} {'ours ops/s':>12} {'redis ops/s':>12} "
              f"{'ratio':>6} {'cpu us/op ours':>15} {'redis':>7}")
        med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
        for pipeline in (1, 16):
            for label, _ in COMMANDS:
                o = results[("shardcache", pipeline, label)]
                t = results[("redis", pipeline, label)]
                print(f"{pipeline:>8} {label:>9} {med(o, 0):>12,.0f} {med(t, 0):>12,.0f} "
                      f"{med(o, 0) / med(t, 0):>6.2f} {med(o, 1):>15.2f} {med(t, 1):>7.2f}")
    finally:
        for p in procs.values():
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
