"""The cluster-aware proxy with replicas (`shardcache dev --nodes 6 --replicas 1`): hedged
reads, quorum reads and write quorums.

Fault injected: a primary held with CLIENT PAUSE (a slow node) while reads of its keys go
through a hedging proxy.
"""
import signal
import subprocess
import time
import urllib.request

import pytest
import redis

from helpers import BIN, free_base, free_port, start_dev, wait_port


def metric(admin, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(f"shardcache_proxy_cluster_{name} "):
            return int(line.split()[1])
    raise AssertionError(name)


def start_proxy(base, *args):
    port, admin = free_port(), free_port()
    proc = subprocess.Popen(
        [BIN, "proxy", "--cluster", f"127.0.0.1:{base}", "--listen", f"127.0.0.1:{port}",
         "--admin-port", str(admin), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "proxy")
    return proc, port, admin


@pytest.fixture(scope="module")
def cluster():
    base = free_base(6)
    dev = start_dev(base, 6, "--replicas", "1", "--grpc-base-port", "0")
    yield base
    dev.send_signal(signal.SIGINT)
    dev.wait(timeout=30)


def primary_of(base, key):
    r = redis.Redis(port=base)
    slot = r.execute_command("CLUSTER KEYSLOT", key)
    for start, end, primary, *replicas in r.execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            assert replicas, "the shard has a replica"
            return primary[1]


def test_a_slow_primary_is_hedged_to_its_replica(cluster):
    proc, port, admin = start_proxy(cluster, "--hedge-after-ms", "50", "--hedge-ratio", "1.0")
    try:
        r = redis.Redis(port=port, decode_responses=True)
        r.set("hedged", "v")
        primary = redis.Redis(port=primary_of(cluster, "hedged"))
        assert primary.wait(1, 2000) == 1
        assert r.get("hedged") == "v"
        primary.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        started = time.time()
        assert r.get("hedged") == "v"
        took = time.time() - started
        assert took < 1.0, took
        assert metric(admin, "hedged_reads_total") >= 1
        assert metric(admin, "hedge_wins_total") >= 1
        time.sleep(1.6)
        # Fast reads are not hedged.
        before = metric(admin, "hedged_reads_total")
        for _ in range(50):
            assert r.get("hedged") == "v"
        assert metric(admin, "hedged_reads_total") == before
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_quorum_reads_and_write_quorums(cluster):
    proc, port, admin = start_proxy(cluster, "--read-quorum", "2", "--write-quorum", "2")
    try:
        r = redis.Redis(port=port, decode_responses=True)
        for i in range(50):
            assert r.set(f"q:{i}", i)
        # Acknowledged by a replica before the reply: the replica has it.
        key = "q:7"
        slot = redis.Redis(port=cluster).execute_command("CLUSTER KEYSLOT", key)
        replicas = [rep[1] for s, e, _, *reps in redis.Redis(port=cluster).execute_command("CLUSTER SLOTS")
                    if s <= slot <= e for rep in reps]
        replica = redis.Redis(port=replicas[0])
        replica.execute_command("READONLY")
        assert replica.get(key) == b"7"
        for i in range(50):
            assert r.get(f"q:{i}") == str(i)
        assert metric(admin, "quorum_reads_total") >= 50
        assert metric(admin, "quorum_divergent_total") == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    # A quorum the cluster cannot meet (one replica per shard): NOREPLICAS, counted.
    proc, port, admin = start_proxy(cluster, "--write-quorum", "3", "--write-quorum-timeout-ms", "200")
    try:
        r = redis.Redis(port=port)
        with pytest.raises(redis.ResponseError, match="Not enough good replicas"):
            r.set("q:x", 1)
        assert metric(admin, "write_quorum_failures_total") == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
