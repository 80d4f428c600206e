#!/usr/bin/env python3
"""Hit ratio at equal maxmemory: shardcache vs redis-server, same trace, side by side.

A cache-aside workload: for each request, GET the key; on a miss, SET it (100-byte value).
Keys follow a Zipf distribution (seeded, so both servers see the identical trace). Requests
are sent in pipelined windows of 32 GETs followed by the SETs for that window's misses
(identical for both servers; a key repeated inside one window counts as a miss twice, for
both). Both servers run with the same maxmemory and policy.

Reported: miss ratio of each server, ours/redis, the compulsory floor (first accesses), and
each server's resident memory and used_memory at the end.

Usage: python3 bench/hit_ratio.py [--alpha 1.0] [--requests 2000000] [--objects 1000000]
       [--maxmemory 16mb] [--policy allkeys-lru] [--scan-every 0 --scan-len 5000]
"""
import argparse
import bisect
import itertools
import os
import random
import socket
import subprocess

from common import free_port, wait_port, rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOW = 32


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb", buffering=1 << 20)

    def send(self, cmds):
        out = bytearray()
        for args in cmds:
            out += b"*%d\r\n" % len(args)
            for a in args:
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def read(self):
        line = self.f.readline()
        t = line[:1]
        if t == b"$":
            n = int(line[1:-2])
            if n < 0:
                return None
            return self.f.read(n + 2)[:-2]
        if t == b"-":
            raise RuntimeError(line.decode().strip())
        return line[1:-2]

    def info(self, field):
        self.send([[b"INFO", b"memory"]])
        text = self.read().decode()
        for l in text.splitlines():
            if l.startswith(field + ":"):
                return int(l.split(":")[1])
        return 0


def make_trace(args):
    rng = random.Random(42)
    weights = [1.0 / (i ** args.alpha) for i in range(1, args.objects + 1)]
    cdf = list(itertools.accumulate(weights))
    total = cdf[-1]
    perm = list(range(args.objects))
    rng.shuffle(perm)
    trace = []
    scan_id = 0
    for i in range(args.requests):
        if args.scan_every and i % args.scan_every == 0 and i > 0:
            for _ in range(args.scan_len):
                trace.append(b"scan:%d" % scan_id)
                scan_id += 1
        rank = bisect.bisect_left(cdf, rng.random() * total)
        trace.append(b"obj:%07d" % perm[min(rank, args.objects - 1)])
    return trace


def run(cmd, port, trace, value):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        c = Client(port)
        misses = zipf_requests = zipf_misses = 0
        for start in range(0, len(trace), WINDOW):
            window = trace[start:start + WINDOW]
            c.send([[b"GET", k] for k in window])
            missed = [k for k in window if c.read() is None]
            misses += len(missed)
            for k in window:
                if not k.startswith(b"scan:"):
                    zipf_requests += 1
            zipf_misses += sum(1 for k in missed if not k.startswith(b"scan:"))
            if missed:
                c.send([[b"SET", k, value] for k in missed])
                for _ in missed:
                    c.read()
        return zipf_misses / zipf_requests, rss(proc.pid), c.info("used_memory")
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=2_000_000)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--maxmemory", default="16mb")
    ap.add_argument("--policy", default="allkeys-lru")
    ap.add_argument("--scan-every", type=int, default=0, help="insert a scan every N requests")
    ap.add_argument("--scan-len", type=int, default=5000)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    trace = make_trace(args)
    zipf = [k for k in trace if not k.startswith(b"scan:")]
    floor = len(set(zipf)) / len(zipf)
    value = b"x" * 100
    p = free_port()
    ours = run([binary, "server", "--port", str(p), "--maxmemory", args.maxmemory,
                "--maxmemory-policy", args.policy], p, trace, value)
    p = free_port()
    theirs = run(["redis-server", "--port", str(p), "--save", "", "--appendonly", "no",
                  "--maxmemory", args.maxmemory, "--maxmemory-policy", args.policy], p, trace, value)
    scan = f", scan of {args.scan_len} keys every {args.scan_every} requests" if args.scan_every else ""
    print(f"# Zipf alpha={args.alpha}, {args.requests} requests over {args.objects} objects{scan}; "
          f"maxmemory {args.maxmemory}, {args.policy}; compulsory miss floor {floor:.3f}")
    print(f"{'':>10} {'miss ratio':>10} {'rss MB':>8} {'used_memory MB':>15}")
    for name, (miss, r, used) in (("shardcache", ours), ("redis", theirs)):
        print(f"{name:>10} {miss:>10.3f} {r / 2**20:>8.1f} {used / 2**20:>15.1f}")
    print(f"ratio ours/redis miss: {ours[0] / theirs[0]:.3f}")


if __name__ == "__main__":
    main()
