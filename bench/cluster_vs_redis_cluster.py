#!/usr/bin/env python3
"""A 3-node Shard-Cache cluster (`shardcache dev`) vs a 3-node Redis Cluster, side by side.

The script starts both on this machine: three `redis-server --cluster-enabled yes` joined by
`redis-cli --cluster create --cluster-replicas 0`, and `shardcache dev --nodes 3`. Each round
runs `redis-benchmark --cluster -t set,get -c 50 -d 32 -r 100000 -P <p>` against each
cluster, alternating the order (A B, then B A) so drift on a shared machine hits both. We
print medians over rounds, the ratio ours/redis, p99 latency and the servers' CPU time per
request (utime+stime of the three processes around each run).

It also prints the placement figures of the issue: keys per node for 100k random keys on the
3-node cluster, and the share of those keys that changes node when a 4th node joins (ideal
25%), both read from CLUSTER NODES (no data needed).

Usage: python3 bench/cluster_vs_redis_cluster.py [--rounds 3] [--threads 1]
       [--requests-p1 200000] [--requests-p16 1000000]   (builds target/release/shardcache if missing)
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from common import crc16, print_ratios, run_rounds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_base(n, start):
    for base in range(start, start + 5000, 11):
        if all(free(base + i) and free(base + 1000 + i) and free(base + 10000 + i) for i in range(n)):
            return base
    sys.exit("no free ports")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout


def slot_owners(port):
    owners = {}
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        f = line.split()
        for r in f[8:]:
            if r.startswith("["):
                continue
            a, _, b = r.partition("-")
            for s in range(int(a), int(b or a) + 1):
                owners[s] = f[1].split("@")[0]
    return owners


def child_pids(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def start_redis_cluster(base, workdir):
    procs = []
    for i in range(3):
        port = base + i
        d = os.path.join(workdir, str(port))
        os.makedirs(d)
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--cluster-enabled", "yes", "--cluster-config-file",
             os.path.join(d, "nodes.conf"), "--save", "", "--appendonly", "no", "--dir", d],
            stdout=subprocess.DEVNULL))
    for i in range(3):
        wait_port(base + i)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{base + i}" for i in range(3)],
                    "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, check=True)
    deadline = time.time() + 30
    while not all("cluster_state:ok" in cli(base + i, "CLUSTER", "INFO") for i in range(3)):
        if time.time() > deadline:
            sys.exit("redis cluster did not form")
        time.sleep(0.1)
    return procs


def start_shardcache(binary, base, threads, node_args=()):
    """`shardcache dev --nodes 3` (no admin or gRPC ports; `node_args` go to every node)."""
    dev = subprocess.Popen([binary, "dev", "--nodes", "3", "--base-port", str(base), "--threads",
                            str(threads), "--admin-base-port", "0", "--grpc-base-port", "0",
                            *(["--", *node_args] if node_args else [])],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in dev.stdout:
        if line.startswith("Ctrl-C"):
            break
    else:
        sys.exit("shardcache dev did not come up")
    return dev


def placement_figures(binary, base, threads):
    """Keys per node for 100k random keys, and the share moving when a 4th node joins."""
    rng = random.Random(42)
    keys = [f"key:{rng.getrandbits(48):x}".encode() for _ in range(100_000)]
    slots = [crc16(k) & 16383 for k in keys]
    before = slot_owners(base)
    per_node = {}
    for s in slots:
        per_node[before[s]] = per_node.get(before[s], 0) + 1
    fourth = subprocess.Popen([binary, "server", "--cluster-enabled", "--threads", str(threads),
                               "--port", str(base + 3), "--join", f"127.0.0.1:{base}",
                               "--loglevel", "warning"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        # Joined, and every slot that moves to it has moved (keys and all).
        while not all(x in cli(base, "CLUSTER", "INFO")
                      for x in ("cluster_known_nodes:4", "cluster_slots_moving:0")):
            if time.time() > deadline:
                sys.exit("the 4th node did not join")
            time.sleep(0.1)
        after = slot_owners(base)
        moved = sum(1 for s in slots if before[s] != after[s])
    finally:
        fourth.terminate()
        fourth.wait()
    return per_node, moved / len(keys)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="shardcache worker threads per node")
    ap.add_argument("--requests-p1", type=int, default=200_000)
    ap.add_argument("--requests-p16", type=int, default=1_000_000)
    args = ap.parse_args()
    for tool in ("redis-server", "redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install redis-server redis-tools)")
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)

    workdir = tempfile.mkdtemp(prefix="bench-redis-cluster-")
    redis_base = free_base(3, 23000)
    redis_procs = start_redis_cluster(redis_base, workdir)
    ours_base = free_base(4, redis_base + 50)
    dev = start_shardcache(binary, ours_base, args.threads)
    try:
        clusters = {
            "shardcache": (ours_base, child_pids(dev.pid)),
            "redis": (redis_base, [p.pid for p in redis_procs]),
        }
        results = run_rounds(clusters, args.rounds, args.requests_p1, args.requests_p16,
                             cluster=True)

        print(f"# {args.rounds} rounds, redis-benchmark --cluster -t set,get -c 50 -d 32 -r 100000; "
              f"3 nodes each, no replicas; shardcache threads per node={args.threads}")
        print_ratios(results, "redis", "redis")
        print("(cpu us/op: utime+stime of the 3 servers per SET+GET request, median of rounds)")

        per_node, share = placement_figures(binary, ours_base, args.threads)
        print("keys per node, 100k random keys on 3 nodes: " +
              ", ".join(f"{a} {n}" for a, n in sorted(per_node.items())))
        print(f"share of those keys that change node when a 4th node joins: {share:.2%} (ideal 25%)")
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait()
        for p in redis_procs:
            p.terminate()
            p.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
