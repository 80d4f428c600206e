#!/usr/bin/env python3
"""Snapshots: `shardcache server` vs redis-server 7.0, side by side in one run.

Both get the same 1M small string keys (10-byte keys, 32-byte values, written with pipelined
SETs), then: SAVE time (the command's latency), file size, load-on-start time (from process
start until the port answers PING with the keys loaded), and for BGSAVE the extra resident
memory while it runs under a write load (our snapshot has no fork; Redis's child shares pages
copy-on-write, counted as the child's private dirty memory).

With --mixed the keys are a mix of types: 40% strings, 15% each hashes (5 fields), lists
(5 elements), sets (5 members, half of them integer sets) and sorted sets (5 members).

Usage: python3 bench/snapshot_vs_redis.py [--keys 1000000] [--rounds 3] [--mixed]
       (builds target/release/shardcache if missing)
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import free_port, rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            n = int(line[1:])
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(1 << 20)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        return line

    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()


def command_for(i, mixed):
    key = f"key:{i:06d}"
    if not mixed or i % 20 < 8:
        return resp("SET", key, f"v{i:031d}")
    kind = i % 20
    if kind < 11:
        return resp("HSET", key, *[x for f in range(5) for x in (f"field{f}", f"value-{i}-{f}")])
    if kind < 14:
        return resp("RPUSH", key, *[f"element-{i}-{e}" for e in range(5)])
    if kind < 17:
        if kind % 2:
            return resp("SADD", key, *[str(i * 10 + m) for m in range(5)])
        return resp("SADD", key, *[f"member-{i}-{m}" for m in range(5)])
    return resp("ZADD", key, *[x for m in range(5) for x in (str(m * 1.5), f"m-{i}-{m}")])


def load(port, keys, mixed=False):
    c = Conn(port)
    batch = 10_000
    for start in range(0, keys, batch):
        c.s.sendall(b"".join(command_for(i, mixed) for i in range(start, min(keys, start + batch))))
        for _ in range(min(keys, start + batch) - start):
            c.reply()


def wait_loaded(port, keys, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.returncode}")
        try:
            c = Conn(port)
            if c.cmd("PING") == b"+PONG" and int(c.cmd("DBSIZE")[1:]) == keys:
                return
        except (OSError, ValueError, ConnectionError):
            pass
        time.sleep(0.005)
    sys.exit("never loaded")


def start(kind, port, d):
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", d, "--dbfilename", "dump.rdb"]
    else:
        cmd = [os.path.join(ROOT, "target", "release", "shardcache"), "server", "--port", str(port),
               "--dir", d, "--loglevel", "warning"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bgsave_extra_memory(kind, port, proc):
    """Peak extra resident memory (server + any save child) during a BGSAVE under writes."""
    c = Conn(port)
    base = rss(proc.pid)
    stop = threading.Event()

    def writer():
        w = Conn(port)
        i = 0
        while not stop.is_set():
            w.s.sendall(b"".join(resp("SET", f"key:{(i + j) % 1000000:06d}", "x" * 32) for j in range(500)))
            for _ in range(500):
                w.reply()
            i += 500

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.2)
    c.cmd("BGSAVE")
    peak = 0
    while True:
        info = c.cmd("INFO", "persistence").decode()
        total = rss(proc.pid)
        if kind == "redis":
            for child in children(proc.pid):
                total += private_dirty(child)
        peak = max(peak, total - base)
        if "rdb_bgsave_in_progress:0" in info:
            break
        time.sleep(0.01)
    stop.set()
    t.join()
    return peak


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def private_dirty(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(l.split()[1]) * 1024 for l in f if l.startswith("Private_Dirty"))
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mixed", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "target", "release", "shardcache")):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    results = {}
    for rnd in range(args.rounds):
        order = ["shardcache", "redis"] if rnd % 2 == 0 else ["redis", "shardcache"]
        for kind in order:
            d = tempfile.mkdtemp(prefix=f"snap-{kind}-")
            port = free_port()
            proc = start(kind, port, d)
            wait_loaded(port, 0, proc)
            load(port, args.keys, args.mixed)
            c = Conn(port)
            t0 = time.perf_counter()
            assert c.cmd("SAVE") == b"+OK"
            save = time.perf_counter() - t0
            size = os.path.getsize(os.path.join(d, "dump.rdb"))
            extra = bgsave_extra_memory(kind, port, proc)
            dataset = rss(proc.pid)
            proc.terminate()
            proc.wait()
            # Restore the file SAVE wrote (BGSAVE rewrote it under writes: same key count).
            port = free_port()
            t0 = time.perf_counter()
            proc = start(kind, port, d)
            wait_loaded(port, args.keys, proc)
            load_time = time.perf_counter() - t0
            proc.terminate()
            proc.wait()
            shutil.rmtree(d, ignore_errors=True)
            results.setdefault(kind, []).append((save, load_time, size, extra, dataset))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    med = {k: [statistics.median(r[i] for r in v) for i in range(5)] for k, v in results.items()}
    what = "mixed types" if args.mixed else "10-byte keys, 32-byte values"
    print(f"# {args.rounds} rounds, {args.keys} keys ({what}); medians")
    print(f"{'':28}{'shardcache':>14}{'redis':>14}{'ratio':>8}")
    rows = [("SAVE seconds", 0, "{:.3f}"), ("load on start seconds", 1, "{:.3f}"),
            ("file MB", 2, "{:.1f}"), ("BGSAVE extra MB (writes on)", 3, "{:.1f}"),
            ("RSS of the dataset MB", 4, "{:.1f}")]
    for label, i, fmt in rows:
        a, b = med["shardcache"][i], med["redis"][i]
        if i >= 2:
            a, b = a / 1048576, b / 1048576
        ratio = a / b if b else float("nan")
        print(f"{label:28}{fmt.format(a):>14}{fmt.format(b):>14}{ratio:>8.2f}")
    print("(ratio = ours / redis: below 1 is better for every row)")


if __name__ == "__main__":
    main()
