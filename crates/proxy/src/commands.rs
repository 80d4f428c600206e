//! How the proxy handles each command: by the key's backend, split across backends, sent to
//! every backend, answered locally, or refused with the reason.

/// What to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forward to the backend of the key at argument 1.
    Key,
    /// Keys from argument 1 on, split per backend: MGET (array in order).
    MGet,
    /// Keys from argument 1 on, split per backend, integer replies summed.
    SumKeys,
    /// Key/value pairs from argument 1 on, split per backend (MSET).
    MSet,
    /// Several keys that must all live on one backend (the command cannot be split).
    SameBackend(KeySpec),
    /// Sent to every backend, replies combined.
    Broadcast(Combine),
    /// SCAN with a cursor that names the backend.
    Scan,
    /// Answered by the proxy itself.
    Local,
    /// Refused, with the reason.
    Refused(&'static str),
}

/// Where the keys of a [`Route::SameBackend`] command are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// Arguments `first..` (every one).
    From(usize),
    /// Arguments 1 and 2.
    Two,
    /// The key after a subcommand: argument 2 (OBJECT ENCODING key, MEMORY USAGE key).
    AfterSubcommand,
    /// Every other argument from 1 (MSETNX).
    Pairs,
    /// A destination at 1, then `numkeys` at 2 and that many keys (ZUNIONSTORE, ...).
    DestNumkeys,
    /// `numkeys` at 1 and that many keys (ZUNION, SINTERCARD, ...).
    Numkeys,
    /// A script or function at 1, `numkeys` at 2 and that many keys (EVAL, FCALL, ...): the
    /// script runs on the keys' backend, which must be one (twemproxy routes by the first key
    /// and lets the others fall where they may; a script would miss them).
    Script,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Arrays concatenated (KEYS).
    Concat,
    /// Integers summed (DBSIZE).
    Sum,
    /// +OK when every backend said OK (FLUSHALL, FLUSHDB).
    AllOk,
    /// INFO: the backends' keyspace summed.
    Info,
    /// SCRIPT LOAD / EXISTS / FLUSH: every backend holds the script cache (a script runs on
    /// its keys' backend): LOAD answers the SHA1 they agree on, EXISTS 1 where every backend
    /// has the script, FLUSH OK.
    Script,
}

pub(crate) const TRANSACTIONS: &str = "transactions (MULTI/EXEC/WATCH) are not supported through the proxy: the keys may live on different backends";
pub(crate) const BLOCKING: &str = "blocking commands are not supported through the proxy: they would hold a shared backend connection";
pub(crate) const PUBSUB: &str =
    "pub/sub is not supported through the proxy: subscribe to a backend directly";

/// The route of a command (lowercase name).
pub fn route(name: &str) -> Option<Route> {
    use Route::*;
    Some(match name {
        // Strings.
        "get" | "set" | "setnx" | "setex" | "psetex" | "getset" | "getdel" | "getex"
        | "incr" | "decr" | "incrby" | "decrby" | "incrbyfloat" | "append" | "strlen"
        | "getrange" | "setrange" | "substr" | "getbit" | "setbit" | "bitcount" | "bitpos"
        | "bitfield" | "bitfield_ro"
        // Keys.
        | "expire" | "pexpire" | "expireat" | "pexpireat" | "ttl" | "pttl" | "expiretime"
        | "pexpiretime" | "persist" | "type" | "dump" | "restore"
        // Hashes.
        | "hset" | "hsetnx" | "hget" | "hmset" | "hmget" | "hgetall" | "hdel" | "hexists"
        | "hlen" | "hkeys" | "hvals" | "hincrby" | "hincrbyfloat" | "hstrlen" | "hrandfield"
        | "hscan"
        // Lists.
        | "lpush" | "rpush" | "lpushx" | "rpushx" | "lpop" | "rpop" | "llen" | "lrange"
        | "lindex" | "lset" | "ltrim" | "linsert" | "lrem" | "lpos"
        // Sets.
        | "sadd" | "srem" | "smembers" | "sismember" | "smismember" | "scard" | "spop"
        | "srandmember" | "sscan"
        // Sorted sets.
        | "zadd" | "zincrby" | "zrem" | "zremrangebyrank" | "zremrangebyscore"
        | "zremrangebylex" | "zscore" | "zmscore" | "zcard" | "zrank" | "zrevrank" | "zcount"
        | "zlexcount" | "zrange" | "zrevrange" | "zrangebyscore" | "zrevrangebyscore"
        | "zrangebylex" | "zrevrangebylex" | "zpopmin" | "zpopmax" | "zrandmember" | "zscan"
        // HyperLogLog, geo.
        | "pfadd" | "pfcount" | "geoadd" | "geodist" | "geohash" | "geopos" | "georadius"
        | "georadiusbymember" | "geosearch" => Key,
        "mget" => MGet,
        "del" | "unlink" | "exists" | "touch" => SumKeys,
        "mset" => MSet,
        "msetnx" => SameBackend(KeySpec::Pairs),
        "rename" | "renamenx" | "copy" | "smove" | "lmove" | "rpoplpush" | "zrangestore" => {
            SameBackend(KeySpec::Two)
        }
        "sinter" | "sunion" | "sdiff" | "sinterstore" | "sunionstore" | "sdiffstore"
        | "pfmerge" => SameBackend(KeySpec::From(1)),
        "zunionstore" | "zinterstore" | "zdiffstore" => SameBackend(KeySpec::DestNumkeys),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" => {
            SameBackend(KeySpec::Numkeys)
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            SameBackend(KeySpec::Script)
        }
        "object" | "memory" => SameBackend(KeySpec::AfterSubcommand),
        "keys" => Broadcast(Combine::Concat),
        "dbsize" => Broadcast(Combine::Sum),
        "flushall" | "flushdb" => Broadcast(Combine::AllOk),
        "scan" => Scan,
        "ping" | "echo" | "auth" | "select" | "command" | "client" | "quit" | "hello" | "time"
        | "acl" => {
            Local
        }
        "info" => Broadcast(Combine::Info),
        "script" => Broadcast(Combine::Script),
        "multi" | "exec" | "discard" | "watch" | "unwatch" => Refused(TRANSACTIONS),
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" => Refused(BLOCKING),
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe"
        | "sunsubscribe" | "publish" | "spublish" | "pubsub" => Refused(PUBSUB),
        _ => return None,
    })
}

/// The key argument positions of a [`Route::SameBackend`] command; `None` when the argument
/// count cannot hold them (the backend then reports the arity error).
pub fn same_backend_keys(spec: KeySpec, args: &[&[u8]]) -> Option<Vec<usize>> {
    let n = args.len();
    let numkeys = |at: usize| -> Option<usize> {
        let k: usize = std::str::from_utf8(args.get(at)?).ok()?.parse().ok()?;
        (k > 0 && at + k < n).then_some(k)
    };
    match spec {
        KeySpec::From(first) => (n > first).then(|| (first..n).collect()),
        KeySpec::Two => (n > 2).then(|| vec![1, 2]),
        KeySpec::AfterSubcommand => (n > 2).then(|| vec![2]),
        KeySpec::Pairs => (n > 2).then(|| (1..n).step_by(2).collect()),
        KeySpec::DestNumkeys => {
            let k = numkeys(2)?;
            Some(std::iter::once(1).chain(3..3 + k).collect())
        }
        KeySpec::Numkeys => {
            let k = numkeys(1)?;
            Some((2..2 + k).collect())
        }
        KeySpec::Script => {
            let k = numkeys(2)?;
            Some((3..3 + k).collect())
        }
    }
}
