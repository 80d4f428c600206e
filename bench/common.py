"""Helpers shared by the benchmark scripts: ports, process memory, loading."""
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listening on {port}")


def rss(pid):
    """Resident set size of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_growth_of_load(cmd, port, protocol_path, replies, settle=1.0, expect_keys=None):
    """Starts a server with `cmd`, loads `protocol_path` with `redis-cli --pipe` (expecting
    `replies` replies and no error, and `expect_keys` keys if given), and returns the growth
    of its resident set in bytes."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(0.5)
        before = rss(proc.pid)
        with open(protocol_path, "rb") as f:
            out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f,
                                 capture_output=True, text=True, check=True).stdout
        if f"errors: 0, replies: {replies}" not in out:
            sys.exit(f"load failed: {out}")
        time.sleep(settle)
        if expect_keys is not None:
            dbsize = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                                    text=True).stdout.strip()
            if dbsize != str(expect_keys):
                sys.exit(f"expected {expect_keys} keys, found {dbsize}")
        return rss(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
