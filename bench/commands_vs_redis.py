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
import hashlib
import os
import subprocess

from common import command_rounds, node_and_redis  # noqa: E402

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=100_000)
    ap.add_argument("--requests-p16", type=int, default=500_000)
    args = ap.parse_args()
    with node_and_redis(ROOT) as (procs, ports):
        for p in ports.values():
            subprocess.run(["redis-cli", "-p", str(p), "SCRIPT", "LOAD", SCRIPT], check=True,
                           capture_output=True)
        command_rounds(procs, ports, COMMANDS, args.rounds, args.requests_p1, args.requests_p16)


if __name__ == "__main__":
    main()
