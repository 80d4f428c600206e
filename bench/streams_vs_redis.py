#!/usr/bin/env python3
"""Streams: a shardcache node vs redis-server, side by side — throughput and memory.

Both servers run on this machine at once, started fresh for the run.

Throughput: each round runs, against each server (alternating which goes first),
`redis-benchmark -c 50 -r 100000 -P <p> --csv <command>` for XADD with an automatic ID,
XADD capped with `MAXLEN ~ 1000`, XRANGE of 10 entries from the start, XREVRANGE of 10 from
the end, and XREAD COUNT 10 from a random ID, at pipeline 1 and 16 (on one stream of a few
hundred thousand entries built by the XADD runs). Reported: median ops/s, the ratio
ours/redis, and server CPU per operation (utime+stime around each run).

Memory: `used_memory` growth for one stream of N entries (`XADD s * f <i> g <8-byte value>`,
pipelined) and for N/100 streams of 100 entries, bytes per entry, ours vs Redis.

Usage: python3 bench/streams_vs_redis.py [--rounds 3] [--requests-p1 100000]
       [--requests-p16 500000] [--entries 1000000]
"""
import argparse
import os
import socket
import subprocess
import threading

from common import command_rounds, node_and_redis  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = [
    ("XADD", ["XADD", "s", "*", "f", "__rand_int__"]),
    ("XADD~", ["XADD", "capped", "MAXLEN", "~", "1000", "*", "f", "__rand_int__"]),
    ("XRANGE", ["XRANGE", "s", "-", "+", "COUNT", "10"]),
    ("XREVRANGE", ["XREVRANGE", "s", "+", "-", "COUNT", "10"]),
    ("XREAD", ["XREAD", "COUNT", "10", "STREAMS", "s", "__rand_int__"]),
]


def command(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)],
                          capture_output=True, text=True, check=True).stdout.strip()


def used_memory(port):
    for line in command(port, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise SystemExit("no used_memory")


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pipeline_load(port, lines):
    """Sends the commands pipelined on one connection while a thread reads every reply (a
    server may stop reading a client that does not read its replies)."""
    payload = b"".join(lines)
    with socket.create_connection(("127.0.0.1", port)) as s:
        def drain():
            while s.recv(1 << 20):
                pass
        reader = threading.Thread(target=drain)
        reader.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reader.join()


def memory(port, entries):
    """Bytes per entry: one big stream, then many streams of 100."""
    out = {}
    command(port, "FLUSHALL")
    base = used_memory(port)
    pipeline_load(port, [resp("XADD", "big", "*", "f", i, "g", "value-%03d" % (i % 1000))
                         for i in range(entries)])
    out["one stream"] = (used_memory(port) - base) / entries
    command(port, "FLUSHALL")
    base = used_memory(port)
    pipeline_load(port, [resp("XADD", f"s:{i // 100}", "*", "f", i, "g",
                              "value-%03d" % (i % 1000)) for i in range(entries)])
    out["streams of 100"] = (used_memory(port) - base) / entries
    command(port, "FLUSHALL")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=100_000)
    ap.add_argument("--requests-p16", type=int, default=500_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    with node_and_redis(ROOT) as (procs, ports):
        mem = {name: memory(port, args.entries) for name, port in ports.items()}
        print(f"# memory: used_memory growth per entry, {args.entries} entries")
        for shape in mem["shardcache"]:
            o, t = mem["shardcache"][shape], mem["redis"][shape]
            print(f"{shape:>16}: ours {o:7.1f} B/entry, redis {t:7.1f} B/entry, ratio {o / t:.2f}")
        command_rounds(procs, ports, COMMANDS, args.rounds, args.requests_p1, args.requests_p16)


if __name__ == "__main__":
    main()
