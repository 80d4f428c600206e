"""redis-py over TLS to a TLS-only, ACL-protected node (`--port 0 --tls-port`, `--user`):
mutual TLS with `ssl=True`, an ACL user's limits, and certificates rotated with SIGHUP
(new connections get the new certificate, the open one keeps working).

Certificates come from `shardcache certs` (a throwaway CA).
"""
import os
import signal
import ssl
import subprocess
import tempfile
import time

import pytest
import redis

from helpers import BIN, free_port, wait_port


def certs(directory):
    subprocess.run([BIN, "certs", "--dir", directory], check=True, stdout=subprocess.DEVNULL)
    return {
        "ca": os.path.join(directory, "ca.crt"),
        "cert": os.path.join(directory, "shardcache.crt"),
        "key": os.path.join(directory, "shardcache.key"),
    }


def client(port, files, **kw):
    return redis.Redis(port=port, ssl=True, ssl_ca_certs=files["ca"], ssl_certfile=files["cert"],
                       ssl_keyfile=files["key"], decode_responses=True, **kw)


@pytest.fixture
def node():
    work = tempfile.mkdtemp()
    files = certs(os.path.join(work, "tls"))
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "server", "--dir", work, "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", files["cert"], "--tls-key-file", files["key"],
         "--tls-ca-cert-file", files["ca"], "--requirepass", "adminpw",
         "--user", "app on >apppw ~app:* +@all -@dangerous"],
        stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    yield port, files, work, proc
    proc.terminate()
    assert proc.wait(timeout=15) == 0


def test_redis_py_mutual_tls_with_acl_users(node):
    port, files, _, _ = node
    admin = client(port, files, password="adminpw")
    assert admin.ping()
    admin.set("k", "v")
    app = client(port, files, username="app", password="apppw")
    assert app.set("app:1", "x")
    assert app.get("app:1") == "x"
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.get("k")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.flushall()
    assert app.acl_whoami() == "app"
    with app.pipeline(transaction=True) as p:
        p.incr("app:n").incr("app:n")
        assert p.execute() == [1, 2]
    # No client certificate: refused (tls-auth-clients yes, Redis's default).
    bare = redis.Redis(port=port, ssl=True, ssl_ca_certs=files["ca"], password="adminpw",
                       socket_timeout=5)
    with pytest.raises((redis.exceptions.ConnectionError, ssl.SSLError)):
        bare.ping()


def test_certificates_rotate_on_sighup(node):
    port, files, work, proc = node
    before = client(port, files, password="adminpw")
    assert before.set("before", "1")
    # A new CA and certificate in the same files; the node reads them on SIGHUP.
    old_ca = open(files["ca"]).read()
    certs(os.path.join(work, "tls"))
    assert open(files["ca"]).read() != old_ca
    os.kill(proc.pid, signal.SIGHUP)
    time.sleep(0.3)
    after = client(port, files, password="adminpw")
    assert after.get("before") == "1"
    # The connection made before the rotation goes on.
    assert before.get("before") == "1"
    # A client that still trusts only the old CA is refused the new certificate.
    stale_ca = os.path.join(work, "old-ca.crt")
    with open(stale_ca, "w") as f:
        f.write(old_ca)
    stale = redis.Redis(port=port, ssl=True, ssl_ca_certs=stale_ca, ssl_certfile=files["cert"],
                        ssl_keyfile=files["key"], password="adminpw", socket_timeout=5)
    with pytest.raises((redis.exceptions.ConnectionError, ssl.SSLError)):
        stale.ping()


def test_proxy_serves_clients_over_tls():
    work = tempfile.mkdtemp()
    files = certs(os.path.join(work, "tls"))
    backend_port, proxy_port = free_port(), free_port()
    backend = subprocess.Popen(["redis-server", "--port", str(backend_port), "--save", "", "--dir", work],
                               stdout=subprocess.DEVNULL)
    proxy = None
    try:
        wait_port(backend_port, backend, "redis-server")
        proxy = subprocess.Popen(
            [BIN, "proxy", "--backends", f"redis://127.0.0.1:{backend_port}", "--listen",
             f"127.0.0.1:{proxy_port}", "--tls-cert-file", files["cert"], "--tls-key-file", files["key"]],
            stderr=subprocess.DEVNULL)
        wait_port(proxy_port, proxy, "shardcache proxy")
        r = redis.Redis(port=proxy_port, ssl=True, ssl_ca_certs=files["ca"], decode_responses=True)
        assert r.set("via-proxy", "1")
        assert r.get("via-proxy") == "1"
        assert redis.Redis(port=backend_port, decode_responses=True).get("via-proxy") == "1"
        # Plaintext to the TLS listener gets no Redis reply.
        plain = redis.Redis(port=proxy_port, socket_timeout=3)
        with pytest.raises(redis.exceptions.RedisError):
            plain.ping()
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait(timeout=15)
        backend.terminate()
        backend.wait(timeout=15)


