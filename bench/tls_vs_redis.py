#!/usr/bin/env python3
"""TLS throughput and CPU per operation: a TLS-only shardcache node (rustls) vs a TLS-only
redis-server 7.0 (OpenSSL), side by side, same certificate (`shardcache certs`).

Each round runs `redis-benchmark --tls -t set,get -c 50 -d 32 -r 100000 -P <p>` against each
server, alternating the order; medians over rounds, the ratio ours/redis, p99, and server
CPU time per operation. Clients present no certificate (tls-auth-clients no on both).

Usage: python3 bench/tls_vs_redis.py [--rounds 3] [--requests-p1 200000] [--requests-p16 1000000]
"""
import argparse
import os
import subprocess
import tempfile

from common import free_port, print_ratios, run_rounds, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=200_000)
    ap.add_argument("--requests-p16", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=0, help="shardcache workers (0: its default)")
    args = ap.parse_args()

    binary = os.path.join(ROOT, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    subprocess.run([binary, "certs", "--dir", work], check=True, stdout=subprocess.DEVNULL)
    ca, cert, key = (os.path.join(work, f) for f in ("ca.crt", "shardcache.crt", "shardcache.key"))
    tls = ["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
           "--tls-auth-clients", "no"]
    ours_port, redis_port = free_port(), free_port()
    threads = ["--threads", str(args.threads)] if args.threads else []
    ours = subprocess.Popen([binary, "server", "--port", "0", "--tls-port", str(ours_port), "--dir", work] + tls + threads,
                            stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(redis_port), "--save", "",
                              "--appendonly", "no", "--dir", work] + tls, stdout=subprocess.DEVNULL)
    try:
        wait_port(ours_port)
        wait_port(redis_port)
        servers = {"shardcache": (ours_port, [ours.pid]), "redis": (redis_port, [redis.pid])}
        results = run_rounds(servers, args.rounds, args.requests_p1, args.requests_p16,
                             extra=("--tls", "--cacert", ca))
        print(f"# {args.rounds} rounds, redis-benchmark --tls -t set,get -c 50 -d 32 -r 100000; "
              f"shardcache threads={args.threads or 'default'} (rustls, ring); redis-server 7.0 (OpenSSL)")
        print_ratios(results, "redis", "redis")
        print("(cpu us/op: server utime+stime per SET+GET request over the whole run, median of rounds)")
    finally:
        ours.terminate()
        redis.terminate()
        ours.wait()
        redis.wait()


if __name__ == "__main__":
    main()
