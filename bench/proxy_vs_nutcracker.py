#!/usr/bin/env python3
"""Proxy throughput: `shardcache proxy` vs twemproxy (nutcracker), side by side.

Starts 3 redis-servers, then nutcracker and our proxy with the same nutcracker.yml pool
(fnv1a_64, ketama) over them, each on its own port. Each round runs
`redis-benchmark -t set,get -c 50 -d 32 -r 100000 -P <p>` through each proxy, alternating the
order (A B, then B A). Prints medians over rounds: ops/s, the ratio ours/nutcracker, p99
latency, and proxy CPU time per request (utime+stime of the proxy process).

Usage: python3 bench/proxy_vs_nutcracker.py [--rounds 3] [--requests-p1 200000]
       [--requests-p16 1000000]   (builds target/release/shardcache if missing)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from common import free_port, print_ratios, run_rounds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nutcracker_binary():
    for p in ("/usr/sbin/nutcracker", shutil.which("nutcracker") or ""):
        if p and os.path.exists(p):
            return p
    sys.exit("nutcracker not found: apt-get install nutcracker")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=200_000)
    ap.add_argument("--requests-p16", type=int, default=1_000_000)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)

    backend_ports = [free_port() for _ in range(3)]
    procs = []
    try:
        for p in backend_ports:
            procs.append(subprocess.Popen(
                ["redis-server", "--port", str(p), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL))
        for p in backend_ports:
            wait_port(p)
        ours_port, nc_port, nc_stats = free_port(), free_port(), free_port()
        servers = "".join(f"   - 127.0.0.1:{p}:1\n" for p in backend_ports)
        pool = ("  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n"
                "  timeout: 2000\n  servers:\n" + servers)
        conf_dir = tempfile.mkdtemp(prefix="sc-bench-proxy-")
        paths = {}
        for name, port in (("ours", ours_port), ("nutcracker", nc_port)):
            paths[name] = os.path.join(conf_dir, f"{name}.yml")
            with open(paths[name], "w") as f:
                f.write(f"bench:\n  listen: 127.0.0.1:{port}\n" + pool)
        ours = subprocess.Popen([binary, "proxy", "--config", paths["ours"]],
                                stderr=subprocess.DEVNULL)
        nc = subprocess.Popen([nutcracker_binary(), "-c", paths["nutcracker"], "-s", str(nc_stats),
                               "-o", os.path.join(conf_dir, "nc.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs += [ours, nc]
        wait_port(ours_port)
        wait_port(nc_port)
        targets = {"shardcache": (ours_port, [ours.pid]), "nutcracker": (nc_port, [nc.pid])}
        results = run_rounds(targets, args.rounds, args.requests_p1, args.requests_p16)
        print(f"# {args.rounds} rounds, redis-benchmark -t set,get -c 50 -d 32 -r 100000 through "
              "each proxy over the same 3 redis-servers (fnv1a_64 ketama)")
        print_ratios(results, "nutcracker", "nc")
        print("(cpu us/op: proxy utime+stime per SET+GET request, median of rounds)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
