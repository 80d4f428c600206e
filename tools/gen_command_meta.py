#!/usr/bin/env python3
"""Generates crates/server/src/command/meta.rs from a running redis-server.

COMMAND INFO and COMMAND DOCS must report real metadata (arity, flags, key positions, key
specs, ACL categories, docs) for the commands Shard-Cache implements, identical to Redis 7 so
cluster clients and redis-cli read them the same way. Redis keeps that metadata in JSON files
it compiles into its binary; we take it from a real server once and commit the result.
Only the commands (and subcommands) listed in IMPLEMENTED are emitted.

Usage: redis-server --port 16379 & python3 tools/gen_command_meta.py 16379 > crates/server/src/command/meta.rs
       python3 tools/gen_command_meta.py 16379 --acl > crates/acl/src/redis7.rs
"""
import socket
import sys

IMPLEMENTED = {
    # connection
    "ping": [], "echo": [], "hello": [], "auth": [], "select": [], "quit": [], "reset": [],
    "client": ["id", "setname", "getname", "list", "info", "kill", "setinfo", "no-evict", "reply", "pause", "unpause", "unblock", "help",
               "tracking", "caching", "getredir", "trackinginfo"],
    "command": ["count", "info", "docs", "list", "getkeys", "getkeysandflags", "help"],
    "acl": ["cat", "deluser", "dryrun", "genpass", "getuser", "list", "load", "log", "save", "setuser", "users", "whoami", "help"],
    # strings
    "get": [], "set": [], "setnx": [], "setex": [], "psetex": [], "mget": [], "mset": [], "msetnx": [],
    "getset": [], "getdel": [], "getex": [], "incr": [], "decr": [], "incrby": [], "decrby": [],
    "incrbyfloat": [], "append": [], "strlen": [], "getrange": [], "setrange": [], "substr": [], "lcs": [],
    # bitmaps
    "setbit": [], "getbit": [], "bitcount": [], "bitpos": [], "bitop": [], "bitfield": [], "bitfield_ro": [],
    # hyperloglog
    "pfadd": [], "pfcount": [], "pfmerge": [], "pfdebug": [], "pfselftest": [],
    # hashes
    "hset": [], "hsetnx": [], "hmset": [], "hget": [], "hmget": [], "hgetall": [], "hdel": [], "hexists": [],
    "hlen": [], "hkeys": [], "hvals": [], "hincrby": [], "hincrbyfloat": [], "hstrlen": [],
    "hrandfield": [], "hscan": [],
    # lists
    "lpush": [], "rpush": [], "lpushx": [], "rpushx": [], "lpop": [], "rpop": [], "llen": [],
    "lrange": [], "lindex": [], "lset": [], "ltrim": [], "linsert": [], "lrem": [], "lpos": [],
    "lmove": [], "rpoplpush": [], "blpop": [], "brpop": [], "blmove": [], "brpoplpush": [], "lmpop": [], "blmpop": [],
    # sets
    "sadd": [], "srem": [], "smembers": [], "sismember": [], "smismember": [], "scard": [],
    "sscan": [], "spop": [], "srandmember": [], "smove": [], "sinter": [], "sunion": [],
    "sdiff": [], "sinterstore": [], "sunionstore": [], "sdiffstore": [], "sintercard": [],
    # sorted sets
    "zadd": [], "zincrby": [], "zrem": [], "zremrangebyrank": [], "zremrangebyscore": [],
    "zremrangebylex": [], "zscore": [], "zmscore": [], "zcard": [], "zrank": [], "zrevrank": [],
    "zcount": [], "zlexcount": [], "zrange": [], "zrangestore": [], "zrevrange": [],
    "zrangebyscore": [], "zmpop": [], "bzmpop": [], "bzpopmin": [], "bzpopmax": [], "zrevrangebyscore": [], "zrangebylex": [], "zrevrangebylex": [],
    "zpopmin": [], "zpopmax": [], "zrandmember": [], "zscan": [], "zunionstore": [],
    "zinterstore": [], "zdiffstore": [], "zunion": [], "zinter": [], "zdiff": [], "zintercard": [],
    # scripting
    "eval": [], "evalsha": [], "eval_ro": [], "evalsha_ro": [],
    "script": ["load", "exists", "flush", "kill", "help", "debug"],
    "fcall": [], "fcall_ro": [], "lolwut": [],
    "function": ["load", "delete", "flush", "list", "dump", "restore", "stats", "kill", "help"],
    # transactions
    "multi": [], "exec": [], "discard": [], "watch": [], "unwatch": [],
    # pub/sub
    "subscribe": [], "unsubscribe": [], "psubscribe": [], "punsubscribe": [], "publish": [],
    "ssubscribe": [], "sunsubscribe": [], "spublish": [], "monitor": [], "debug": [],
    "pubsub": ["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"],
    # cluster
    "cluster": ["failover", "replicate", "replicas", "slaves", "info", "myid", "myshardid", "keyslot", "countkeysinslot", "getkeysinslot",
                "slots", "shards", "nodes", "links", "help", "meet", "forget",
                "setslot", "addslots", "addslotsrange", "delslots", "delslotsrange",
                "reset", "saveconfig", "bumpepoch", "flushslots", "count-failure-reports", "set-config-epoch"],
    "readonly": [], "readwrite": [], "asking": [],
    # streams
    "xadd": [], "xtrim": [], "xdel": [], "xsetid": [], "xrange": [], "xrevrange": [], "xlen": [],
    "xread": [], "xreadgroup": [], "xack": [], "xpending": [], "xclaim": [], "xautoclaim": [],
    "xgroup": ["create", "setid", "destroy", "createconsumer", "delconsumer", "help"],
    "xinfo": ["stream", "groups", "consumers", "help"],
    # geo
    "geoadd": [], "geopos": [], "geodist": [], "geohash": [], "georadius": [],
    "georadius_ro": [], "georadiusbymember": [], "georadiusbymember_ro": [],
    "geosearch": [], "geosearchstore": [],
    # replication
    "replicaof": [], "slaveof": [], "role": [], "replconf": [], "psync": [], "sync": [],
    "wait": [], "failover": [],
    "latency": ["latest", "history", "reset", "graph", "doctor", "histogram", "help"],
    # keys
    "del": [], "unlink": [], "exists": [], "touch": [], "type": [], "expire": [], "pexpire": [],
    "expireat": [], "pexpireat": [], "ttl": [], "pttl": [], "expiretime": [], "pexpiretime": [],
    "persist": [], "rename": [], "renamenx": [], "keys": [], "scan": [], "randomkey": [],
    "dbsize": [], "flushdb": [], "flushall": [], "copy": [], "dump": [], "restore": [],
    "restore-asking": [], "migrate": [], "save": [], "bgsave": [], "bgrewriteaof": [], "lastsave": [],
    "object": ["encoding", "freq", "idletime", "refcount", "help"], "swapdb": [], "move": [], "sort": [], "sort_ro": [],
    # server
    "info": [], "config": ["get", "set", "resetstat", "rewrite", "help"], "time": [],
    "memory": ["usage", "stats", "help", "doctor", "purge", "malloc-stats"], "slowlog": ["get", "len", "reset", "help"], "shutdown": [],
}


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t in (b"+",):
            return ("simple", rest.decode())
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        if t == b"~":
            return ("set", [self.read() for _ in range(int(rest))])
        if t == b"%":
            return ("map", [(self.read(), self.read()) for _ in range(int(rest))])
        if t == b"_":
            return None
        raise RuntimeError("unexpected " + repr(line))


