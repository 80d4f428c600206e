#!/usr/bin/env python3
"""Grammar-driven differential fuzzing: random commands built from redis-server's own COMMAND
DOCS argument grammar, sent to a Shard-Cache node and to redis-server side by side, replies
compared byte for byte (after parsing). A compatibility check to run by hand, not part of CI:
it finds the error paths and option combinations the hand-written generators in
`crates/server/tests/it/differential.rs` do not reach; what it finds becomes curated cases
there.

Each command comes from the documented arguments of one command (or subcommand): every
optional part present or not, `oneof` picking one branch, `multiple` repeating, tokens
spelled in random case; values drawn from small pools (a few keys of every type, members
that collide, numbers at the edges, malformed ones) and, now and then, one argument dropped,
added or replaced by junk. Commands that block, administer the server, change its
configuration or answer nondeterministically are left out; replies that Redis orders
arbitrarily are compared sorted. After a mismatch both servers are reset to the same data.

Usage: python3 tools/grammar_fuzz.py [--seed 1] [--commands 20000] [--resp 2|3]
       [--only zadd,zrange] [--bin target/release/shardcache] [--show 40]
"""
import argparse
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import free_port, wait_port  # noqa: E402

# Left out: blocking, server administration and configuration, connection state, pub/sub,
# replication and cluster, scripts (their own fuzzing), commands whose reply is random or
# time-dependent by design, and the ones the node refuses on purpose (one database).
SKIP_COMMANDS = {
    "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
    "xread", "xreadgroup", "wait", "waitaof", "shutdown", "debug", "monitor", "sync", "psync",
    "replicaof", "slaveof", "failover", "cluster", "module", "save", "bgsave", "bgrewriteaof",
    "config", "client", "acl", "auth", "hello", "reset", "quit", "select", "swapdb", "move",
    "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    "publish", "spublish", "pubsub", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall",
    "fcall_ro", "script", "function", "multi", "exec", "discard", "watch", "unwatch",
    "migrate", "restore-asking", "asking", "readonly", "readwrite", "replconf", "latency",
    "slowlog", "info", "memory", "lastsave", "time", "randomkey", "flushall",
    "flushdb", "command", "lolwut", "object", "dump", "restore", "role", "pfselftest",
    "keys", "scan", "srandmember", "spop", "hrandfield", "zrandmember",
    "xautoclaim", "xclaim", "xinfo", "xpending", "xadd",
}
# Subcommands of skipped containers that are safe and deterministic.
ALLOWED_SUBCOMMANDS = {"config|get", "object|encoding", "object|freq", "object|refcount",
                       "object|help", "xinfo|groups", "xinfo|help", "xgroup|help",
                       "config|help", "memory|help", "client|help", "command|count",
                       "command|getkeys", "command|getkeysandflags", "command|help",
                       "command|info", "command|docs"}
KEYS = {
    "string": ["s1", "s2", "n1"], "hash": ["h1", "h2"], "list": ["l1", "l2"],
    "set": ["t1", "t2", "i1"], "zset": ["z1", "z2"], "stream": ["x1"], "hll": ["p1"],
    "geo": ["g1"], "none": ["nokey", "nokey2"],
}
ALL_KEYS = [k for ks in KEYS.values() for k in ks]
# Replies that depend on when a relative deadline was set (the servers get each command a
# moment apart): compared within 2 units.
TIMED = {"pexpiretime", "pttl", "expiretime", "ttl"}
# Arguments that set a time to live.
TTL_ARGS = {"seconds", "milliseconds", "unix-time-seconds", "unix-time-milliseconds"}
# Orders Redis leaves to its hash table's seed (SORT's ties under ALPHA and BY).
UNORDERED = {"sort", "sort_ro", "config|get"}
# Known and intended: MODULE is not implemented (COMMAND COUNT, and COMMAND INFO/DOCS with no
# names list every command).
KNOWN = {"command|count", "command|info", "command|docs"}
# Values that differ by environment (port, dir, bind, databases): compared by hand instead.
VALUES_DIFFER = {"config|get"}
STRINGS = ["a", "b", "c", "m1", "m2", "f1", "f2", "", "hello", "0", "1", "-1", "3.5", "x" * 70,
           "*", "v"]
