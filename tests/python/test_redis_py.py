"""redis-py against a shardcache node: the Python client most users will point at us.

The node is the real binary (SHARDCACHE_BIN, default target/debug/shardcache), started on a
free port by the fixture.
"""
import subprocess
import tempfile

import pytest
import redis

from helpers import BIN, free_port, wait_port


@pytest.fixture(scope="module")
def node():
    port = free_port()
    proc = subprocess.Popen([BIN, "server", "--dir", tempfile.mkdtemp(), "--port", str(port)], stderr=subprocess.DEVNULL)
    wait_port(port, proc)
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


def test_pubsub_channels_and_patterns(node):
    r = redis.Redis(port=node, decode_responses=True)
    p = r.pubsub()
    p.subscribe("chat")
    p.psubscribe("events.*")
    # Confirmations first.
    kinds = [p.get_message(timeout=2)["type"] for _ in range(2)]
    assert kinds == ["subscribe", "psubscribe"]
    assert r.publish("chat", "hi") == 1
    assert r.publish("events.login", "bob") == 1
    m1 = p.get_message(timeout=2)
    m2 = p.get_message(timeout=2)
    assert (m1["type"], m1["channel"], m1["data"]) == ("message", "chat", "hi")
    assert (m2["type"], m2["pattern"], m2["channel"], m2["data"]) == (
        "pmessage", "events.*", "events.login", "bob")
    assert r.pubsub_numsub("chat") == [("chat", 1)]
    assert r.pubsub_numpat() == 1
    p.close()


def test_transactions_and_blocking_pops(node):
    r = redis.Redis(port=node, decode_responses=True)
    r.delete("tx", "bq")
    with r.pipeline(transaction=True) as pipe:
        pipe.incr("tx").incr("tx").lpush("bq", "a")
        assert pipe.execute() == [1, 2, 1]
    assert r.blpop(["bq"], timeout=1) == ("bq", "a")
    assert r.blpop(["bq"], timeout=0.1) is None


def test_sorted_sets(node):
    r = redis.Redis(port=node, decode_responses=True)
    r.delete("board")
    r.zadd("board", {"ann": 30, "bob": 10, "cid": 20})
    assert r.zrange("board", 0, -1, withscores=True) == [("bob", 10.0), ("cid", 20.0), ("ann", 30.0)]
    assert r.zincrby("board", 15, "bob") == 25.0
    assert r.zrevrank("board", "bob") == 1
    assert r.zrangebyscore("board", 21, "+inf") == ["bob", "ann"]
    assert r.zpopmax("board") == [("ann", 30.0)]


@pytest.mark.parametrize("protocol", [2, 3])
def test_lock_is_exclusive_and_released_by_its_owner_only(node, protocol):
    """redis-py's Lock runs Lua scripts (release, extend, reacquire) through EVALSHA."""
    r = redis.Redis(port=node, protocol=protocol)
    r.delete("resource")
    lock = r.lock("resource", timeout=5, blocking_timeout=0.2)
    assert lock.acquire()
    other = r.lock("resource", timeout=5, blocking_timeout=0.2)
    assert not other.acquire()
    assert lock.extend(5)
    assert 5000 < r.pttl("resource") <= 10000
    assert lock.reacquire()
    assert 4000 < r.pttl("resource") <= 5000
    # A holder whose token is not the lock's cannot release or extend it (the scripts
    # compare tokens on the server).
    other.local.token = b"not-the-owner"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        other.release()
    other.local.token = b"not-the-owner"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        other.extend(5)
    other.local.token = None
    lock.release()
    assert other.acquire()
    other.release()
    assert r.exists("resource") == 0
    with r.lock("resource", timeout=2):
        assert r.exists("resource") == 1
    assert r.exists("resource") == 0


def test_script_objects_and_functions(node):
    """register_script caches by SHA1 (EVALSHA, falling back to EVAL after SCRIPT FLUSH);
    FUNCTION LOAD / FCALL through the client's own methods."""
    r = redis.Redis(port=node, decode_responses=True)
    r.delete("counter")
    bump = r.register_script(
        "local v = redis.call('incrby', KEYS[1], ARGV[1]) "
        "if v > tonumber(ARGV[2]) then return redis.error_reply('LIMIT reached') end "
        "return v"
    )
    assert bump(keys=["counter"], args=[5, 100]) == 5
    assert r.script_exists(bump.sha) == [True]
    r.script_flush()
    assert r.script_exists(bump.sha) == [False]
    assert bump(keys=["counter"], args=[5, 100]) == 10
    with pytest.raises(redis.ResponseError, match="LIMIT reached"):
        bump(keys=["counter"], args=[100, 100])
    with r.pipeline() as p:
        bump(keys=["counter"], args=[1, 1000], client=p)
        bump(keys=["counter"], args=[1, 1000], client=p)
        assert p.execute() == [111, 112]
    lib = (
        "#!lua name=pylib\n"
        "redis.register_function('hello', function(keys, args) return 'hello ' .. args[1] end)\n"
        "redis.register_function{function_name='peek', callback=function(keys) "
        "return redis.call('get', keys[1]) end, flags={'no-writes'}}"
    )
    assert r.function_load(lib, replace=True) == "pylib"
    assert r.fcall("hello", 0, "world") == "hello world"
    assert r.fcall_ro("peek", 1, "counter") == "112"
    assert [dict(zip(l[::2], l[1::2]))["library_name"] for l in r.function_list()] == ["pylib"]
    dump = redis.Redis(port=node).function_dump()
    assert r.function_delete("pylib")
    assert r.function_restore(dump)
    assert r.fcall("hello", 0, "again") == "hello again"