def rs_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def meta(v, indent=0):
    """Renders a reply tree as a `Meta` expression."""
    if isinstance(v, tuple) and v[0] == "map":
        return "Meta::Map(&[" + ", ".join("(%s, %s)" % (rs_str(k), meta(x)) for k, x in v[1]) + "])"
    if isinstance(v, tuple) and v[0] == "set":
        return "Meta::Set(&[" + ", ".join(meta(x) for x in v[1]) + "])"
    if isinstance(v, tuple) and v[0] == "simple":
        return "Meta::Status(%s)" % rs_str(v[1])
    if isinstance(v, list):
        return "Meta::Array(&[" + ", ".join(meta(x) for x in v) + "])"
    if isinstance(v, int):
        return "Meta::Int(%d)" % v
    if v is None:
        return "Meta::Null"
    return "Meta::Str(%s)" % rs_str(v)


# Redis 7.2's arities where they differ from the 7.0 server this runs against (the node
# reports 7.2.0 and takes 7.2's additional arguments: ZRANK/ZREVRANK ... WITHSCORE).
ARITY_7_2 = {"zrank": -3, "zrevrank": -3}


def spec(info, docs, subs):
    name, arity, flags, first, last, step, acl, tips, keyspecs, subcmds = info
    arity = ARITY_7_2.get(name, arity)
    # Sets arrive as ("set", items); the subcommand list is a plain array when non-empty.
    def items(x):
        return x[1] if isinstance(x, tuple) else x
    flags, acl, tips, subcmds = items(flags), items(acl), items(tips), items(subcmds)
    sub_specs = []
    for s in subcmds:
        sub = s[0].split("|", 1)[1]
        if sub in subs:
            sub_specs.append(spec(s, dict(docs[1]).get("subcommands", ("map", []))[1] and dict(dict(docs[1])["subcommands"][1])[s[0]], []))
    docs_fields = [(k, v) for k, v in docs[1] if k != "subcommands"]
    return (
        "CommandMeta { name: %s, arity: %d, flags: &[%s], first_key: %d, last_key: %d, step: %d, "
        "acl_categories: &[%s], tips: &[%s], key_specs: %s, docs: %s, subcommands: &[%s] }"
        % (
            rs_str(name), arity, ", ".join(rs_str(f[1] if isinstance(f, tuple) else f) for f in flags),
            first, last, step,
            ", ".join(rs_str(a[1] if isinstance(a, tuple) else a) for a in acl),
            ", ".join(rs_str(t[1] if isinstance(t, tuple) else t) for t in tips),
            meta(keyspecs), meta(("map", docs_fields)), ", ".join(sub_specs),
        )
    )


