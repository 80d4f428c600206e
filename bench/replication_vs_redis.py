#!/usr/bin/env python3
"""The throughput cost of replication: SET/GET with one replica attached vs none, for a
shardcache node (its replica another node) and for redis-server (its replica another
redis-server), all side by side in one run.

Four primaries run at once: ours alone, ours with a replica, redis alone, redis with a
replica. Each round runs `redis-benchmark -t set,get -c 50 -d 32 -r 100000 -P <p>` against
each primary (order rotated per round). Reported: median ops/s, the loss with a replica
(1 - with/without), and the primary's CPU per request. On this 2-core machine the replica
competes for the same cores as the primary and the load generator, for both servers alike;
its CPU per SET applied is reported too.

With --full-sync N: instead, the time a new replica takes to be in sync with a primary
holding N small keys (10-byte keys, 32-byte values), from REPLICAOF until the link is up and
the replica holds every key; each server replicating from its own kind, disk-less sync for
Redis (its default), median of rounds.

Usage: python3 bench/replication_vs_redis.py [--rounds 3] [--requests-p1 200000]
       [--requests-p16 1000000] [--full-sync 1000000] [--binary PATH]
       (builds target/release/shardcache if missing)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import free_port, run_benchmark, cpu_seconds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "shardcache")


def start(kind, port, replicaof=None):
    d = tempfile.mkdtemp(prefix=f"repl-{kind}-")
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", d,
               "--repl-diskless-sync-delay", "0"]
        if replicaof:
            cmd += ["--replicaof", f"127.0.0.1 {replicaof}"]
    else:
        cmd = [BINARY, "server", "--port", str(port),
               "--dir", d, "--loglevel", "warning"]
        if replicaof:
            cmd += ["--replicaof", f"127.0.0.1 {replicaof}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def connected_replicas(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "replication"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("connected_slaves:"):
            return int(line.split(":")[1])
    return 0


def info_field(port, section, name):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def full_sync_times(keys, rounds):
    from snapshot_vs_redis import load  # noqa: E402
    times = {}
    for rnd in range(rounds):
        for kind in (("shardcache", "redis") if rnd % 2 == 0 else ("redis", "shardcache")):
            primary, replica = free_port(), free_port()
            p = start(kind, primary)
            wait_port(primary)
            load(primary, keys)
            r = start(kind, replica)
            wait_port(replica)
            t0 = time.perf_counter()
            subprocess.run(["redis-cli", "-p", str(replica), "REPLICAOF", "127.0.0.1", str(primary)],
                           capture_output=True, check=True)
            while True:
                if (info_field(replica, "replication", "master_link_status") == "up"
                        and info_field(replica, "keyspace", "db0") is not None
                        and f"keys={keys}," in info_field(replica, "keyspace", "db0")):
                    break
                time.sleep(0.005)
            times.setdefault(kind, []).append(time.perf_counter() - t0)
            for x in (p, r):
                x.terminate()
                x.wait()
        print(f"round {rnd + 1}/{rounds} done", file=sys.stderr)
    o, t = statistics.median(times["shardcache"]), statistics.median(times["redis"])
    print(f"# full resync of {keys} keys, {rounds} rounds, medians")
    print(f"shardcache {o:.3f} s   redis {t:.3f} s   ratio {o / t:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=200_000)
    ap.add_argument("--requests-p16", type=int, default=1_000_000)
    ap.add_argument("--full-sync", type=int, default=0, metavar="KEYS")
    ap.add_argument("--binary", default=None,
                    help="the shardcache binary to run (an older build, for an A/B)")
    args = ap.parse_args()
    global BINARY
    if args.binary:
        BINARY = os.path.abspath(args.binary)
    elif not os.path.exists(BINARY):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    if args.full_sync:
        full_sync_times(args.full_sync, args.rounds)
        return
    procs = []
    targets = {}
    try:
        for kind in ("shardcache", "redis"):
            solo, primary, replica = free_port(), free_port(), free_port()
            p_solo, p_primary = start(kind, solo), start(kind, primary)
            procs += [p_solo, p_primary]
            wait_port(solo)
            wait_port(primary)
            p_replica = start(kind, replica, replicaof=primary)
            procs.append(p_replica)
            deadline = time.time() + 30
            while connected_replicas(primary) < 1:
                if time.time() > deadline:
                    sys.exit(f"{kind}: the replica never connected")
                time.sleep(0.1)
            targets[kind] = (solo, p_solo.pid, None)
            targets[kind + "+replica"] = (primary, p_primary.pid, p_replica.pid)
        names = list(targets)
        results = {}
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for pipeline in (1, 16):
                requests = args.requests_p1 if pipeline == 1 else args.requests_p16
                for name in order:
                    port, pid, replica_pid = targets[name]
                    before = cpu_seconds(pid)
                    before_replica = cpu_seconds(replica_pid) if replica_pid else 0
                    rows = run_benchmark(port, pipeline, requests)
                    cpu = (cpu_seconds(pid) - before) * 1e6 / (2 * requests)
                    # The replica applies only the SETs: its CPU per SET.
                    rcpu = ((cpu_seconds(replica_pid) - before_replica) * 1e6 / requests
                            if replica_pid else 0)
                    for test, r in rows.items():
                        results.setdefault((name, pipeline, test), []).append((r["rps"], cpu, rcpu))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
        print(f"# {args.rounds} rounds, redis-benchmark -t set,get -c 50 -d 32 -r 100000; medians")
        print(f"{'pipeline':>8} {'test':>4} {'ours solo':>11} {'ours+repl':>11} {'ours loss':>9} "
              f"{'redis solo':>11} {'redis+repl':>11} {'redis loss':>10} {'cpu us/op ours solo/repl':>25} "
              f"{'redis solo/repl':>16} {'replica cpu us/SET ours':>24} {'redis':>6}")
        for pipeline in (1, 16):
            for test in ("SET", "GET"):
                o, orp = results[("shardcache", pipeline, test)], results[("shardcache+replica", pipeline, test)]
                r, rrp = results[("redis", pipeline, test)], results[("redis+replica", pipeline, test)]
                ol = 1 - med(orp, 0) / med(o, 0)
                rl = 1 - med(rrp, 0) / med(r, 0)
                print(f"{pipeline:>8} {test:>4} {med(o, 0):>11,.0f} {med(orp, 0):>11,.0f} {ol:>9.1%} "
                      f"{med(r, 0):>11,.0f} {med(rrp, 0):>11,.0f} {rl:>10.1%} "
                      f"{med(o, 1):>12.2f} / {med(orp, 1):<10.2f} {med(r, 1):>7.2f} / {med(rrp, 1):<6.2f} "
                      f"{med(orp, 2):>24.2f} {med(rrp, 2):>6.2f}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
