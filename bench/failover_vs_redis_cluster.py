#!/usr/bin/env python3
"""Write unavailability after a primary is killed, and acknowledged writes lost: a 3+3
Shard-Cache cluster (`shardcache dev --nodes 6 --replicas 1`, its defaults) vs a 3+3 Redis
Cluster (`redis-cli --cluster create --cluster-replicas 1`) at cluster-node-timeout 2000 (and
15000, Redis's default, with --redis-default), side by side in one run.

Each round: a client writes unique keys of one primary's slots as fast as one connection can
(each SET followed by `WAIT 1 100`, so a write counts as acknowledged only once a replica has
it), the primary is killed with SIGKILL (or, with --sigstop, frozen with SIGSTOP for 5 s and
then let go), and the client follows redirections and retries until a write succeeds again.
Reported per cluster: the time from the kill to the first successful write (median and
worst over rounds), WAIT-acknowledged writes lost (read back after the failover: must be 0)
and unacknowledged writes lost (allowed). The killed node is then restarted (it rejoins as
a replica) and the next round waits for every replica to be in sync.

Run as a linearizability-style check: `--rounds 20` (ours only: `--ours-only`).

Usage: python3 bench/failover_vs_redis_cluster.py [--rounds 5] [--redis-rounds 3]
       [--redis-default] [--sigstop] [--ours-only]   (builds target/release/shardcache if missing)
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import crc16, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shardcache")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10).stdout


def key_slot(key):
    s = key.find(b"{")
    if s != -1:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) & 16383


class Conn:
    """A minimal RESP client: one command at a time, errors returned as ('err', text)."""

    def __init__(self, port, timeout=1.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return ("err", rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            return [self._read() for _ in range(int(rest))]
        raise ConnectionError(f"bad reply {line!r}")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._read()


def nodes(port):
    """CLUSTER NODES as (id, port, flags, primary id, ranges) tuples."""
    out = []
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        p = int(f[1].split("@")[0].split(":")[1])
        ranges = []
        for r in f[8:]:
            if r.startswith("["):
                continue
            a, _, b = r.partition("-")
            ranges.append((int(a), int(b or a)))
        out.append((f[0], p, f[2], f[3], ranges))
    return out


def in_sync(ports):
    """Every node answers, 3 primaries own all slots, every replica's link is up."""
    for p in ports:
        info = cli(p, "CLUSTER", "INFO")
        if "cluster_state:ok" not in info:
            return False
        repl = cli(p, "INFO", "replication")
        if "role:slave" in repl and "master_link_status:up" not in repl:
            return False
    ns = nodes(ports[0])
    return (len([n for n in ns if "master" in n[2] and "fail" not in n[2]]) == 3
            and len([n for n in ns if "slave" in n[2] and "fail" not in n[2]]) == 3)


def wait_in_sync(ports, what, timeout=90):
    deadline = time.time() + timeout
    while not in_sync(ports):
        if time.time() > deadline:
            sys.exit(f"{what}: replicas not in sync within {timeout} s")
        time.sleep(0.2)


