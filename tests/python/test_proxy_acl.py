"""ACL users on the proxy (`--user`), both modes — over real redis-servers (twemproxy
placement) and in front of a `shardcache dev` cluster — checked differentially: the same
users are created on a real redis-server with ACL SETUSER, the same commands are sent to it
and through the proxy as each user, and the replies (successes and NOPERM/WRONGPASS/NOAUTH
refusals) must match.
"""
import signal
import subprocess
import tempfile

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from helpers import BIN, free_base, free_port, start_dev, wait_port

USERS = [
    "app on >apppw ~app:* +@read +@write -@dangerous",
    "reader on >r %R~* +@read",
    "writer on >w %W~app:* +set +del",
]

# (user, command): every one is sent as that user to both sides.
SCRIPT = [
    ("app", ["SET", "app:1", "v"]),
    ("app", ["GET", "app:1"]),
    ("app", ["GET", "other"]),
    ("app", ["MGET", "app:1", "app:2"]),
    ("app", ["MSET", "app:1", "a", "other", "b"]),
    ("app", ["DEL", "other"]),
    ("app", ["INCR", "app:n"]),
    ("app", ["FLUSHALL"]),
    ("app", ["CONFIG", "GET", "maxmemory"]),
    ("app", ["KEYS", "*"]),
    ("app", ["ACL", "WHOAMI"]),
    ("reader", ["GET", "app:1"]),
    ("reader", ["SET", "app:1", "x"]),
    ("reader", ["INCR", "app:n"]),
    ("reader", ["EXISTS", "app:1", "zzz"]),
    ("writer", ["SET", "app:2", "w"]),
    ("writer", ["GET", "app:2"]),
    ("writer", ["SET", "other", "w"]),
    ("writer", ["DEL", "app:2"]),
    ("default", ["GET", "app:1"]),
    ("default", ["ACL", "WHOAMI"]),
]

# A refused AUTH is a ConnectionError to redis-py, which it would retry with backoff.
NO_RETRY = Retry(NoBackoff(), 0)

PASSWORDS = {"app": "apppw", "reader": "r", "writer": "w", "default": "adminpw"}


def reply(conn, args):
    try:
        return conn.execute_command(*args)
    except redis.RedisError as e:  # NOAUTH arrives as AuthenticationError
        return type(e).__name__ + ":" + str(e)


def run_script(port):
    """Each step as its user on a fresh RESP2 connection; the replies in order."""
    out = []
    for user, args in SCRIPT:
        c = redis.Redis(port=port, username=user, password=PASSWORDS[user], protocol=2,
                        decode_responses=True, retry=NO_RETRY)
        out.append(reply(c, args))
        c.close()
    return out


def refusals_before_auth(port):
    # No CLIENT SETINFO on connect: unauthenticated, it would be refused.
    c = redis.Redis(port=port, protocol=2, decode_responses=True, retry=NO_RETRY,
                    driver_info=None)
    out = [reply(c, ["GET", "app:1"]), reply(c, ["AUTH", "app", "wrong"]),
           reply(c, ["AUTH", "nobody", "x"]), reply(c, ["AUTH", "app", "apppw"]),
           reply(c, ["GET", "app:1"]), reply(c, ["HELLO", "2", "AUTH", "reader", "nope"])]
    c.close()
    return out


@pytest.fixture(scope="module")
def reference():
    """A real redis-server with the same users (its default user's password: adminpw)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--requirepass", "adminpw", "--dir", tempfile.mkdtemp()],
                            stdout=subprocess.DEVNULL)
    wait_port(port, proc, "redis-server")
    admin = redis.Redis(port=port, password="adminpw")
    for line in USERS:
        name, *rules = line.split()
        admin.execute_command("ACL", "SETUSER", name, *rules)
    yield port
    proc.kill()
    proc.wait()


def check_against(reference, port):
    assert run_script(port) == run_script(reference)
    assert refusals_before_auth(port) == refusals_before_auth(reference)


def user_args():
    return [a for line in USERS for a in ("--user", line)]


def test_proxy_users_over_redis_servers_answer_as_redis(reference):
    work = tempfile.mkdtemp()
    servers, urls = [], []
    for _ in range(2):
        port = free_port()
        servers.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", work],
            stdout=subprocess.DEVNULL))
        wait_port(port, servers[-1], "redis-server")
        urls.append(f"redis://127.0.0.1:{port}")
    listen, admin = free_port(), free_port()
    proxy = subprocess.Popen([BIN, "proxy", "--listen", f"127.0.0.1:{listen}", "--backends", ",".join(urls),
                              "--requirepass", "adminpw", "--admin-port", str(admin), *user_args()],
                             stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy, "proxy")
        # The stock redis-server's KEYS sees one server; the proxy's every backend: clear
        # both first so the replies compare.
        redis.Redis(port=reference, password="adminpw").flushall()
        check_against(reference, listen)
        # RESP3 with HELLO AUTH, as redis-py's defaults do.
        r3 = redis.Redis(port=listen, username="app", password="apppw", protocol=3)
        assert r3.get("app:1") == b"v"
        check_admin(admin)
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
        for s in servers:
            s.kill()
            s.wait()


def check_admin(port):
    """The admin API takes the proxy's users (Basic): reading for any user; a clear only of
    keys the user may UNLINK; a reload only for a user that may CONFIG SET."""
    import base64
    import json
    import urllib.error
    import urllib.request

    def call(path, user=None, password=None, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        req.add_header("X-Shardcache-Admin", "1")
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    assert call("/api/proxy/backends")[0] == 401
    assert call("/api/proxy/backends", "app", "wrong")[0] == 401
    assert call("/api/proxy/backends", "app", "apppw")[0] == 200
    assert call("/api/cache/clear?pattern=other:*", "app", "apppw", "POST")[0] == 403
    status, body = call("/api/cache/clear?pattern=app:*", "app", "apppw", "POST")
    assert status == 200 and body["cleared"] >= 1, body
    assert call("/api/proxy/reload", "app", "apppw", "POST")[0] == 403
    # The default user may; without --config there is nothing to reload (400, not 403).
    assert call("/api/proxy/reload", "default", "adminpw", "POST")[0] == 400


def test_cluster_proxy_users_answer_as_redis(reference):
    base = free_base(3)
    dev = start_dev(base, 3, "--grpc-base-port", "0")
    listen = free_port()
    proxy = subprocess.Popen([BIN, "proxy", "--cluster", f"127.0.0.1:{base}", "--listen",
                              f"127.0.0.1:{listen}", "--requirepass", "adminpw", *user_args()],
                             stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy, "proxy")
        redis.Redis(port=reference, password="adminpw").flushall()
        check_against(reference, listen)
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)


def test_bad_user_rules_stop_the_proxy_with_redis_words():
    listen = free_port()
    out = subprocess.run([BIN, "proxy", "--listen", f"127.0.0.1:{listen}", "--backends",
                          "redis://127.0.0.1:1", "--user", "app on +nosuchcommand"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "nosuchcommand" in out.stderr, out.stderr
