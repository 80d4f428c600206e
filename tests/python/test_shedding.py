"""Load shedding on the RESP port: --max-concurrent-requests and the CPU guard
(--cpu-shed-threshold over --cpu-shed-window). Refused commands get -BUSY at once; health
and admin commands always run; the node recovers when the load goes.

Fault injected: overload (a pipeline deeper than the bound; redis-benchmark driving the
process's CPU over a deliberately low threshold).
"""
import subprocess
import tempfile
import time
import urllib.request

import pytest
import redis

from helpers import BIN, free_port, wait_port


def start(*args):
    port, admin = free_port(), free_port()
    proc = subprocess.Popen([BIN, "server", "--port", str(port), "--admin-port", str(admin),
                             "--threads", "1", "--dir", tempfile.mkdtemp(), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port, admin


def shed_total(admin):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith('shardcache_shed_requests_total{door="resp"}'):
            return int(line.split()[1])
    raise AssertionError("no shed metric")


def test_in_flight_bound_refuses_the_excess_of_a_batch_and_recovers():
    proc, port, admin = start("--max-concurrent-requests", "5")
    try:
        r = redis.Redis(port=port)
        r.set("k", "v")
        p = r.pipeline(transaction=False)
        for _ in range(20):
            p.get("k")
        results = p.execute(raise_on_error=False)
        ok = [x for x in results if x == b"v"]
        refused = [x for x in results if isinstance(x, redis.ResponseError)]
        assert len(ok) == 5 and len(refused) == 15, results
        assert "shedding load" in str(refused[0])
        # Health and admin commands are never shed.
        p = r.pipeline(transaction=False)
        for _ in range(20):
            p.ping()
        assert all(x is True for x in p.execute())
        assert r.get("k") == b"v"
        assert shed_total(admin) == 15
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_cpu_guard_trips_under_load_and_recovers():
    proc, port, admin = start("--cpu-shed-threshold", "0.05", "--cpu-shed-window", "1s")
    try:
        r = redis.Redis(port=port)
        r.set("k", "v")
        load = subprocess.Popen(["redis-benchmark", "-p", str(port), "-t", "set,get", "-n", "2000000",
                                 "-P", "16", "-q", "-c", "20"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        refused = False
        deadline = time.time() + 20
        try:
            while time.time() < deadline and not refused:
                try:
                    r.get("k")
                except redis.ResponseError as e:
                    assert "CPU" in str(e)
                    refused = True
                time.sleep(0.05)
            assert refused, "the CPU guard never tripped"
            assert r.ping() and r.info("server")["tcp_port"] == port
        finally:
            load.kill()
            load.wait()
        deadline = time.time() + 10
        while True:
            try:
                assert r.get("k") == b"v"
                break
            except redis.ResponseError:
                assert time.time() < deadline, "never recovered"
                time.sleep(0.1)
        assert shed_total(admin) > 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