class Writer(threading.Thread):
    """Writes unique keys of `slots`, each followed by WAIT 1 100, following MOVED."""

    def __init__(self, port, slots, tag, ports):
        super().__init__(daemon=True)
        self.port, self.slots, self.tag, self.ports = port, slots, tag, ports
        self.acked, self.unacked, self.successes = [], [], []
        self.stop = False
        self.keys = self._keys()

    def _keys(self):
        i = 0
        while True:
            k = f"{self.tag}:{i}".encode()
            i += 1
            if key_slot(k) in self.slots:
                yield i, k

    def run(self):
        conn, port = None, self.port
        for i, k in self.keys:
            if self.stop:
                return
            while not self.stop:
                try:
                    if conn is None:
                        # A client gives up on a silent node after 250 ms (a frozen one
                        # never answers).
                        conn = Conn(port, timeout=0.25)
                    r = conn.call("SET", k, i)
                    if isinstance(r, tuple):
                        text = r[1]
                        if text.startswith("MOVED"):
                            port = int(text.split()[2].split(":")[1])
                            conn.close()
                            conn = None
                        else:
                            time.sleep(0.005)
                        continue
                    self.successes.append((time.time(), port))
                    w = conn.call("WAIT", 1, 100)
                    (self.acked if isinstance(w, int) and w >= 1 else self.unacked).append((k, i))
                    break
                except OSError:
                    if conn is not None:
                        conn.close()
                    conn = None
                    # As a cluster client: ask another node who serves the slot now.
                    port = self.owner(key_slot(k)) or port
                    time.sleep(0.005)

    def owner(self, slot):
        for p in self.ports:
            try:
                c = Conn(p, timeout=0.5)
                reply = c.call("CLUSTER", "SLOTS")
                c.close()
            except OSError:
                continue
            if isinstance(reply, list):
                for entry in reply:
                    if entry[0] <= slot <= entry[1]:
                        return int(entry[2][1])
        return None


def read_back(port_of_any, writer):
    """(acknowledged lost, unacknowledged lost), reading each key from its current owner."""
    owners = {}
    for _, p, flags, _, ranges in nodes(port_of_any):
        if "master" in flags and "fail" not in flags:
            for a, b in ranges:
                for s in range(a, b + 1):
                    owners[s] = p
    conns = {}

    def get(k):
        p = owners[key_slot(k)]
        if p not in conns:
            conns[p] = Conn(p, timeout=5)
        return conns[p].call("GET", k)

    lost_acked = sum(1 for k, i in writer.acked if get(k) != str(i).encode())
    lost_unacked = sum(1 for k, i in writer.unacked if get(k) != str(i).encode())
    for c in conns.values():
        c.close()
    return lost_acked, lost_unacked


def one_round(ports, pid_of, restart, tag, sigstop):
    """Kills (or freezes) a primary under load; returns (unavailable s, lost acked, lost unacked, total acked)."""
    ns = nodes(ports[0])
    primaries = [n for n in ns if "master" in n[2]]
    victim = primaries[hash(tag) % len(primaries)]
    slots = set()
    for a, b in victim[4]:
        slots.update(range(a, b + 1))
    info = cli(ports[0], "CLUSTER", "INFO")
    leader = next((l.split(":", 1)[1].strip() for l in info.splitlines()
                   if l.startswith("cluster_raft_leader:")), "")
    role = ("leads the Raft group" if leader == victim[0] else
            "its replica leads" if any(n[0] == leader and n[3] == victim[0] for n in ns) else "")
    w = Writer(victim[1], slots, tag, [p for p in ports if p != victim[1]])
    w.start()
    time.sleep(1.0)
    pid = pid_of(victim[1])
    killed_at = time.time()
    os.kill(pid, signal.SIGSTOP if sigstop else signal.SIGKILL)
    if sigstop:
        time.sleep(5)
        os.kill(pid, signal.SIGCONT)
    deadline = time.time() + 120
    # Writes the victim answered just as it was stopped do not count: only its successor's.
    while not any(t > killed_at for t, p in w.successes if p != victim[1]):
        if time.time() > deadline:
            w.stop = True
            sys.exit(f"{tag}: writes never resumed")
        time.sleep(0.01)
    first = min(t for t, p in w.successes if t > killed_at and p != victim[1])
    time.sleep(0.5)
    w.stop = True
    w.join(10)
    if not sigstop:
        restart(victim[1])
    synced = time.time()
    wait_in_sync(ports, tag)
    if os.environ.get("BENCH_VERBOSE"):
        print(f"    back in sync after {time.time() - synced:.1f} s", flush=True)
    lost_acked, lost_unacked = read_back(ports[0], w)
    return first - killed_at, lost_acked, lost_unacked, len(w.acked), role


