"""redis-py through `shardcache proxy`, with the client's default settings (redis-py 8 speaks
RESP3 and authenticates with HELLO 3 AUTH): the proxy's shared backend connections speak
RESP2, so it reshapes replies for RESP3 clients as Redis would (maps, sets, doubles, nulls).
Both protocols are run, against two shardcache nodes as backends.
"""
import subprocess
import tempfile

import pytest
import redis

from helpers import BIN, free_port, wait_port


@pytest.fixture(scope="module")
def proxy():
    procs = []
    backends = []
    for _ in range(2):
        port = free_port()
        p = subprocess.Popen([BIN, "server", "--dir", tempfile.mkdtemp(), "--port", str(port), "--threads", "1"],
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_port(port, p)
        backends.append(f"redis://127.0.0.1:{port}")
    listen = free_port()
    p = subprocess.Popen([BIN, "proxy", "--listen", f"127.0.0.1:{listen}",
                          "--backends", ",".join(backends), "--requirepass", "pw"],
                         stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_port(listen, p)
    yield listen
    for p in procs:
        p.kill()
        p.wait()


def test_default_client_settings_work(proxy):
    # redis-py 8's defaults (RESP3, HELLO 3 AUTH) and its RESP3 reply shapes (scripts/test.sh
    # installs redis-py 8; an older one's defaults differ).
    if int(redis.__version__.split(".")[0]) < 8:
        pytest.skip("checks redis-py 8's defaults")
    r = redis.Redis(port=proxy, password="pw")
    assert r.ping()
    assert r.connection_pool.get_connection().get_protocol() in (3, "3")
    assert r.set("user:1", "ann")
    assert r.get("user:1") == b"ann"
    assert r.get("missing") is None
    assert r.mget(["user:1", "missing", "user:1"]) == [b"ann", None, b"ann"]
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    r.sadd("s", "x", "y")
    assert r.smembers("s") == {b"x", b"y"}
    r.zadd("z", {"m": 1.5, "n": 3})
    assert r.zscore("z", "m") == 1.5
    assert r.zscore("z", "nope") is None
    assert r.zincrby("z", 1, "m") == 2.5
    assert r.zpopmin("z") == [(b"m", 2.5)]
    assert r.incr("counter") == 1
    assert r.expire("user:1", 100)
    assert 0 < r.ttl("user:1") <= 100
    pipe = r.pipeline(transaction=False)
    pipe.set("p1", 1).get("p1").hgetall("h").delete("p1")
    assert pipe.execute() == [True, b"1", {b"a": b"1", b"b": b"2"}, 1]
    assert r.dbsize() >= 4


@pytest.fixture(scope="module")
def real_redis():
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--requirepass", "pw",
                          "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_port(port, p)
    yield port
    p.kill()
    p.wait()


def workload(r):
    """Commands whose RESP3 replies differ in shape from RESP2, and what redis-py makes of
    them; run against the proxy and a real redis-server, the results must be equal."""
    r.flushall()
    out = []
    r.mset({"a": "1", "b": "2"})
    out.append(r.mget(["a", "nope", "b"]))
    r.hset("hh", mapping={"f": "v", "g": "w"})
    out.append(r.hgetall("hh"))
    out.append(sorted(r.hrandfield("hh", 5, withvalues=True)))
    r.zadd("zz", {"one": 1, "two": 2.5, "three": 3})
    out.append(r.zrange("zz", 0, -1, withscores=True))
    out.append(r.zrevrange("zz", 0, 1, withscores=True))
    out.append(r.zrangebyscore("zz", 1, 2.5, withscores=True))
    out.append(r.zscore("zz", "two"))
    out.append(r.zscore("zz", "nope"))
    out.append(r.zmscore("zz", ["one", "nope"]))
    out.append(r.zincrby("zz", 0.5, "one"))
    out.append(r.zadd("zz", {"one": 1}, incr=True))
    out.append(r.zrank("zz", "two"))
    out.append(r.zpopmin("zz"))
    out.append(r.zpopmax("zz", 2))
    r.sadd("ss", "a", "b")
    out.append(r.smembers("ss"))
    out.append(r.sismember("ss", "a"))
    out.append(r.incrbyfloat("fl", 1.5))
    out.append(r.lpos("nolist", "x"))
    out.append(r.get("nope"))
    out.append(r.ttl("a"))
    return out


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_match_a_real_redis(proxy, real_redis, protocol):
    def client(port):
        return redis.Redis(port=port, password="pw", protocol=protocol, decode_responses=True)
    assert workload(client(proxy)) == workload(client(real_redis))


def test_wrong_password_is_refused(proxy):
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=proxy, password="nope").ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=proxy, password="nope", protocol=2).ping()


@pytest.mark.parametrize("protocol", [2, 3])
def test_locks_and_scripts_through_the_proxy(proxy, protocol):
    """redis-py's Lock and Script objects: EVALSHA goes to the key's backend; after NOSCRIPT,
    redis-py's SCRIPT LOAD reaches every backend through the proxy."""
    r = redis.Redis(port=proxy, password="pw", protocol=protocol)
    r.script_flush()
    lock = r.lock(f"resource:{protocol}", timeout=5, blocking_timeout=0.2)
    assert lock.acquire()
    assert not r.lock(f"resource:{protocol}", timeout=5, blocking_timeout=0.1).acquire()
    assert lock.extend(5)
    lock.release()
    bump = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    keys = [f"counter:{protocol}:{i}" for i in range(20)]  # spread over both backends
    for k in keys:
        assert bump(keys=[k], args=[3]) == 3
    assert r.script_exists(bump.sha) == [True]
    r.script_flush()
    assert r.script_exists(bump.sha) == [False]
    assert bump(keys=[keys[0]], args=[1]) == 4


def test_object_and_memory_route_by_their_key(proxy):
    """OBJECT ENCODING key / MEMORY USAGE key: the key is argument 2 (not the subcommand)."""
    r = redis.Redis(port=proxy, password="pw", protocol=2)
    for i in range(40):
        r.set(f"enc:{i}", "12345")
        assert r.object("encoding", f"enc:{i}") == b"int"
        assert r.memory_usage(f"enc:{i}") > 0
