"""redis-py's built-in client-side cache (RESP3 CLIENT TRACKING) against a node and against a
`shardcache dev` cluster: a read is served from the cache after the first, and a write from
another client invalidates it. redis-py enables its cache only for servers reporting Redis
7.4 or later, so the nodes run with `--compat-version 7.4.0`; without it redis-py refuses.
"""
import subprocess
import tempfile
import time

import pytest
import redis
from redis.cache import CacheConfig
from redis.cluster import RedisCluster

from helpers import BIN, free_port, wait_port
from test_redis_cluster import free_base, start_dev


def get_calls(port):
    stats = redis.Redis(port=port).info("commandstats")
    return stats.get("cmdstat_get", {}).get("calls", 0)


@pytest.fixture(scope="module")
def node74():
    port = free_port()
    proc = subprocess.Popen([BIN, "server", "--dir", tempfile.mkdtemp(), "--port", str(port), "--compat-version", "7.4.0"],
                            stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    yield port
    proc.terminate()
    assert proc.wait(timeout=15) == 0


def test_reads_come_from_the_cache_until_another_client_writes(node74):
    writer = redis.Redis(port=node74, decode_responses=True)
    writer.set("profile:1", "ada")
    cached = redis.Redis(port=node74, protocol=3, decode_responses=True,
                         cache_config=CacheConfig())
    before = get_calls(node74)
    for _ in range(50):
        assert cached.get("profile:1") == "ada"
    assert get_calls(node74) - before == 1, "only the first read reaches the server"
    writer.set("profile:1", "bob")
    # The invalidation reaches the cached connection on its own, a moment after the writer's
    # reply (below as well): cached reads in a tight loop can all come before it.
    for _ in range(50):
        if cached.get("profile:1") == "bob":
            break
        time.sleep(0.01)
    assert cached.get("profile:1") == "bob"
    assert get_calls(node74) - before == 2, "one more read after the invalidation"
    # FLUSHALL invalidates everything a client tracks, reaching the cached connection the
    # same way.
    writer.flushall()
    for _ in range(50):
        if cached.get("profile:1") is None:
            break
        time.sleep(0.01)
    assert cached.get("profile:1") is None


def test_redis_py_refuses_its_cache_below_7_4():
    port = free_port()
    proc = subprocess.Popen([BIN, "server", "--dir", tempfile.mkdtemp(), "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        r = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
        with pytest.raises(redis.ConnectionError, match="7.4"):
            r.get("x")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_cluster_reads_come_from_the_cache():
    base = free_base(3)
    proc = start_dev(base, 3, "--", "--compat-version", "7.4.0")
    try:
        writer = RedisCluster(host="127.0.0.1", port=base, decode_responses=True)
        cached = RedisCluster(host="127.0.0.1", port=base, protocol=3, decode_responses=True,
                              cache_config=CacheConfig())
        keys = [f"user:{i}" for i in range(30)]
        for k in keys:
            writer.set(k, k.upper())
        before = sum(get_calls(base + i) for i in range(3))
        for _ in range(5):
            for k in keys:
                assert cached.get(k) == k.upper()
        assert sum(get_calls(base + i) for i in range(3)) - before == len(keys)
        writer.set("user:7", "changed")
        for _ in range(100):
            if cached.get("user:7") == "changed":
                break
        assert cached.get("user:7") == "changed"
    finally:
        proc.send_signal(2)
        proc.wait(timeout=20)