def test_proxy_reaches_tls_backends_with_and_without_client_certificates(node):
    """`rediss://` backends: the proxy checks the server against the CA and presents its own
    certificate when the backend asks for one (the node above requires it)."""
    port, files, _, _ = node
    listen = free_port()
    url = f"rediss://:adminpw@127.0.0.1:{port}"
    # Without a CA the proxy refuses to start, saying what it needs.
    out = subprocess.run([BIN, "proxy", "--backends", url, "--listen", f"127.0.0.1:{listen}"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "--backend-tls-ca-cert-file" in out.stderr
    proxy = subprocess.Popen(
        [BIN, "proxy", "--backends", url, "--listen", f"127.0.0.1:{listen}",
         "--backend-tls-ca-cert-file", files["ca"], "--backend-tls-cert-file", files["cert"],
         "--backend-tls-key-file", files["key"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy)
        r = redis.Redis(port=listen, decode_responses=True)
        assert r.set("through-tls", "yes")
        assert r.mget("through-tls", "nope") == ["yes", None]
        assert client(port, files, password="adminpw").get("through-tls") == "yes"
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
    # A backend that wants a client certificate and gets none: errors, not a hang.
    proxy = subprocess.Popen(
        [BIN, "proxy", "--backends", url, "--listen", f"127.0.0.1:{listen}",
         "--backend-tls-ca-cert-file", files["ca"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy)
        r = redis.Redis(port=listen, socket_timeout=10)
        with pytest.raises(redis.RedisError):
            r.get("through-tls")
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)


def test_gateway_caches_on_tls_shards():
    """The gateway's ring over `rediss://` shards (`--backend-tls-ca-cert-file`), against a
    node that asks no client certificate."""
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b"hello"
            self.send_response(200)
            self.send_header("Cache-Control", "max-age=60")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    files = certs(os.path.join(work, "tls"))
    port, listen = free_port(), free_port()
    node = subprocess.Popen(
        [BIN, "server", "--dir", work, "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", files["cert"], "--tls-key-file", files["key"],
         "--tls-auth-clients", "no"], stderr=subprocess.DEVNULL)
    wait_port(port, node)
    gw = subprocess.Popen(
        [BIN, "gateway", "--listen", f"127.0.0.1:{listen}", "--upstream",
         f"http://127.0.0.1:{api.server_address[1]}", "--shards", f"rediss://127.0.0.1:{port}",
         "--backend-tls-ca-cert-file", files["ca"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, gw)
        for want in ("MISS", "HIT"):
            with urllib.request.urlopen(f"http://127.0.0.1:{listen}/x") as resp:
                assert resp.headers["X-Cache"] == want and resp.read() == b"hello"
        r = redis.Redis(port=port, ssl=True, ssl_ca_certs=files["ca"])
        assert r.exists("gw:GET /x")
    finally:
        gw.terminate()
        gw.wait(timeout=15)
        node.terminate()
        node.wait(timeout=15)
        api.shutdown()


def test_cluster_proxy_reaches_a_tls_cluster():
    """`shardcache proxy --cluster rediss://...` against `shardcache dev --tls`: the map, the
    redirects and every node over TLS (the nodes announce their TLS ports to TLS clients)."""
    from helpers import free_base, start_dev
    base = free_base(3)
    work = tempfile.mkdtemp()
    dev = start_dev(base, 3, "--tls", "--dir", work, "--grpc-base-port", "0")
    listen = free_port()
    proxy = subprocess.Popen(
        [BIN, "proxy", "--cluster", f"rediss://127.0.0.1:{base + 2000}", "--listen",
         f"127.0.0.1:{listen}", "--backend-tls-ca-cert-file", os.path.join(work, "tls", "ca.crt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy)
        r = redis.Redis(port=listen, decode_responses=True)
        keys = {f"tls:{i}": str(i) for i in range(300)}
        assert r.mset(keys)
        assert r.mget(list(keys)) == list(keys.values())
        # Spread over the three nodes, as a plain node port shows.
        sizes = [redis.Redis(port=base + i).dbsize() for i in range(3)]
        assert all(s > 50 for s in sizes), sizes
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
