"""redis-py's RedisCluster against `shardcache dev`: discovery, routing, MOVED after a node joins.

The cluster is the real binary (SHARDCACHE_BIN, default target/debug/shardcache).
"""
import os
import subprocess
import tempfile
import time

import pytest
import redis
from redis.cluster import LoadBalancingStrategy, RedisCluster

from helpers import BIN, cluster_settled as cluster_ok, free_base, start_dev, wait_for



@pytest.fixture(scope="module")
def dev():
    base = free_base(4)
    proc = start_dev(base, 3)
    yield base
    proc.send_signal(2)
    assert proc.wait(timeout=20) == 0


def test_routes_20k_keys_and_follows_moved_after_a_join(dev):
    rc = RedisCluster(host="127.0.0.1", port=dev, decode_responses=True)
    assert len(rc.get_primaries()) == 3
    n = 20000
    for i in range(n):
        assert rc.set(f"key:{i}", i)
    for i in range(n):
        assert rc.get(f"key:{i}") == str(i)
    sizes = [redis.Redis(port=dev + i).dbsize() for i in range(3)]
    assert sum(sizes) == n
    assert all(abs(s - n / 3) < 600 for s in sizes), sizes
    # Hash tags keep related keys on one node; multi-key commands need them.
    assert rc.mset({"{u1}.name": "ann", "{u1}.mail": "a@x"})
    assert rc.mget("{u1}.name", "{u1}.mail") == ["ann", "a@x"]

    # A fourth node joins; the same client follows MOVED; the moved slots took their keys.
    # Its port is picked now (base + 3 could have been taken meanwhile) and its files go
    # to a directory of its own.
    port4 = free_base(1)
    fourth = subprocess.Popen(
        [BIN, "server", "--cluster-enabled", "--threads", "1", "--port", str(port4),
         "--dir", tempfile.mkdtemp(), "--join", f"127.0.0.1:{dev}", "--loglevel", "warning"],
        stderr=subprocess.DEVNULL)
    try:
        ports = [dev, dev + 1, dev + 2, port4]
        wait_for("four nodes", lambda: all(cluster_ok(p, 4) for p in ports))
        for i in range(n):
            assert rc.get(f"key:{i}") == str(i)
        assert 0.20 <= redis.Redis(port=port4).dbsize() / n <= 0.30
        for i in range(0, n, 5):
            assert rc.set(f"key:{i}", -i)
            assert rc.get(f"key:{i}") == str(-i)
        assert redis.Redis(port=port4).dbsize() > 0
    finally:
        fourth.terminate()
        fourth.wait(timeout=15)


def test_keeps_working_through_a_failover_with_reads_from_replicas():
    """`dev --nodes 6 --replicas 1`: redis-py reads from replicas (READONLY), a primary is
    SIGKILLed, and the client's retries (it refreshes the topology on connection errors)
    carry its writes and reads over to the promoted replica; nothing acknowledged is lost."""
    base = free_base(7)
    proc = start_dev(base, 6, "--replicas", "1", stdin=subprocess.PIPE)
    try:
        rc = RedisCluster(host="127.0.0.1", port=base, decode_responses=True,
                          load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN)
        assert len(rc.get_primaries()) == 3
        assert len(rc.get_replicas()) == 3
        for i in range(2000):
            assert rc.set(f"fo:{i}", i)
        # Every replica has what its primary acknowledged.
        for p in rc.get_primaries():
            assert rc.execute_command("WAIT", 1, 2000, target_nodes=p) == 1
        assert all(rc.get(f"fo:{i}") == str(i) for i in range(0, 2000, 7))
        # A replica answers a read itself once the client said READONLY.
        replica = rc.get_replicas()[0]
        r = redis.Redis(host=replica.host, port=replica.port, decode_responses=True)
        r.execute_command("READONLY")
        cache = rc.nodes_manager.slots_cache
        mine = [i for i in range(2000)
                if replica.name in [n.name for n in cache[rc.keyslot(f"fo:{i}")][1:]]]
        assert mine
        assert all(r.get(f"fo:{i}") == str(i) for i in mine)
        # Kill the primary of fo:0.
        victim = rc.get_node_from_key("fo:0", replica=False)
        out = subprocess.run(["pgrep", "-f", "--", f"--cluster-enabled --port {victim.port} "],
                             capture_output=True, text=True).stdout.split()
        os.kill(int(out[0]), 9)
        deadline = time.time() + 20
        while True:
            try:
                assert rc.set("fo:0", "after")
                break
            except redis.exceptions.RedisError:
                assert time.time() < deadline, "writes never resumed"
                time.sleep(0.1)
        wait_for("reads of every key", lambda: all(
            rc.get(f"fo:{i}") == str(i) for i in range(1, 2000)), timeout=20)
        assert rc.get("fo:0") == "after"
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=30) == 0
