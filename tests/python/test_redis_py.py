"""redis-py against a shardcache node: the Python client most users will point at us.

The node is the real binary (SHARDCACHE_BIN, default target/debug/shardcache), started on a
free port by the fixture.
"""
import os
import socket
import subprocess
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHARDCACHE_BIN", os.path.join(ROOT, "target", "debug", "shardcache"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def node():
    port = free_port()
    proc = subprocess.Popen([BIN, "server", "--port", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError("shardcache did not start")
            time.sleep(0.02)
    yield port
    proc.terminate()
    assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize("protocol", [2, 3])
def test_strings_and_ttl(node, protocol):
    r = redis.Redis(port=node, protocol=protocol, decode_responses=True)
    r.flushall()
    assert r.ping()
    assert r.set("user:1", "ada", ex=100)
    assert r.get("user:1") == "ada"
    assert 99 <= r.ttl("user:1") <= 100
    assert r.set("user:1", "bob", nx=True) is None
    assert r.set("user:1", "bob", xx=True, get=True) == "ada"
    assert r.incr("hits") == 1
    assert r.incrbyfloat("score", 10.5) == 10.5
    assert r.mget("user:1", "missing", "hits") == ["bob", None, "1"]
    assert r.getex("user:1", persist=True) == "bob"
    assert r.ttl("user:1") == -1
    assert r.delete("user:1", "hits", "nope") == 2
    assert r.exists("score") == 1


def test_pipeline_and_scan_iter(node):
    r = redis.Redis(port=node, decode_responses=True)
    r.flushall()
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set(f"item:{i}", i)
        p.get("item:499")
        results = p.execute()
    assert results[-1] == "499"
    assert sorted(r.scan_iter(match="item:4??", count=37)) == sorted(f"item:{i}" for i in range(400, 500))
    assert r.dbsize() == 500


def test_errors_become_exceptions(node):
    r = redis.Redis(port=node, decode_responses=True)
    r.set("text", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("text")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("NOSUCHCOMMAND")


def test_client_identity_and_info(node):
    r = redis.Redis(port=node, decode_responses=True, client_name="py-test")
    assert r.client_getname() == "py-test"
    me = r.client_info()
    assert me["name"] == "py-test"
    info = r.info()
    assert info["redis_version"]
    assert info["role"] == "master"
    assert "used_memory" in r.info("memory")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert isinstance(r.command_count(), int)


@pytest.mark.parametrize("protocol", [2, 3])
def test_hashes_lists_sets(node, protocol):
    r = redis.Redis(port=node, protocol=protocol, decode_responses=True)
    r.flushall()
    assert r.hset("user:1", mapping={"name": "ada", "visits": "1"}) == 2
    assert r.hincrby("user:1", "visits", 2) == 3
    assert r.hgetall("user:1") == {"name": "ada", "visits": "3"}
    assert r.hmget("user:1", ["name", "nope"]) == ["ada", None]
    assert r.rpush("queue", "a", "b", "c") == 3
    assert r.lpop("queue") == "a"
    assert r.lrange("queue", 0, -1) == ["b", "c"]
    assert r.lmove("queue", "done", "LEFT", "RIGHT") == "b"
    assert r.sadd("tags", "x", "y", "z") == 3
    assert r.smembers("tags") == {"x", "y", "z"}
    assert r.sinter("tags", "nope") == set()
    assert r.type("user:1") == "hash" and r.type("queue") == "list" and r.type("tags") == "set"
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.get("user:1")
    assert sorted(r.hscan_iter("user:1")) == [("name", "ada"), ("visits", "3")]