def find_base(n):
    def free(p):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return True
            except OSError:
                return False
    for base in range(21000, 29000, 17):
        if all(free(base + i) and free(base + 10000 + i) for i in range(n)):
            return base
    sys.exit("no free ports")


def run_ours(rounds, sigstop):
    base = find_base(6)
    dev = subprocess.Popen([BIN, "dev", "--nodes", "6", "--replicas", "1", "--base-port", str(base),
                            "--admin-base-port", "0"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    for line in dev.stdout:
        if line.startswith("Ctrl-C"):
            break
    ports = [base + i for i in range(6)]

    def pid_of(port):
        out = subprocess.run(["pgrep", "-f", "--", f"--cluster-enabled --port {port} "],
                             capture_output=True, text=True).stdout
        return int(out.split()[0])

    def restart(_port):
        # Enter on dev's terminal restarts dead nodes (after the failover was measured).
        time.sleep(0.3)
        dev.stdin.write("\n")
        dev.stdin.flush()

    results = []
    try:
        wait_in_sync(ports, "shardcache")
        for r in range(rounds):
            results.append(one_round(ports, pid_of, restart, f"ours{r}", sigstop))
            print(f"  shardcache round {r + 1}: writes back after {results[-1][0]:.3f} s, "
                  f"acked lost {results[-1][1]}/{results[-1][3]}, unacked lost {results[-1][2]}"
                  + (f" (victim: {results[-1][4]})" if results[-1][4] else ""), flush=True)
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(30)
    return results


def run_redis(rounds, timeout_ms, sigstop):
    base = find_base(6)
    work = tempfile.mkdtemp(prefix="failover-redis-")
    procs = {}

    def start(port):
        d = os.path.join(work, str(port))
        os.makedirs(d, exist_ok=True)
        procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--cluster-enabled", "yes",
             "--cluster-config-file", os.path.join(d, "nodes.conf"), "--cluster-node-timeout",
             str(timeout_ms), "--save", "", "--appendonly", "no", "--dir", d],
            stdout=subprocess.DEVNULL)

    ports = [base + i for i in range(6)]
    for p in ports:
        start(p)
    for p in ports:
        wait_port(p)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, check=True)
    results = []
    try:
        wait_in_sync(ports, "redis")
        for r in range(rounds):
            results.append(one_round(ports, lambda p: procs[p].pid,
                                     lambda p: (procs[p].wait(), start(p)), f"redis{r}", sigstop))
            print(f"  redis ({timeout_ms} ms) round {r + 1}: writes back after {results[-1][0]:.3f} s, "
                  f"acked lost {results[-1][1]}/{results[-1][3]}, unacked lost {results[-1][2]}",
                  flush=True)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    return results


def summary(label, results):
    times = [r[0] for r in results]
    print(f"{label:<32} median {statistics.median(times):6.3f} s  worst {max(times):6.3f} s  "
          f"acked lost {sum(r[1] for r in results)} of {sum(r[3] for r in results)}  "
          f"unacked lost {sum(r[2] for r in results)}  ({len(results)} rounds)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--redis-rounds", type=int, default=3)
    ap.add_argument("--redis-default", action="store_true", help="also Redis at 15000 ms")
    ap.add_argument("--sigstop", action="store_true")
    ap.add_argument("--ours-only", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    kill = "SIGSTOP 5 s" if a.sigstop else "SIGKILL"
    print(f"{kill} of a primary under load (3 primaries + 3 replicas each)", flush=True)
    ours = run_ours(a.rounds, a.sigstop)
    theirs = []
    if not a.ours_only:
        theirs.append(("redis cluster, node-timeout 2000", run_redis(a.redis_rounds, 2000, a.sigstop)))
        if a.redis_default:
            theirs.append(("redis cluster, node-timeout 15000",
                           run_redis(max(1, a.redis_rounds // 2), 15000, a.sigstop)))
    summary("shardcache (defaults)", ours)
    for label, r in theirs:
        summary(label, r)


if __name__ == "__main__":
    main()
