"""Helpers shared by the benchmark scripts: ports, process memory and CPU, loading,
redis-benchmark runs and the ratio table."""
import contextlib
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_benchmark(port, pipeline, requests, pin=False, cluster=False, extra=()):
    """`redis-benchmark -t set,get -c 50 -d 32 -r 100000` (with --cluster if asked, and any
    `extra` options such as --tls): SET and GET ops/s and p99 ms."""
    prefix = ["taskset", "-c", "0"] if pin else []
    out = subprocess.run(
        prefix + ["redis-benchmark", *(["--cluster"] if cluster else []), "-p", str(port),
                  "-t", "set,get", "-c", "50", "-d", "32", "-r", "100000", "-n", str(requests),
                  "-P", str(pipeline), "--csv", *extra],
        capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if row and row[0] in ("SET", "GET"):
            rows[row[0]] = {"rps": float(row[1]), "p99": float(row[6])}
    if len(rows) != 2:
        sys.exit(f"unexpected redis-benchmark output: {out}")
    return rows


def run_rounds(targets, rounds, requests_p1, requests_p16, pin=False, cluster=False, extra=()):
    """Runs `run_benchmark` against every target at pipeline 1 and 16 for `rounds` rounds,
    alternating which goes first (A B, then B A) so drift on a shared machine hits both.
    `targets` maps a name to (port, [server pids]); the CPU of those pids is charged per
    request. Returns {(name, pipeline, test): [(ops/s, p99 ms, cpu us/op) per round]}."""
    names = list(targets)
    results = {}
    for rnd in range(rounds):
        order = names if rnd % 2 == 0 else names[::-1]
        for pipeline in (1, 16):
            requests = requests_p1 if pipeline == 1 else requests_p16
            for name in order:
                port, pids = targets[name]
                before = sum(cpu_seconds(p) for p in pids)
                rows = run_benchmark(port, pipeline, requests, pin=pin, cluster=cluster, extra=extra)
                cpu_per_op = (sum(cpu_seconds(p) for p in pids) - before) * 1e6 / (2 * requests)
                for test, r in rows.items():
                    results.setdefault((name, pipeline, test), []).append(
                        (r["rps"], r["p99"], cpu_per_op))
        print(f"round {rnd + 1}/{rounds} done", file=sys.stderr)
    return results


def print_ratios(results, theirs, their_label):
    """The table of medians: ours ("shardcache") vs `theirs`, per pipeline depth and test.
    `results[(name, pipeline, test)]` is a list of (ops/s, p99 ms, cpu us/op) per round."""
    print(f"{'pipeline':>8} {'test':>4} {'shardcache ops/s':>17} {their_label + ' ops/s':>17} "
          f"{'ratio':>6} {'p99 ours':>9} {'p99 ' + their_label:>10} {'cpu us/op ours':>15} "
          f"{their_label:>10}")
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    for pipeline in (1, 16):
        for test in ("SET", "GET"):
            o = results[("shardcache", pipeline, test)]
            t = results[(theirs, pipeline, test)]
            print(f"{pipeline:>8} {test:>4} {med(o, 0):>17,.0f} {med(t, 0):>17,.0f} "
                  f"{med(o, 0) / med(t, 0):>6.2f} {med(o, 1):>9.3f} {med(t, 1):>10.3f} "
                  f"{med(o, 2):>15.2f} {med(t, 2):>10.2f}")


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


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def bench_command(port, pipeline, requests, command):
    """`redis-benchmark -c 50 -r 100000 -P <pipeline> --csv <command>`: ops/s."""
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", "50", "-r", "100000", "-n", str(requests),
         "-P", str(pipeline), "--csv", *command],
        capture_output=True, text=True, check=True).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
    if not rows:
        sys.exit(f"unexpected redis-benchmark output: {out}")
    return float(rows[0][1])


def command_rounds(procs, ports, commands, rounds, requests_p1, requests_p16):
    """Runs every (label, command) against every server at pipeline 1 and 16 for `rounds`
    rounds, alternating which server goes first, and prints the table of medians: ops/s,
    ratio ours/redis and server CPU per command (`procs` and `ports` are keyed
    "shardcache" and "redis")."""
    results = {}
    names = list(ports)
    for rnd in range(rounds):
        for pipeline in (1, 16):
            requests = requests_p1 if pipeline == 1 else requests_p16
            for label, command in commands:
                for name in (names if rnd % 2 == 0 else names[::-1]):
                    pid = procs[name].pid
                    before = cpu_seconds(pid)
                    rps = bench_command(ports[name], pipeline, requests, command)
                    cpu = (cpu_seconds(pid) - before) * 1e6 / requests
                    results.setdefault((name, pipeline, label), []).append((rps, cpu))
        print(f"round {rnd + 1}/{rounds} done", file=sys.stderr)
    print(f"# {rounds} rounds, redis-benchmark -c 50 -r 100000 <command>; medians")
    print(f"{'pipeline':>8} {'command':>9} {'ours ops/s':>12} {'redis ops/s':>12} "
          f"{'ratio':>6} {'cpu us/op ours':>15} {'redis':>7}")
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    for pipeline in (1, 16):
        for label, _ in commands:
            o = results[("shardcache", pipeline, label)]
            t = results[("redis", pipeline, label)]
            print(f"{pipeline:>8} {label:>9} {med(o, 0):>12,.0f} {med(t, 0):>12,.0f} "
                  f"{med(o, 0) / med(t, 0):>6.2f} {med(o, 1):>15.2f} {med(t, 1):>7.2f}")


@contextlib.contextmanager
def node_and_redis(root):
    """A fresh shardcache node (built in release if missing) and a redis-server without
    persistence, both on free ports and answering, stopped on exit: (procs, ports), keyed
    "shardcache" and "redis"."""
    binary = os.path.join(root, "target", "release", "shardcache")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-p", "shardcache"], cwd=root, check=True)
    ports = {"shardcache": free_port(), "redis": free_port()}
    procs = {
        "shardcache": subprocess.Popen([binary, "server", "--port", str(ports["shardcache"])],
                                       stderr=subprocess.DEVNULL),
        "redis": subprocess.Popen(["redis-server", "--port", str(ports["redis"]), "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL),
    }
    try:
        for p in ports.values():
            wait_port(p)
        yield procs, ports
    finally:
        for p in procs.values():
            p.terminate()
            p.wait()