INTEGERS = ["0", "1", "2", "-1", "-2", "3", "10", "100", "-100", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808", "1.5", "x", ""]
DOUBLES = ["0", "1", "-1", "1.5", "-2.5", "inf", "-inf", "+inf", "nan", "1e3", "x", "(1",
           "", "0x10"]
JUNK = ["junk", "", "-1", "99999999999999999999", "(", "[", "+", "-", "NX", "COUNT"]


def setup_commands():
    """The data both servers start from (and go back to after a mismatch)."""
    return [
        ["FLUSHALL"],
        ["SET", "s1", "hello"], ["SET", "s2", "a\x00b" * 3], ["SET", "n1", "10"],
        ["HSET", "h1", "f1", "1", "f2", "v", "a", "3.5"],
        ["HSET", "h2", "f1", "x" * 70, "b", "2"],
        ["RPUSH", "l1", "a", "b", "c", "a", "1"], ["RPUSH", "l2", "x" * 70, "b"],
        ["SADD", "t1", "a", "b", "c"], ["SADD", "t2", "b", "c", "d", "x" * 70],
        ["SADD", "i1", "1", "2", "3"],
        ["ZADD", "z1", "1", "a", "2", "b", "3", "c", "3", "m1"],
        ["ZADD", "z2", "-1", "b", "5", "c", "inf", "x"],
        ["XADD", "x1", "1-1", "f", "v"], ["XADD", "x1", "2-1", "f", "w", "g", "z"],
        ["PFADD", "p1", "a", "b", "c"],
        ["GEOADD", "g1", "13.361389", "38.115556", "a", "15.087269", "37.502669", "b"],
    ]


class Conn:
    def __init__(self, port, resp):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(10)
        self.f = self.s.makefile("rb")
        if resp == 3:
            self.call(["HELLO", "3"])

    def call(self, args):
        out = bytearray(b"*%d\r\n" % len(args))
        for a in args:
            a = a.encode("latin-1") if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("closed")
        t, rest = line[:1], line[1:-2]
        if t in b"+-:(,#":
            return (t.decode(), rest)
        if t == b"_":
            return ("_", None)
        if t in b"$=!":
            n = int(rest)
            if n < 0:
                return ("$", None)
            data = self.f.read(n + 2)[:-2]
            return (t.decode(), data)
        if t in b"*~>":
            n = int(rest)
            if n < 0:
                return ("*", None)
            return (t.decode(), [self.read() for _ in range(n)])
        if t == b"%":
            n = int(rest)
            return ("%", [(self.read(), self.read()) for _ in range(n)])
        if t == b"|":
            n = int(rest)
            [(self.read(), self.read()) for _ in range(n)]
            return self.read()
        raise ValueError(f"bad reply line {line!r}")


def canonical(reply, unordered):
    """Sorted where Redis's order is arbitrary (sets, maps)."""
    t, v = reply
    if t in ("*", "~", ">") and v is not None:
        items = [canonical(x, unordered) for x in v]
        if unordered or t == "~":
            items.sort(key=repr)
        return (t, items)
    if t == "%":
        items = [(canonical(a, unordered), canonical(b, unordered)) for a, b in v]
        items.sort(key=repr)
        return (t, items)
    return reply


class Generator:
    def __init__(self, rng, docs):
        self.rng = rng
        self.docs = docs

    def token(self, tok):
        r = self.rng.random()
        return tok.lower() if r < 0.3 else tok.upper() if r < 0.9 else tok.title()

    def value(self, arg):
        rng = self.rng
        t = arg.get("type")
        if arg.get("name") in TTL_ARGS:
            # Long enough not to expire between the two servers' copies of a command, and no
            # deadline in the past: such a key lives until each server's active expiry
            # happens to reach it, which makes their states differ for a while.
            if arg["name"].startswith("unix-time"):
                ms = arg["name"].endswith("milliseconds")
                return rng.choice([str((int(time.time()) + 100000) * (1000 if ms else 1)),
                                   "x", "9223372036854775807"])
            return rng.choice(["100000", "1000000", "0", "-1", "x", "9223372036854775807"])
        if t == "key":
            return rng.choice(ALL_KEYS)
        if t == "integer":
            return rng.choice(INTEGERS)
        if t == "double":
            return rng.choice(DOUBLES)
        if t == "unix-time":
            return rng.choice([str(int(time.time()) + 100), "0", "-1", "x"])
        if t == "pattern":
            return rng.choice(["*", "k*", "?1", "[sh]1", "f*"])
        if t == "pure-token":
            return self.token(arg["token"])
        return rng.choice(STRINGS + ["1-1", "2-1", "0", "$", "+", "-", "0-1"])

    def emit(self, arg, out):
        rng = self.rng
        flags = arg.get("flags", [])
        if "optional" in flags and rng.random() < 0.55:
            return
        reps = 1
        if "multiple" in flags:
            reps = rng.choice([1, 1, 2, 3])
        for i in range(reps):
            if arg.get("token") and arg["type"] != "pure-token" and (
                    i == 0 or "multiple_token" in flags):
                out.append(self.token(arg["token"]))
            t = arg.get("type")
            if t == "oneof":
                self.emit_required(rng.choice(arg["arguments"]), out)
            elif t == "block":
                for sub in arg["arguments"]:
                    self.emit(sub, out)
            else:
                out.append(self.value(arg))

    def emit_required(self, arg, out):
        arg = dict(arg)
        arg["flags"] = [f for f in arg.get("flags", []) if f != "optional"]
        self.emit(arg, out)

    def command(self, name):
        words = name.split("|")
        out = [self.token(w.upper()) for w in words]
        for arg in self.docs[name]:
            self.emit(arg, out)
        r = self.rng.random()
        if r < 0.06 and len(out) > len(words):
            del out[self.rng.randrange(len(words), len(out))]
        elif r < 0.12:
            out.insert(self.rng.randrange(len(words), len(out) + 1), self.rng.choice(JUNK))
        elif r < 0.16 and len(out) > len(words):
            out[self.rng.randrange(len(words), len(out))] = self.rng.choice(JUNK)
        return out


def pairs(reply):
    """COMMAND DOCS reply (RESP2 flat pairs) as a dict."""
    t, v = reply
    if t == "%":
        return {a[1].decode(): b for a, b in v}
    return {v[i][1].decode(): v[i + 1] for i in range(0, len(v), 2)}


def plain(reply):
    t, v = reply
    if t in ("*", "~"):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def argument_specs(reply):
    specs = []
    for item in reply[1]:
        d = pairs(item)
        spec = {k: plain(v) for k, v in d.items() if k != "arguments"}
        if "arguments" in d:
            spec["arguments"] = argument_specs(d["arguments"])
        specs.append(spec)
    return specs


def load_docs(conn, ours):
    """name (or container|sub) -> argument specs, for commands both servers list."""
    docs = {}
    reply = conn.call(["COMMAND", "DOCS"])
    entries = reply[1]
    flat = entries if reply[0] == "*" else [x for kv in entries for x in kv]
    for i in range(0, len(flat), 2):
        name = flat[i][1].decode()
        d = pairs(flat[i + 1])
        subs = d.get("subcommands")
        if subs:
            sd = subs[1] if subs[0] == "*" else [x for kv in subs[1] for x in kv]
            for j in range(0, len(sd), 2):
                sub = sd[j][1].decode()
                sdoc = pairs(sd[j + 1])
                if sub in ours:
                    docs[sub] = argument_specs(sdoc["arguments"]) if "arguments" in sdoc else []
        elif name in ours:
            docs[name] = argument_specs(d["arguments"]) if "arguments" in d else []
    return docs


def tips_of(conn):
    """name -> set of tips (nondeterministic_output[_order])."""
    tips = {}
    for info in conn.call(["COMMAND"])[1]:
        fields = info[1]
        name = fields[0][1].decode()
        tips[name] = {x[1].decode() for x in fields[7][1]}
        for sub in fields[9][1] or []:
            tips[sub[1][0][1].decode()] = {x[1].decode() for x in sub[1][7][1]}
    return tips


def our_names(conn):
    names = set()
    for info in conn.call(["COMMAND"])[1]:
        fields = info[1]
        names.add(fields[0][1].decode())
        for sub in fields[9][1] or []:
            names.add(sub[1][0][1].decode())
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--commands", type=int, default=20000)
    ap.add_argument("--resp", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "shardcache"))
    ap.add_argument("--show", type=int, default=40)
    ap.add_argument("--dump", help="write the commands since the last reset before the first "
                    "mismatch to this file, one repr()'d argument list per line")
    ap.add_argument("--multi", type=float, default=0.05,
                    help="share of draws that are a MULTI ... EXEC of 1-4 commands")
    ap.add_argument("--no-digest", action="store_true",
                    help="do not compare DEBUG DIGEST after every command (faster, but a "
                         "command that changes data differently is only seen when read)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    p_ours, p_redis = free_port(), free_port()
    procs = [
        subprocess.Popen([args.bin, "server", "--port", str(p_ours), "--compat-version",
                          "7.0.15"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["redis-server", "--port", str(p_redis), "--save", "",
                          "--appendonly", "no", "--enable-debug-command", "yes"],
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]
    try:
        wait_port(p_ours)
        wait_port(p_redis)
        ours, theirs = Conn(p_ours, args.resp), Conn(p_redis, args.resp)
        docs = load_docs(Conn(p_redis, 2), our_names(Conn(p_ours, 2)))
        tips = tips_of(Conn(p_redis, 2))
        names = sorted(n for n in docs
                       if n.split("|")[0] not in SKIP_COMMANDS or n in ALLOWED_SUBCOMMANDS)
        if args.only:
            names = [n for n in names if n.split("|")[0] in args.only.split(",")]
        gen = Generator(rng, docs)

        def reset():
            for c in setup_commands():
                ours.call(c)
                theirs.call(c)

        reset()
        mismatches = []
        per_command = Counter()
        history = []  # commands since the last reset
        # Commands whose replies compare exactly, for transactions.
        exact = [n for n in names if not tips.get(n) and n not in UNORDERED | KNOWN |
                 VALUES_DIFFER | TIMED | {"copy"}]  # COPY ... DB n: one database
        for _ in range(args.commands):
            if rng.random() < args.multi:
                # MULTI, a few commands (queued, or refused while queued), EXEC or DISCARD:
                # every reply compared, EXEC's array included.
                name = "multi"
                cmds = [["MULTI"]] + [gen.command(rng.choice(exact))
                                      for _ in range(rng.randint(1, 4))]
                cmds.append([rng.choice(["EXEC"] * 9 + ["DISCARD"])])
                history.extend(cmds)
                a = ("txn", [ours.call(c) for c in cmds])
                b = ("txn", [theirs.call(c) for c in cmds])
                cmd = [" | ".join(" ".join(c) for c in cmds)]
            else:
                name = rng.choice(names)
                cmd = gen.command(name)
                history.append(cmd)
                a, b = ours.call(cmd), theirs.call(cmd)
            if name in UNORDERED and any(x.lower() == "by" for x in cmd):
                # SORT ... BY: ties keep Redis's hash-table order (its seed), which LIMIT and
                # STORE then expose.
                reset()
                history = []
                continue
            t = tips.get(name, set())
            if name == "multi":
                same = a == b
            elif "nondeterministic_output" in t or name in VALUES_DIFFER:
                same = (a[0] == "-") == (b[0] == "-")
            else:
                unordered = "nondeterministic_output_order" in t or name in UNORDERED
                same = canonical(a, unordered) == canonical(b, unordered)
            if not same and a == ("-", b"ERR DB index is out of range") and b[0] != "-":
                reset()  # one database on purpose (MOVE, COPY ... DB n)
                continue
            if not same and name in KNOWN and len(cmd) <= 2:
                same = True
            if not same and name in TIMED and a[0] == b[0] == ":":
                same = abs(int(a[1]) - int(b[1])) <= 2  # deadlines set a moment apart
            if same and not args.no_digest:
                da, db = ours.call(["DEBUG", "DIGEST"]), theirs.call(["DEBUG", "DIGEST"])
                if da != db:
                    same = False
                    a, b = ("digest after", a, da), ("digest after", b, db)
            if not same:
                per_command[name] += 1
                if args.dump and not mismatches:
                    with open(args.dump, "w") as f:
                        f.writelines(repr(c) + "\n" for c in history)
                mismatches.append((cmd, a, b, history[-8:-1]))
                reset()
                history = []
        print(f"# {args.commands} commands over {len(names)} commands and subcommands, "
              f"seed {args.seed}, RESP{args.resp}: {len(mismatches)} mismatches")
        for name, n in per_command.most_common():
            print(f"{n:6} {name}")
        show = lambda cmd: " ".join(repr(x) if (" " in x or not x) else x for x in cmd)  # noqa
        for cmd, a, b, before in mismatches[:args.show]:
            for c in before:
                print("   ", show(c))
            print("---", show(cmd))
            print("  ours: ", repr(a)[:300])
            print("  redis:", repr(b)[:300])
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