def acl_table(c, version):
    """crates/acl/src/redis7.rs: every Redis command and subcommand with its ACL categories,
    whether it needs no authentication, and what its keys need (the union over its key
    specs of Redis's ACLSelectorCheckKey: `access` reads, `insert`/`delete`/`update` write)."""
    def items(x):
        return x[1] if isinstance(x, tuple) else x
    def plain(x):
        return x[1] if isinstance(x, tuple) else x
    def key_access(info):
        need = 0
        for spec_ in items(info[8]) or []:
            fields = dict(items(spec_))
            flags = {plain(f) for f in items(fields.get("flags", []))}
            if "access" in flags:
                need |= 1
            if flags & {"insert", "delete", "update"}:
                need |= 2
        return need
    def entry(info):
        flags = [plain(f) for f in items(info[2])]
        acl = [plain(a) for a in items(info[6])]
        return "    (%s, &[%s], %s, %d)," % (rs_str(info[0]), ", ".join(rs_str(a) for a in acl),
                                            "true" if "no_auth" in flags else "false", key_access(info))
    print("// @generated by tools/gen_command_meta.py --acl from redis-server %s. Do not edit by hand." % version)
    print("//! Redis 7's commands as ACL rules name them (a node's own table adds what it implements;")
    print("//! the proxy, which has none, checks its users against this one).\n")
    print("/// Name (`container|sub` for a subcommand), ACL categories, no_auth, and what the keys")
    print("/// need: bit 1 read ([`crate::KEY_READ`]), bit 2 write ([`crate::KEY_WRITE`]), 0 nothing.")
    print("pub static COMMANDS: &[(&str, &[&str], bool, u8)] = &[")
    for info in sorted(c.cmd("COMMAND", "INFO"), key=lambda i: i[0]):
        print(entry(info))
        for sub in sorted(items(info[9]) or [], key=lambda i: i[0]):
            print(entry(sub))
    print("];")


def main():
    port = int(sys.argv[1])
    c = Conn(port)
    c.cmd("HELLO", "3")
    version = dict(c.cmd("HELLO", "3")[1])["version"]
    if "--acl" in sys.argv:
        acl_table(c, version)
        return
    print("// @generated by tools/gen_command_meta.py from redis-server %s. Do not edit by hand." % version)
    print("//! Redis 7 metadata of the commands this node implements (COMMAND INFO / DOCS).")
    print("use super::spec::{CommandMeta, Meta};\n")
    print("pub static COMMANDS: &[CommandMeta] = &[")
    for name in sorted(IMPLEMENTED):
        info = c.cmd("COMMAND", "INFO", name)[0]
        docs = dict(c.cmd("COMMAND", "DOCS", name)[1])[name]
        print("    " + spec(info, docs, IMPLEMENTED[name]) + ",")
    print("];")

main()
