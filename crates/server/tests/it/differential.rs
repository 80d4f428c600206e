//! Differential tests: the same commands to our node and to a real redis-server, replies
//! compared. Exact equality, except: KEYS order (sorted before comparing), TTL-like values
//! (the two servers read their clocks a few hundred microseconds apart), RANDOMKEY (any key),
//! MEMORY USAGE (our layout differs; nil-ness must match).

use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use resp::Frame;

use crate::support::{Node, RawClient, RedisServer};

fn name_of(args: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
}

fn within(a: &Frame, b: &Frame, tolerance: i64) -> bool {
    match (a, b) {
        (Frame::Integer(x), Frame::Integer(y)) => {
            if *x < 0 || *y < 0 {
                x == y
            } else {
                (x - y).abs() <= tolerance
            }
        }
        _ => a == b,
    }
}

fn sorted(f: &Frame) -> Frame {
    match f {
        Frame::Array(items) | Frame::Set(items) => {
            let mut v = items.clone();
            v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            Frame::Array(v)
        }
        other => other.clone(),
    }
}

/// Compares one reply pair under the rules above.
fn same(args: &[Vec<u8>], ours: &Frame, theirs: &Frame) -> bool {
    if ours == theirs {
        return true;
    }
    if matches!(ours, Frame::Error(_)) || matches!(theirs, Frame::Error(_)) {
        return ours == theirs;
    }
    let sub = args
        .get(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .unwrap_or_default();
    match name_of(args).as_str() {
        // Unordered replies (Redis's hashtable order is its own).
        "keys" | "smembers" | "sinter" | "sunion" | "sdiff" => sorted(ours) == sorted(theirs),
        "spop" | "srandmember" if args.len() == 3 => match (ours, theirs) {
            (Frame::Array(a) | Frame::Set(a), Frame::Array(b) | Frame::Set(b)) => {
                a.len() == b.len() && (args[2] != b"100" || sorted(ours) == sorted(theirs))
            }
            _ => ours == theirs,
        },
        "sscan" | "zscan" => match (ours, theirs) {
            (Frame::Array(a), Frame::Array(b)) if a.len() == 2 && b.len() == 2 => {
                a[0] == b[0] && sorted(&a[1]) == sorted(&b[1])
            }
            _ => ours == theirs,
        },
        "ttl" | "expiretime" => within(ours, theirs, 1),
        "pttl" | "pexpiretime" => within(ours, theirs, 250),
        "randomkey" => matches!(
            (ours, theirs),
            (Frame::Null, Frame::Null) | (Frame::Bulk(_), Frame::Bulk(_))
        ),
        "memory" if sub == "usage" => matches!(
            (ours, theirs),
            (Frame::Null, Frame::Null) | (Frame::Integer(_), Frame::Integer(_))
        ),
        "object" if sub == "idletime" => within(ours, theirs, 1),
        // Random picks: compare sizes; a count above the size returns the whole hash.
        "zrandmember" => match (ours, theirs) {
            (Frame::Array(a), Frame::Array(b)) => a.len() == b.len(),
            _ => ours == theirs,
        },
        "hrandfield" | "srandmember" | "spop" if args.len() == 2 => matches!(
            (ours, theirs),
            (Frame::Null, Frame::Null) | (Frame::Bulk(_), Frame::Bulk(_))
        ),
        "hrandfield" => match (ours, theirs) {
            (Frame::Array(a), Frame::Array(b)) if args.len() == 3 => a.len() == b.len(),
            (Frame::Array(_), Frame::Array(_)) => sorted(ours) == sorted(theirs),
            _ => ours == theirs,
        },
        _ => ours == theirs,
    }
}

async fn both(
    ours: &mut RawClient,
    theirs: &mut RawClient,
    args: &[Vec<u8>],
) -> Result<(), String> {
    let a = ours.cmd(args).await;
    let b = theirs.cmd(args).await;
    // The same kinds of null too (`$-1` and `*-1` are one `Frame::Null`), in any order
    // where `same` allowed another order.
    let kinds = |n: &str| {
        let mut k: Vec<char> = n.chars().collect();
        k.sort_unstable();
        k
    };
    if same(args, &a, &b) && kinds(&ours.nulls) == kinds(&theirs.nulls) {
        Ok(())
    } else {
        Err(format!(
            "{:?}\n  ours:  {} (nulls {:?})\n  redis: {} (nulls {:?})",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>(),
            show(&a),
            ours.nulls,
            show(&b),
            theirs.nulls
        ))
    }
}

/// A hash in Redis's `hashtable` encoding answers in its table's order, which is its own:
/// then two replies listing its fields agree when they hold the same fields (with the same
/// values) in any order. Asks Redis for the encoding (not inside MULTI).
async fn hashtable_same(theirs: &mut RawClient, args: &[Vec<u8>], a: &Frame, b: &Frame) -> bool {
    let name = name_of(args);
    HASH_LISTINGS.contains(&name.as_str())
        && same_fields(&name, a, b)
        && theirs
            .cmd(&[b"OBJECT".as_slice(), b"ENCODING", &args[1]])
            .await
            == Frame::Bulk(b"hashtable".to_vec())
}

/// Commands listing a hash's fields, whose order is Redis's table order for a `hashtable`.
const HASH_LISTINGS: &[&str] = &["hgetall", "hkeys", "hvals", "hscan"];

/// Whether two hash replies hold the same fields in any order (pairs stay pairs for
/// HGETALL and HSCAN).
fn same_fields(name: &str, a: &Frame, b: &Frame) -> bool {
    let items = |f: &Frame| -> Option<Vec<String>> {
        let list = match f {
            Frame::Array(v) | Frame::Set(v) => v.clone(),
            Frame::Map(m) => m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
            _ => return None,
        };
        let list = match name {
            // [cursor, [field, value, ...]]
            "hscan" => match list.as_slice() {
                [Frame::Bulk(c), Frame::Array(v)] if c == b"0" => v.clone(),
                _ => return None,
            },
            _ => list,
        };
        let step = if name == "hgetall" || name == "hscan" {
            2
        } else {
            1
        };
        let mut out: Vec<String> = list.chunks(step).map(|c| format!("{c:?}")).collect();
        out.sort();
        Some(out)
    };
    items(a).is_some() && items(a) == items(b)
}

/// A compact, readable rendering of a reply for failure messages.
fn show(f: &Frame) -> String {
    let list = |items: &[Frame]| items.iter().map(show).collect::<Vec<_>>().join(", ");
    match f {
        Frame::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Frame::Simple(s) => format!("+{s}"),
        Frame::Error(e) => format!("-{e}"),
        Frame::Integer(i) => format!(":{i}"),
        Frame::Null => "nil".into(),
        Frame::Array(v) => format!("[{}]", list(v)),
        Frame::Set(v) => format!("~[{}]", list(v)),
        Frame::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

fn line(s: &str) -> Vec<Vec<u8>> {
    s.split(' ')
        .map(|a| {
            if a == "<empty>" {
                Vec::new()
            } else {
                a.as_bytes().to_vec()
            }
        })
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Hand-picked edge cases, each a line (`<empty>` = empty argument). Run in order.
const CASES: &str = r#"
PING
PING hello
PING a b
ECHO
ECHO hi
SELECT 0
SELECT 1
SELECT x
PEXPIREAT ttlkey 9223372036854775807
EXPIRETIME ttlkey
PEXPIRETIME ttlkey
SELECT 99999999999
GET
GET missing
SET k v
GET k
SET k v nx
SET k v2 xx
GET k
SET k v nx xx
SET k v xx nx
SET k v ex 10 px 100
SET k v ex 10 ex 20
SET k v ex 0
SET k v ex -5
SET k v ex abc
SET k v px 9223372036854775807
SET k v ex 9223372036854775807
SET k v ex
SET k v keepttl ex 10
SET k v ex 10 keepttl
SET k v get
SET k v2 get nx
SET k v3 get xx
SET newk v get xx
SET newk2 v get nx
SET k v foo
SET k v exat 1
GET k
SETNX k v
SETNX k2 v
SETEX k 0 v
SETEX k -1 v
SETEX k abc v
SETEX k 100 v
TTL k
PSETEX k 100000 v
PTTL k
PSETEX k 0 v
MSET a 1 b 2
MSET a 1 b
MGET a b missing k
MSETNX a 1 c 3
MSETNX c 3 d 4
MSETNX c 3 d
GETSET a 10
GETSET missing2 v
GETDEL a
GETDEL a
GETEX b
GETEX b ex 100
TTL b
GETEX b persist
TTL b
GETEX b ex 10 persist
GETEX b persist ex 10
GETEX b px 0
GETEX b exat 1
EXISTS b
GETEX missing ex 10
SET n 10
INCR n
INCRBY n 5
INCRBY n x
DECR n
DECRBY n 3
DECRBY n -9223372036854775808
INCRBY n 9223372036854775807
SET n 9223372036854775807
INCR n
SET n -9223372036854775808
DECR n
SET n abc
INCR n
SET n 1.5
INCR n
SET n <empty>
INCR n
SET n 007
INCR n
SET n +5
INCR n
SET n " 5"
INCR n
INCR newcounter
OBJECT ENCODING newcounter
SET f 10.50
INCRBYFLOAT f 0.1
INCRBYFLOAT f 1e3
INCRBYFLOAT f -1010.6
OBJECT ENCODING f
INCRBYFLOAT f abc
INCRBYFLOAT f inf
INCRBYFLOAT f 1e400
SET f 5.0e3
INCRBYFLOAT f 2.0e2
SET f 9223372036854775807
INCRBYFLOAT f 1.5
SET f abc
INCRBYFLOAT f 1
INCRBYFLOAT newfloat 3.0
ZADD geoscores -1 a -inf b inf c 2e19 d 9.3e18 e -2.5 f 0 g
GEOPOS geoscores a b c d e f g
GEOHASH geoscores a b c d e f g
GEODIST geoscores a f
LMPOP 1 l2 z2 COUNT -1
ZMPOP 1 l2 z2 COUNT 0
BLMPOP 0.1 1 l2 z2 COUNT -1
BZMPOP x 1 l2 z2 COUNT -1
INCRBYFLOAT hexfloat 0x10
INCRBYFLOAT hexfloat -0x1.8p1
INCRBYFLOAT hexfloat 0X.8
INCRBYFLOAT hexfloat 0x
INCRBYFLOAT hexfloat 0x1p
SET hexfloat 0xAp-1
INCRBYFLOAT hexfloat 1
HINCRBYFLOAT hexhash f 0x10
HINCRBYFLOAT s f 0x10
SET ttlkey v
PEXPIREAT ttlkey 4102444800700
EXPIRETIME ttlkey
PEXPIRETIME ttlkey
PEXPIREAT ttlkey 4102444800400
EXPIRETIME ttlkey
SELECT 99999999999
SELECT x
MOVE ttlkey 99999999999
MOVE ttlkey x
COPY ttlkey ttlcopy DB 99999999999
COPY ttlkey ttlcopy DB x
SWAPDB 0 99999999999
SWAPDB 99999999999 0
SWAPDB x 0
SET s hello
APPEND s " world"
APPEND s <empty>
GET s
STRLEN s
STRLEN missing
APPEND newappend 123
OBJECT ENCODING newappend
APPEND newappend 4
OBJECT ENCODING newappend
GET newappend
GETRANGE s 0 4
GETRANGE s -5 -1
GETRANGE s 5 1
GETRANGE s -1 -5
GETRANGE s 0 100
GETRANGE s -100 2
GETRANGE s 100 200
GETRANGE missing 0 -1
GETRANGE s x 1
SET i 12345
GETRANGE i 1 2
STRLEN i
SETRANGE s 6 Redis
GET s
SETRANGE s 20 X
GET s
SETRANGE s -1 X
SETRANGE s x X
SETRANGE newrange 3 abc
GET newrange
SETRANGE newrange2 0 <empty>
EXISTS newrange2
SETRANGE s 0 <empty>
SETRANGE s 536870912 X
SETRANGE i 0 9
OBJECT ENCODING i
GET i
DEL s i missing
DEL
EXISTS newrange newrange missing
TOUCH newrange missing
TYPE newrange
TYPE missing
UNLINK newrange
SET e v
EXPIRE e 100
TTL e
EXPIRE e 100 nx
EXPIRE e 200 xx
EXPIRE e 50 gt
EXPIRE e 500 gt
EXPIRE e 1000 lt
EXPIRE e 10 lt
TTL e
EXPIRE e 10 nx xx
EXPIRE e 10 gt lt
EXPIRE e 10 foo
EXPIRE e abc
EXPIRE e 9223372036854775807
EXPIRE missing 10
PEXPIRE e 100000
PTTL e
PERSIST e
PERSIST e
TTL e
EXPIRE e 10 xx
EXPIRE e 10 gt
EXPIRE e 10 lt
TTL e
EXPIRE e -1
EXISTS e
SET e v
EXPIRE e 0
EXISTS e
SET e v
PEXPIREAT e 1
EXISTS e
TTL missing
PTTL missing
EXPIRETIME missing
SET noexp v
EXPIRETIME noexp
PEXPIRETIME noexp
SET r1 v
RENAME r1 r2
GET r1
GET r2
RENAME missing x
RENAME r2 r2
RENAMENX r2 r2
SET r3 other
RENAMENX r2 r3
RENAMENX r2 r4
GET r4
SET c1 val
COPY c1 c2
COPY c1 c2
COPY c1 c2 replace
COPY c1 c1
COPY missing c5
COPY c1 c6 db 0
COPY c1 c7 db 1
COPY c1 c8 foo
GET c2
OBJECT ENCODING missing
OBJECT ENCODING c1
OBJECT FOO c1
OBJECT
OBJECT FREQ c1
SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
OBJECT ENCODING long
SET e44 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
OBJECT ENCODING e44
SET neg -123
OBJECT ENCODING neg
SET bigint 99999999999999999999
OBJECT ENCODING bigint
KEYS *
KEYS c*
KEYS c[12]
KEYS ?2
KEYS nomatch
DBSIZE
FLUSHDB foo
FLUSHALL foo bar
SCAN x
SCAN 0 count 0
SCAN 0 count x
SCAN " 1"
SCAN 99999999999999999999
SCAN 18446744073709551615x
SCAN 1.0
SCAN -
SCAN 0 match
SCAN 0 foo bar
NOSUCHCOMMAND a b
CLIENT
CLIENT FOO
CLIENT SETNAME
CLIENT SETNAME "a b"
CLIENT SETNAME good-name
CLIENT GETNAME
CLIENT NO-EVICT maybe
CLIENT NO-EVICT on
CLIENT REPLY foo
CLIENT KILL 1.2.3.4:5
CLIENT KILL id 0
CLIENT KILL id 99999
CLIENT KILL foo bar
CONFIG GET nosuch
CONFIG GET maxmemory
CONFIG SET foo bar
CONFIG SET maxmemory foo
CONFIG SET maxmemory-policy foo
CONFIG SET databases 2
CONFIG SET maxmemory 0 maxmemory 0
CONFIG SET maxmemory
CONFIG GET maxmemory-policy
CONFIG FOO
MEMORY USAGE c1
MEMORY USAGE missing
MEMORY FOO
SLOWLOG FOO
SLOWLOG GET -2
COMMAND GETKEYS get k
COMMAND GETKEYS mset a 1 b 2
COMMAND GETKEYSANDFLAGS set k v
COMMAND GETKEYSANDFLAGS mset a 1 b 2
COMMAND GETKEYSANDFLAGS zunionstore d 2 a b
COMMAND GETKEYSANDFLAGS lmove a b left right
COMMAND GETKEYSANDFLAGS get
COMMAND GETKEYSANDFLAGS ping x
COMMAND GETKEYSANDFLAGS nosuch x
COMMAND GETKEYSANDFLAGS zunion 5 a b
COMMAND GETKEYSANDFLAGS sort k STORE d
COMMAND GETKEYSANDFLAGS migrate h 1 k 0 5
COMMAND GETKEYSANDFLAGS object encoding k
COMMAND GETKEYSANDFLAGS set k v GET
COMMAND GETKEYSANDFLAGS set k v get EX 5
COMMAND GETKEYSANDFLAGS bitfield k GET u8 0
COMMAND GETKEYSANDFLAGS bitfield k GET u8 0 INCRBY u8 0 1
COMMAND GETKEYSANDFLAGS sort k LIMIT 0 1 GET store BY store STORE a STORE b
COMMAND GETKEYSANDFLAGS sort_ro k
COMMAND GETKEYSANDFLAGS migrate h 1 <empty> 0 5 KEYS a b
COMMAND GETKEYS sort k STORE d
CONFIG REWRITE
CONFIG REWRITE x
CONFIG HELP
MEMORY DOCTOR x
CLIENT PAUSE x
CLIENT PAUSE -1
CLIENT PAUSE 10 foo
CLIENT PAUSE 10 write x
CLIENT PAUSE 1 WRITE
CLIENT UNPAUSE
CLIENT UNPAUSE x
COMMAND GETKEYS ping
COMMAND GETKEYS nosuch
COMMAND GETKEYS get
COMMAND INFO get set nosuch
COMMAND INFO client|list
COMMAND DOCS get
COMMAND FOO
AUTH x
AUTH default x
AUTH a b c
HELLO 4
HELLO x
HELLO 2 foo
HELLO 2 setname "bad name"
SHUTDOWN foo
SHUTDOWN abort
TYPE c1
HSET h
HSET h f
HSET h f v g
HSET h f v g w
HSET h f v2 h2 x
HGET h f
HGET h nope
HGET nohash f
HMGET h f nope g
HMGET nohash a b
HGETALL h
HGETALL nohash
HKEYS h
HVALS h
HLEN h
HLEN nohash
HEXISTS h f
HEXISTS h nope
HSTRLEN h f
HSTRLEN h nope
HSETNX h f other
HSETNX h new other
HDEL h nope
HDEL h f g
HGETALL h
HINCRBY h n 5
HINCRBY h n -10
HINCRBY h n x
HINCRBY h f 1
HSET h big 9223372036854775807
HINCRBY h big 1
HINCRBYFLOAT h fl 10.5
HINCRBYFLOAT h fl 0.1
HINCRBYFLOAT h fl x
HINCRBYFLOAT h new 1
HINCRBYFLOAT h fl inf
TYPE h
OBJECT ENCODING h
HRANDFIELD nohash
HRANDFIELD nohash 5
HRANDFIELD h x
HRANDFIELD h 1 foo
HRANDFIELD h 0
HSCAN h x
HSCAN nohash 0 count 0
HSCAN h 0 count 0
HSCAN h 0 match
HSCAN h 0 match fl
GET h
SET s str
HSET s f v
HGET s f
HGETALL s
HDEL s f
HINCRBY s f 1
HLEN s
APPEND h x
INCR h
STRLEN h
GETRANGE h 0 1
HDEL h new fl n new2
HDEL h big
EXISTS h
RPUSH l a b c
LPUSH l z y
RPUSH l
LRANGE l 0 -1
LRANGE l -2 -1
LRANGE l 3 1
LRANGE l -100 100
LRANGE l x 1
LRANGE nol 0 -1
LLEN l
LLEN nol
LINDEX l 0
LINDEX l -1
LINDEX l 99
LINDEX l x
LSET l 1 Y
LSET l 99 x
LSET nol 0 x
LINSERT l BEFORE a A
LINSERT l AFTER c C
LINSERT l AFTER nope x
LINSERT l MIDDLE a x
LINSERT nol BEFORE a x
LRANGE l 0 -1
RPUSH r a b a c a
LREM r 1 a
LREM r -1 a
LREM r 0 a
LREM r x a
LRANGE r 0 -1
RPUSH p a b c a b c a
LPOS p a
LPOS p a RANK 2
LPOS p a RANK -1
LPOS p a COUNT 0
LPOS p a COUNT 2 RANK -1
LPOS p a MAXLEN 3 COUNT 0
LPOS p nope
LPOS p nope COUNT 1
LPOS p a RANK 0
LPOS p a COUNT -1
LPOS p a MAXLEN -1
LPOS p a FOO 1
LPOS nol a
LPOS nol a COUNT 1
LPOS p a COUNT x
LPOS p a MAXLEN x
LPOS p a MAXLEN -1
LPOS p a RANK -9223372036854775807
HSCAN h -1
HSCAN h +0
HSCAN h ""
HSCAN h " 1"
ZINCRBY zi nx a
ZINCRBY zi incr 1
ZINCRBY zi 1 nx
LPOP p
RPOP p
LPOP p 2
RPOP p 0
LPOP p -1
LPOP p x
LPOP nol
LPOP p 1 1
RPOP p 1 x
SET strkey v
HSCAN strkey 0 bogus
SSCAN strkey 0 COUNT 0
ZSCAN strkey x
ZSCAN nozset 0 bogus
ZRANDMEMBER strkey a b
ZRANDMEMBER nozset x -1
HRANDFIELD nohash x y
SLOWLOG|LEN
CONFIG|GET maxmemory
COMMAND INFO config|get
LPOP nol 2
LRANGE p 0 -1
LPUSHX nol a
RPUSHX p z
LTRIM p 1 -2
LRANGE p 0 -1
LTRIM p 5 1
EXISTS p
RPUSH src 1 2 3
LMOVE src dst RIGHT LEFT
LMOVE src dst LEFT RIGHT
LMOVE src src LEFT RIGHT
LMOVE src dst UP LEFT
LMOVE nosrc dst LEFT LEFT
LRANGE src 0 -1
LRANGE dst 0 -1
RPOPLPUSH src dst
RPOPLPUSH src dst
EXISTS src
SET str x
LPUSH str a
LMOVE dst str LEFT LEFT
LMOVE str dst LEFT LEFT
LRANGE str 0 -1
LLEN dst
TYPE dst
OBJECT ENCODING dst
GET dst
SADD s1 a b c d
SADD s1 a
SADD s2 c d e
SADD s3 1 2 3
SADD s3 10
SMEMBERS s3
OBJECT ENCODING s3
OBJECT ENCODING s1
SMEMBERS nos
SISMEMBER s1 a
SISMEMBER s1 z
SISMEMBER nos a
SMISMEMBER s1 a z b
SMISMEMBER nos a
SCARD s1
SCARD nos
SINTER s1 s2
SINTER s1 nos
SUNION s1 s2 nos
SDIFF s1 s2
SDIFF nos s1
SINTERSTORE d1 s1 s2
SMEMBERS d1
SUNIONSTORE d2 s1 s2
SCARD d2
SDIFFSTORE d3 s1 s2
SDIFFSTORE d3 nos s1
EXISTS d3
SINTERCARD 2 s1 s2
SINTERCARD 2 s1 s2 LIMIT 1
SINTERCARD 0 s1
SINTERCARD 3 s1 s2
SINTERCARD 2 s1 s2 LIMIT -1
SINTERCARD 2 s1 s2 LIMIT a
SINTERCARD 2 s1 s2 LIMIT 1.5
SINTERCARD 2 s1 s2 FOO 1
SINTERCARD x s1
SMOVE s1 s2 a
SMOVE s1 s2 nope
SMOVE nos s2 a
SMOVE s1 s1 b
SREM s1 b c z
SREM nos a
SPOP nos
SPOP nos 3
SPOP s3 0
SPOP s3 -1
SPOP s3 100
EXISTS s3
SRANDMEMBER nos
SRANDMEMBER nos 5
SRANDMEMBER s2 100
SRANDMEMBER s2 x
SSCAN s2 0
SSCAN nos 0
SSCAN s2 0 MATCH c*
SSCAN s2 x
SET str v
SADD str a
SINTER s2 str
SUNIONSTORE str s2
TYPE str
SMOVE s2 str c
SMEMBERS str
ZADD z 1 a 2 b 3 c 4 d 5 e
ZADD z 1 a
ZADD z CH 10 a 2 b
ZADD z NX 100 a 6 f
ZADD z XX 7 f 8 g
ZADD z GT 5 f
ZADD z GT 9 f
ZADD z LT CH 1 f 1 h
ZADD z INCR 2 f
ZADD z INCR NX 2 f
ZADD z INCR XX 2 nope
ZADD z INCR GT -1 f
ZADD z NX XX 1 a
ZADD z GT LT 1 a
ZADD z NX GT 1 a
ZADD z INCR 1 a 2 b
ZADD z 1
ZADD z 1 a 2
ZADD z abc a
ZADD z nan a
ZADD z 1e400 a
ZADD z " 1" a
ZADD z -0 zero
ZSCORE z zero
ZADD z 0.1 tenth
ZSCORE z tenth
ZADD z inf top -inf bottom
ZRANGE z 0 -1 WITHSCORES
ZADD z INCR -inf top
ZINCRBY z 1.5 a
ZINCRBY z x a
ZINCRBY z 1 newone
ZINCRBY nz 5 m
ZSCORE z a
ZSCORE z nope
ZSCORE nz x
ZMSCORE z a nope b
ZMSCORE nokey a b
ZCARD z
ZCARD nokey
ZRANK z a
ZREVRANK z a
ZRANK z nope
ZRANK nokey a
ZCOUNT z -inf +inf
ZCOUNT z (1 3
ZCOUNT z 3 1
ZCOUNT z (2 (2
ZCOUNT z x 1
ZCOUNT z <empty> 5
ZRANGE z 0 2
ZRANGE z -3 -1 WITHSCORES
ZRANGE z 5 1
ZRANGE z 0 -1 REV WITHSCORES
ZRANGE z 0 100 LIMIT 0 1
ZRANGE z 0 100 LIMIT 0 -1
ZRANGE z (1 5 BYSCORE
ZRANGE z 5 (1 BYSCORE REV
ZRANGE z -inf +inf BYSCORE LIMIT 1 2 WITHSCORES
ZRANGE z -inf +inf BYSCORE LIMIT -1 2
ZRANGE z -inf +inf BYSCORE LIMIT 2 -1
ZRANGE z -inf +inf BYSCORE LIMIT 100 1
ZRANGE z +inf -inf BYSCORE REV LIMIT 1 3 WITHSCORES
ZRANGE z 0 -1 BYLEX
ZRANGE z - + BYLEX WITHSCORES
ZRANGE z 0 -1 BYSCORE BYLEX
ZRANGE z 0 -1 REV REV
ZRANGE z 0 -1 FOO
ZRANGE z 0 -1 LIMIT 1
ZRANGE z a b
ZRANGE nokey 0 -1
ZREVRANGE z 0 2 WITHSCORES
ZREVRANGE z 0 2 REV
ZRANGEBYSCORE z 2 5 WITHSCORES LIMIT 1 2
ZRANGEBYSCORE z 2 5 REV
ZRANGEBYSCORE z a b
ZRANGEBYSCORE z 1 2 LIMIT 1
ZREVRANGEBYSCORE z 5 2 WITHSCORES
ZREVRANGEBYSCORE z 2 5
ZADD lx 0 a 0 b 0 c 0 d 0 e 0 aa 0 <empty>
ZRANGEBYLEX lx - +
ZRANGEBYLEX lx [a (c
ZRANGEBYLEX lx (a [c LIMIT 1 1
ZRANGEBYLEX lx a c
ZRANGEBYLEX lx [c [a
ZRANGEBYLEX lx + -
ZRANGEBYLEX lx - + WITHSCORES
ZREVRANGEBYLEX lx + -
ZREVRANGEBYLEX lx [c (a
ZREVRANGEBYLEX lx [c (a LIMIT 0 1
ZLEXCOUNT lx - +
ZLEXCOUNT lx [b [d
ZLEXCOUNT lx x y
ZREMRANGEBYLEX lx [b [c
ZRANGE lx 0 -1
ZREMRANGEBYLEX lx - +
EXISTS lx
ZADD zr 1 a 2 b 3 c 4 d 5 e 6 f
ZREMRANGEBYRANK zr 0 1
ZREMRANGEBYRANK zr -1 -1
ZREMRANGEBYRANK zr 5 10
ZREMRANGEBYRANK zr a 1
ZREMRANGEBYSCORE zr (3 4
ZREMRANGEBYSCORE zr x 4
ZRANGE zr 0 -1 WITHSCORES
ZREMRANGEBYRANK zr 0 -1
EXISTS zr
ZADD zp 1 a 2 b 3 c 4 d
ZPOPMIN zp
ZPOPMAX zp
ZPOPMIN zp 0
ZPOPMIN zp -1
ZPOPMIN zp 10
EXISTS zp
ZPOPMIN zp
ZPOPMIN zp 2
ZPOPMIN zp 1 2
ZADD za 1 a 2 b 3 c
ZADD zb 10 b 20 c 30 d
SADD sa b d x
ZUNIONSTORE out 2 za zb
ZRANGE out 0 -1 WITHSCORES
ZUNIONSTORE out 2 za zb WEIGHTS 2 0.5 AGGREGATE MAX
ZRANGE out 0 -1 WITHSCORES
ZINTERSTORE out 2 za zb AGGREGATE MIN
ZRANGE out 0 -1 WITHSCORES
ZINTERSTORE out 3 za zb sa
ZRANGE out 0 -1 WITHSCORES
ZUNIONSTORE out 3 za zb sa WEIGHTS 1 1 inf
ZRANGE out 0 -1 WITHSCORES
ZUNIONSTORE out 2 za zb WEIGHTS inf -inf
ZRANGE out 0 -1 WITHSCORES
ZINTERSTORE out 2 za nokey
EXISTS out
ZUNIONSTORE out 0 za
ZUNIONSTORE out 3 za zb
ZUNIONSTORE out 2 za zb WEIGHTS 1
ZUNIONSTORE out 2 za zb WEIGHTS 1 x
ZUNIONSTORE out 2 za zb AGGREGATE AVG
ZUNIONSTORE out x za
ZDIFFSTORE out 2 za zb
ZRANGE out 0 -1 WITHSCORES
ZDIFFSTORE out 2 za zb WEIGHTS 1 1
ZUNION 2 za zb WITHSCORES
ZUNION 2 za zb
ZINTER 2 za zb WITHSCORES
ZDIFF 2 za sa WITHSCORES
ZINTERCARD 2 za zb
ZINTERCARD 2 za zb LIMIT 1
ZINTERCARD 2 za zb LIMIT -1
ZINTERCARD 2 za zb LIMIT a
ZINTERCARD 1 za LIMIT 99999999999999999999
ZINTERCARD 0 za
ZINTERSTORE out 2 za zb WITHSCORES
ZRANGESTORE dst za 0 -1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst za (1 +inf BYSCORE LIMIT 0 1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst za 0 -1 WITHSCORES
ZRANGESTORE dst nokey 0 -1
EXISTS dst
ZSCAN za 0
ZSCAN za 0 MATCH a*
ZSCAN za 0 COUNT 0
ZSCAN nokey 0
ZRANDMEMBER nokey
ZRANDMEMBER nokey 3
ZRANDMEMBER za 10 WITHSCORES
ZRANDMEMBER za 0
ZRANDMEMBER za 1 FOO
ZRANDMEMBER za x
SET zstr v
ZADD zstr 1 a
ZSCORE zstr a
ZRANGE zstr 0 -1
ZUNIONSTORE out 2 za zstr
ZUNIONSTORE out 2 za zstr FOO
ZPOPMIN zstr
ZRANGESTORE zstr za 0 -1
TYPE zstr
OBJECT ENCODING zstr
TYPE za
OBJECT ENCODING za
MULTI
WATCH x
MULTI
SET a 1
NOSUCH
GET
EXEC
EXEC
DISCARD
MULTI
SET a 1
INCR a
LPUSH a x
GET a
EXEC
UNWATCH
WATCH
MULTI
DISCARD
WATCH w
SET w 1
MULTI
GET a
EXEC
WATCH w
MULTI
PING
EXEC
WATCH w nokey
DEL nokey
MULTI
PING
EXEC
WATCH w
SET w 1 NX
MULTI
PING
EXEC
WATCH lw
RPUSH lw a
MULTI
LRANGE lw 0 -1
EXEC
WATCH lw
LREM lw 0 zzz
MULTI
PING
EXEC
WATCH w
EXPIRE w 100
MULTI
PING
EXEC
WATCH w
GET w
TTL w
MULTI
PING
EXEC
MULTI
EXEC
MULTI
EXEC foo
EXEC
WATCH a
FLUSHALL
MULTI
PING
EXEC
RPUSH bl1 a b c
BLPOP bl1 bl2 0
BRPOP bl2 bl1 0
BLPOP bl1 x
BLPOP bl1 -1
BLPOP bl1 inf
BLPOP bl1 1e400
BLPOP bl1 nan
SET bls v
BLPOP bls 1
BLPOP bl2 bls 1
BLMOVE bl1 bld LEFT RIGHT 0
BLMOVE bl1 bld UP RIGHT 0
BLMOVE bl1 bld LEFT RIGHT x
BRPOPLPUSH bld bl1 0
BLMOVE bl1 bls LEFT RIGHT 0
MULTI
BLPOP nolist 0
BLMOVE nolist bld LEFT LEFT 0
EXEC
LRANGE bl1 0 -1
BLPOP bl1 0.01
BLPOP bl1 0.01
BRPOP nolist 0.01
PUBSUB NUMPAT
PUBSUB NUMSUB a b
PUBSUB CHANNELS
PUBSUB FOO
PUBLISH nobody hi
UNSUBSCRIBE
PUNSUBSCRIBE
SUBSCRIBE a b a
PSUBSCRIBE p* p*
GET x
PING
PING hi
PUBSUB NUMPAT
UNSUBSCRIBE a zz
PUNSUBSCRIBE
UNSUBSCRIBE
PING
GET x
ZADD hx 0x10 a 0x1.8p1 b 0X.8 c
ZRANGE hx 0 -1 WITHSCORES
ZADD hx 0x1p-2000 d
ZADD hx 0x1p2000 e
ZCOUNT hx 0x1 0x10
FLUSHALL
SETBIT b 7 1
SETBIT b 7 0
SETBIT b 7 1
SETBIT b 100 1
GETBIT b 7
GETBIT b 6
GETBIT b 100000
GET b
SETBIT b 4294967296 1
SETBIT b -1 1
SETBIT b 1 2
SETBIT b x 1
SETBIT b 1 x
BITCOUNT b
BITCOUNT b 0 0
BITCOUNT b 0 0 BIT
BITCOUNT b 1 7 BIT
BITCOUNT b -5 -1 BIT
BITCOUNT b 0
BITCOUNT b 0 -1 foo
BITCOUNT b x 1
BITCOUNT missing 0 1
BITCOUNT missing 0 x
SET s foobar
BITCOUNT s
BITCOUNT s 1 1
BITCOUNT s 5 30 BIT
BITPOS s 0
BITPOS s 1
BITPOS s 1 2
BITPOS s 1 2 -1 BYTE
BITPOS s 1 7 15 BIT
BITPOS s 0 0 -1
BITPOS s 2
BITPOS missing 0
BITPOS missing 1
BITPOS missing 1 x
BITPOS s 1 x
SET ff ÿ
SETBIT ones 0 1
SETBIT ones 1 1
SETBIT ones 2 1
SETBIT ones 3 1
SETBIT ones 4 1
SETBIT ones 5 1
SETBIT ones 6 1
SETBIT ones 7 1
BITPOS ones 0
BITPOS ones 0 0
BITPOS ones 0 0 -1
BITPOS ones 0 0 7 BIT
SET i 123
BITCOUNT i
SETBIT i 1 1
GET i
BITOP AND dest s ones
GET dest
BITOP OR dest s i missing
GET dest
BITOP XOR dest s s
GET dest
BITOP NOT dest s
GET dest
BITOP NOT dest s i
BITOP nand dest s
BITOP AND dest missing
EXISTS dest
LPUSH l a
BITOP AND dest l
SETBIT l 0 1
GETBIT l 0
BITCOUNT l
BITPOS l 1
HMSET h f v
HMSET h f v g
HMSET h a 1 b 2
HGETALL h
HMSET l f v
SUBSTR s 1 3
SUBSTR s -3 -1
SUBSTR s x 1
SUBSTR missing 0 1
COMMAND GETKEYS zunion 2 a b WITHSCORES
COMMAND GETKEYS zunionstore d 2 a b
COMMAND GETKEYS zinterstore d 1 a WEIGHTS 2
COMMAND GETKEYS sintercard 2 a b LIMIT 1
COMMAND GETKEYS zdiff 1 a
COMMAND GETKEYS migrate h 1 k 0 5
COMMAND GETKEYS migrate h 1 <empty> 0 5 COPY AUTH keys KEYS a b
COMMAND GETKEYS mset a 1 b 2
COMMAND GETKEYSANDFLAGS set k v
COMMAND GETKEYSANDFLAGS mset a 1 b 2
COMMAND GETKEYSANDFLAGS zunionstore d 2 a b
COMMAND GETKEYSANDFLAGS lmove a b left right
COMMAND GETKEYSANDFLAGS get
COMMAND GETKEYSANDFLAGS ping x
COMMAND GETKEYSANDFLAGS nosuch x
COMMAND GETKEYSANDFLAGS zunion 5 a b
COMMAND GETKEYSANDFLAGS sort k STORE d
COMMAND GETKEYSANDFLAGS migrate h 1 k 0 5
COMMAND GETKEYSANDFLAGS object encoding k
COMMAND GETKEYSANDFLAGS set k v GET
COMMAND GETKEYSANDFLAGS set k v get EX 5
COMMAND GETKEYSANDFLAGS bitfield k GET u8 0
COMMAND GETKEYSANDFLAGS bitfield k GET u8 0 INCRBY u8 0 1
COMMAND GETKEYSANDFLAGS sort k LIMIT 0 1 GET store BY store STORE a STORE b
COMMAND GETKEYSANDFLAGS sort_ro k
COMMAND GETKEYSANDFLAGS migrate h 1 <empty> 0 5 KEYS a b
COMMAND GETKEYS sort k STORE d
CLIENT PAUSE x
CLIENT PAUSE -1
CLIENT PAUSE 10 foo
CLIENT PAUSE 10 write x
CLIENT PAUSE 1 WRITE
CLIENT UNPAUSE
CLIENT UNPAUSE x
COMMAND GETKEYS lmpop 2 a b LEFT
COMMAND GETKEYS bzmpop 0 1 a MIN COUNT 2
RPUSH ml a b c d
ZADD mz 1 a 2 b 3 c
LMPOP 0 ml LEFT
LMPOP x ml LEFT
LMPOP -1 ml LEFT
LMPOP 2 ml LEFT
LMPOP 1 ml MIDDLE
LMPOP 1 ml LEFT COUNT 0
LMPOP 1 ml LEFT COUNT x
LMPOP 1 ml LEFT COUNT 2 COUNT 3
LMPOP 1 ml LEFT foo
LMPOP 1 ml LEFT COUNT
LMPOP 1 missing LEFT
LMPOP 2 missing ml RIGHT COUNT 2
LMPOP 1 mz LEFT
LMPOP 1 ml left count 10
LMPOP 1 ml LEFT
LMPOP 9223372036854775807 ml LEFT
LMPOP 3 a b
ZMPOP 1 mz MIN
ZMPOP 1 mz max COUNT 5
ZMPOP 1 mz MIN
ZMPOP 0 mz MIN
ZMPOP 1 mz foo
ZMPOP 2 mz
RPUSH ml x
ZMPOP 1 ml MIN
BLMPOP 0.01 1 missing LEFT
BLMPOP x 1 missing LEFT
BLMPOP -1 1 missing LEFT
BLMPOP x 0 ml LEFT
BLMPOP x 1 missing MIDDLE
BLMPOP 0 1 ml RIGHT COUNT 3
BZMPOP 0.01 1 missing MIN
BZMPOP x 1 missing MIN COUNT 0
ZADD mz 5 e 1 f
BZMPOP 0 2 missing mz MAX COUNT 1
BZPOPMIN missing 0.01
BZPOPMIN missing x
BZPOPMIN missing -1
BZPOPMIN mz 0
ZADD mz 7 g
BZPOPMAX missing mz 0
BZPOPMAX mz 0.01
RPUSH ml y
BZPOPMIN ml 0.01
MULTI
BLMPOP 0 1 missing LEFT
BZPOPMIN missing 0
BZMPOP 0 1 missing MIN
EXEC
SET lcs1 ohmytext
SET lcs2 mynewtext
LCS lcs1 lcs2
LCS lcs1 lcs2 LEN
LCS lcs1 lcs2 IDX
LCS lcs1 lcs2 IDX MINMATCHLEN 4
LCS lcs1 lcs2 IDX MINMATCHLEN 4 WITHMATCHLEN
LCS lcs1 lcs2 IDX WITHMATCHLEN MINMATCHLEN -5
LCS lcs1 lcs2 LEN IDX
LCS lcs1 lcs2 MINMATCHLEN
LCS lcs1 lcs2 MINMATCHLEN x
LCS lcs1 lcs2 foo
LCS lcs1 missing
LCS missing missing2 IDX
LCS lcs1 ml
SET lcs3 aaaabbbbaaaa
SET lcs4 bbbbaaaabbbb
LCS lcs3 lcs4 IDX WITHMATCHLEN
SET rc 5
OBJECT REFCOUNT rc
SET rc 10000
OBJECT REFCOUNT rc
SET rc 05
OBJECT REFCOUNT rc
OBJECT REFCOUNT ml
OBJECT REFCOUNT missing
SWAPDB 0 0
SWAPDB 0 1
SWAPDB x 0
SWAPDB 0 x
SWAPDB 0 -1
MOVE rc 0
MOVE rc 1
MOVE rc x
MOVE missing 0
RPUSH sl 3 1 2 10 -5 2.5
SORT sl
SORT sl DESC
SORT sl ALPHA
SORT sl ALPHA DESC
SORT sl LIMIT 1 2
SORT sl LIMIT -1 2
SORT sl LIMIT 2 -1
SORT sl LIMIT 10 2
SORT sl LIMIT 2 9223372036854775807
SORT sl LIMIT 9223372036854775807 9223372036854775807
SORT sl LIMIT -9223372036854775808 3
SORT sl LIMIT 0 0
SORT sl LIMIT x 1
SORT sl LIMIT 1
SORT sl BY nosort
SORT sl BY nosort DESC
SORT sl BY nosort LIMIT 1 2
SORT sl BY nosort DESC LIMIT 1 2
SET w_3 30
SET w_1 10
SET w_2 20
SET w_10 -1
HSET hw_3 f c
HSET hw_1 f a
HSET hw_2 f b
SORT sl BY w_*
SORT sl BY w_* DESC
SORT sl BY w_* LIMIT 0 3
SORT sl BY hw_*->f ALPHA
SORT sl BY hw_*->f
SORT sl BY w_* GET # GET w_* GET hw_*->f GET nothing_* GET nostar
SORT sl GET #
SORT sl STORE sorted
LRANGE sorted 0 -1
SORT sl BY w_* GET w_* STORE sorted2
LRANGE sorted2 0 -1
SORT missing STORE sorted
EXISTS sorted
SORT missing
RPUSH bad a b 1
SORT bad
SORT bad ALPHA
SORT bad BY w_*
SET s1 x
SORT s1
SORT sl foo
SORT sl STORE
SORT_RO sl STORE dst
SORT_RO sl DESC LIMIT 0 2
SADD ss 5 3 9 1
SORT ss
SORT ss DESC
SORT ss BY nosort
SORT ss BY nosort STORE sst
LRANGE sst 0 -1
ZADD zs 1 c 2 a 3 b
SORT zs ALPHA
SORT zs BY nosort
SORT zs BY nosort DESC
SORT zs BY nosort LIMIT 1 1
SORT zs BY nosort DESC LIMIT 1 5
RPUSH nums 1e3 " 5" 0x10 inf -inf
SORT nums
RPUSH nan nan
SORT nan
RPUSH emp <empty> 3
SORT emp
BITFIELD bf SET i8 0 100 GET i8 0 INCRBY i8 0 100 GET u4 0
BITFIELD bf OVERFLOW SAT INCRBY i8 0 100 INCRBY i8 0 -1000 OVERFLOW FAIL INCRBY i8 0 -1 INCRBY u2 100 5
BITFIELD bf OVERFLOW WRAP SET u8 #1 300 GET u8 #1 SET i64 8 -1 GET i64 8 GET u63 8
BITFIELD bf INCRBY u63 0 9223372036854775807 INCRBY i64 0 9223372036854775807 INCRBY i64 0 1
BITFIELD bf OVERFLOW SAT INCRBY i64 0 9223372036854775807 INCRBY i64 0 -9223372036854775808 INCRBY i64 0 -9223372036854775808
BITFIELD bf OVERFLOW FAIL SET i4 0 8 SET u3 0 -1 SET i4 0 -8 GET i4 0
BITFIELD bf GET i65 0
BITFIELD bf GET u64 0
BITFIELD bf GET i0 0
BITFIELD bf GET x8 0
BITFIELD bf GET i8 -1
BITFIELD bf GET i8 #-1
BITFIELD bf GET i8 4294967296
BITFIELD bf GET i8
BITFIELD bf SET i8 0
BITFIELD bf SET i8 0 x
BITFIELD bf OVERFLOW maybe
BITFIELD bf FOO
BITFIELD bf
BITFIELD missing GET u8 100 GET i16 #3
BITFIELD_RO bf GET u8 0 GET i4 #2
BITFIELD_RO bf SET u8 0 1
BITFIELD_RO missing GET u8 0
BITFIELD ml GET u8 0
BITFIELD ml SET u8 0 1
BITFIELD newbf SET u1 1000 1
STRLEN newbf
SET ibf 12345
BITFIELD ibf GET u8 0 SET u8 8 65
GET ibf
PFADD hll a b c d e f g
PFADD hll a b
PFADD hll
PFADD hllnew
PFCOUNT hll
GET hll
PFCOUNT hll
GET hll
PFCOUNT hll missing hllnew
PFCOUNT missing
PFADD hll2 c d x y z
PFMERGE hll3 hll hll2
PFCOUNT hll3
GET hll3
PFMERGE hll hll2
GET hll
PFMERGE hll4
GET hll4
PFDEBUG ENCODING hll
PFDEBUG DECODE hll
PFDEBUG TODENSE hll
PFDEBUG ENCODING hll
PFDEBUG TODENSE hll
PFDEBUG DECODE hll
PFCOUNT hll
PFADD hll newone
PFCOUNT hll
PFDEBUG NOPE hll
PFDEBUG ENCODING missing
PFDEBUG ENCODING hll extra
PFMERGE hll3 hll
PFDEBUG ENCODING hll3
SET notahll hello
PFADD notahll a
PFCOUNT notahll
PFMERGE x notahll
SET inthll 12345
PFCOUNT inthll
SET corrupt HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x80
PFCOUNT corrupt
PFADD ml x
PFCOUNT ml
PFSELFTEST
FLUSHALL
DBSIZE
"#;

#[tokio::test]
async fn curated_cases_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let mut failures = Vec::new();
    for l in CASES.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // `"a b"` in a line is one argument.
        let args = if let Some((head, quoted)) = l.split_once('"') {
            let mut a = line(head.trim_end());
            a.push(quoted.trim_end_matches('"').as_bytes().to_vec());
            a
        } else {
            line(l)
        };
        if let Err(e) = both(&mut ours, &mut theirs, &args).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Builds one random command over a small key space, biased towards edge-case values.
fn random_command(rng: &mut StdRng) -> Vec<Vec<u8>> {
    const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "{t}a", "{t}b"];
    const VALUES: &[&str] = &[
        "0",
        "1",
        "-1",
        "10",
        "123",
        "007",
        "+1",
        " 1",
        "1.5",
        "-2.25",
        "1e3",
        "abc",
        "",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "inf",
        "nan",
        "a-longer-value-that-does-not-fit-in-an-embedded-string-at-all",
    ];
    const INTS: &[&str] = &[
        "0",
        "1",
        "-1",
        "5",
        "100",
        "-100",
        "x",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    const TTLS: &[&str] = &[
        "100",
        "1000",
        "5000",
        "0",
        "-1",
        "abc",
        "9223372036854775807",
    ];
    let key = |rng: &mut StdRng| KEYS[rng.gen_range(0..KEYS.len())].to_string();
    let val = |rng: &mut StdRng| VALUES[rng.gen_range(0..VALUES.len())].to_string();
    let int = |rng: &mut StdRng| INTS[rng.gen_range(0..INTS.len())].to_string();
    let ttl = |rng: &mut StdRng| TTLS[rng.gen_range(0..TTLS.len())].to_string();
    const FIELDS: &[&str] = &["f1", "f2", "f3", "n"];
    let field = |rng: &mut StdRng| FIELDS[rng.gen_range(0..FIELDS.len())].to_string();
    let end = |rng: &mut StdRng| ["LEFT", "RIGHT"][rng.gen_range(0..2)].to_string();
    const SCORES: &[&str] = &[
        "0", "1", "2", "-1", "2.5", "1e3", "inf", "-inf", "+inf", "0.1", "nan", "abc", "", "-0",
        "1e400",
    ];
    const BOUNDS: &[&str] = &[
        "0", "1", "2", "(1", "(2", "-inf", "+inf", "(-inf", "2.5", "x", "", "(", "0.1",
    ];
    const MEMBERS: &[&str] = &["a", "b", "c", "d", "10", "2", "aa", ""];
    const LEX: &[&str] = &["-", "+", "[a", "(a", "[c", "(c", "[aa", "a", "[", "("];
    let score = |rng: &mut StdRng| SCORES[rng.gen_range(0..SCORES.len())].to_string();
    let bound = |rng: &mut StdRng| BOUNDS[rng.gen_range(0..BOUNDS.len())].to_string();
    let member = |rng: &mut StdRng| MEMBERS[rng.gen_range(0..MEMBERS.len())].to_string();
    let lex = |rng: &mut StdRng| LEX[rng.gen_range(0..LEX.len())].to_string();
    const BIT_OFFSETS: &[&str] = &[
        "0",
        "1",
        "7",
        "8",
        "15",
        "33",
        "100",
        "-1",
        "x",
        "4294967296",
    ];
    let bit_offset =
        |rng: &mut StdRng| BIT_OFFSETS[rng.gen_range(0..BIT_OFFSETS.len())].to_string();
    let unit = |rng: &mut StdRng| ["BIT", "BYTE", "bit", "foo"][rng.gen_range(0..4)].to_string();
    let mut c: Vec<String> = match rng.gen_range(0..113) {
        112 => match rng.gen_range(0..4) {
            0 | 1 => {
                let mut v = vec!["PFADD".to_string(), key(rng)];
                for _ in 0..rng.gen_range(0..4) {
                    v.push(val(rng));
                }
                v
            }
            2 => vec!["PFCOUNT".into(), key(rng), key(rng)][..rng.gen_range(2..4)].to_vec(),
            _ => vec!["PFMERGE".into(), key(rng), key(rng), key(rng)],
        },
        111 => {
            // Always ALPHA: Redis's numeric SORT reads `errno` after `strtod` without
            // clearing it, so an ERANGE left by an earlier command (a 1e400 somewhere) fails
            // a later sort at random; the curated cases cover numeric sorting.
            let mut v = vec![
                ["SORT", "SORT_RO"][rng.gen_range(0..2)].to_string(),
                key(rng),
                "ALPHA".into(),
            ];
            for _ in 0..rng.gen_range(0..3) {
                match rng.gen_range(0..4) {
                    0 => v.push("ALPHA".into()),
                    1 => v.push(["ASC", "DESC"][rng.gen_range(0..2)].into()),
                    2 => {
                        v.push("LIMIT".into());
                        v.push(int(rng));
                        v.push(int(rng));
                    }
                    _ => {
                        v.push("STORE".into());
                        v.push(key(rng));
                    }
                }
            }
            v
        }
        110 => {
            let numkeys = rng.gen_range(1..3);
            let mut v: Vec<String> = match rng.gen_range(0..6) {
                0 | 1 => vec!["LMPOP".into()],
                2 | 3 => vec!["ZMPOP".into()],
                4 => vec!["BLMPOP".into(), "0.01".into()],
                _ => vec!["BZMPOP".into(), "0.01".into()],
            };
            let list = v[0].contains('L');
            v.push(numkeys.to_string());
            for _ in 0..numkeys {
                v.push(key(rng));
            }
            let ends: &[&str] = if list {
                &["LEFT", "RIGHT"]
            } else {
                &["MIN", "MAX"]
            };
            v.push(ends[rng.gen_range(0..2)].into());
            if rng.gen_range(0..2) == 0 {
                v.push("COUNT".into());
                v.push(int(rng));
            }
            if rng.gen_range(0..10) == 0 {
                v.pop();
            }
            v
        }
        // (BZPOPMIN/BZPOPMAX ride on case 101's blocking pops.)
        // The encoding thresholds: OBJECT ENCODING (case 39) must follow them as Redis's does.
        109 => vec![
            "CONFIG".into(),
            "SET".into(),
            [
                "hash-max-listpack-entries",
                "hash-max-ziplist-value",
                "set-max-intset-entries",
                "zset-max-listpack-entries",
                "zset-max-ziplist-value",
            ][rng.gen_range(0..5)]
            .into(),
            ["0", "1", "2", "3", "64", "128", "512"][rng.gen_range(0..7)].into(),
        ],
        104 if rng.gen_range(0..3) == 0 => {
            let mut v = vec![
                ["BITFIELD", "BITFIELD_RO"][rng.gen_range(0..2)].to_string(),
                key(rng),
            ];
            for _ in 0..rng.gen_range(1..4) {
                let ty =
                    ["i8", "u8", "i1", "u1", "i64", "u63", "i16", "u3", "i65"][rng.gen_range(0..9)];
                let off = ["0", "3", "#1", "#2", "17", "-1"][rng.gen_range(0..6)];
                match rng.gen_range(0..4) {
                    0 => v.extend(["GET".to_string(), ty.into(), off.into()]),
                    1 => v.extend(["SET".to_string(), ty.into(), off.into(), int(rng)]),
                    2 => v.extend(["INCRBY".to_string(), ty.into(), off.into(), int(rng)]),
                    _ => v.extend([
                        "OVERFLOW".to_string(),
                        ["WRAP", "SAT", "FAIL"][rng.gen_range(0..3)].into(),
                    ]),
                }
            }
            v
        }
        104 => match rng.gen_range(0..3) {
            0 => vec![
                "SETBIT".into(),
                key(rng),
                bit_offset(rng),
                ["0", "1", "2", "x"][rng.gen_range(0..4)].into(),
            ],
            1 => vec!["SETBIT".into(), key(rng), bit_offset(rng), "1".into()],
            _ => vec!["GETBIT".into(), key(rng), bit_offset(rng)],
        },
        105 => {
            let mut v = vec!["BITCOUNT".into(), key(rng)];
            let n = rng.gen_range(0..4);
            for _ in 0..n.min(2) {
                v.push(int(rng));
            }
            if n == 3 {
                v.push(unit(rng));
            }
            v
        }
        106 => {
            let mut v = vec![
                "BITPOS".into(),
                key(rng),
                ["0", "1", "2", "x"][rng.gen_range(0..4)].into(),
            ];
            let n = rng.gen_range(0..4);
            for _ in 0..n.min(2) {
                v.push(int(rng));
            }
            if n == 3 {
                v.push(unit(rng));
            }
            v
        }
        107 => {
            let mut v = vec![
                "BITOP".into(),
                ["AND", "or", "XOR", "NOT", "nand"][rng.gen_range(0..5)].into(),
                key(rng),
            ];
            for _ in 0..rng.gen_range(0..3) {
                v.push(key(rng));
            }
            v
        }
        108 => match rng.gen_range(0..2) {
            0 => {
                let mut v = vec!["HMSET".into(), key(rng)];
                for _ in 0..rng.gen_range(0..3) {
                    v.push(field(rng));
                    v.push(val(rng));
                }
                if rng.gen_range(0..5) == 0 {
                    v.push(field(rng));
                }
                v
            }
            _ => vec!["SUBSTR".into(), key(rng), int(rng), int(rng)],
        },
        101 => match rng.gen_range(0..5) {
            0 => vec!["BLPOP".into(), key(rng), key(rng), "0.01".into()],
            3 => vec!["BZPOPMIN".into(), key(rng), key(rng), "0.01".into()],
            4 => vec!["BZPOPMAX".into(), key(rng), "0.01".into()],
            1 => vec!["BRPOP".into(), key(rng), "0.01".into()],
            _ => vec![
                "BLMOVE".into(),
                key(rng),
                key(rng),
                end(rng),
                end(rng),
                "0.01".into(),
            ],
        },
        102 => match rng.gen_range(0..4) {
            0 => vec!["SUBSCRIBE".into(), "ch".into()],
            _ => vec!["UNSUBSCRIBE".into()],
        },
        // To a channel nobody here subscribes to: a RESP3 client publishing to itself gets the
        // push inside EXEC's array in Redis 7.0, which the reply-by-reply comparison cannot
        // follow.
        103 => vec!["PUBLISH".into(), "news".into(), val(rng)],
        96 => vec!["MULTI".into()],
        97 => vec!["EXEC".into()],
        98 => vec!["DISCARD".into()],
        99 => vec!["WATCH".into(), key(rng), key(rng)],
        100 => vec!["UNWATCH".into()],
        80 | 81 => {
            let mut v = vec!["ZADD".into(), key(rng)];
            for _ in 0..rng.gen_range(0..3) {
                v.push(["NX", "XX", "GT", "LT", "CH", "INCR"][rng.gen_range(0..6)].into());
            }
            for _ in 0..rng.gen_range(1..4) {
                v.push(score(rng));
                v.push(member(rng));
            }
            v
        }
        82 => vec!["ZINCRBY".into(), key(rng), score(rng), member(rng)],
        83 => vec!["ZREM".into(), key(rng), member(rng), member(rng)],
        84 => vec![
            ["ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK"][rng.gen_range(0..4)].into(),
            key(rng),
            member(rng),
        ],
        85 => match rng.gen_range(0..2) {
            0 => vec!["ZCARD".into(), key(rng)],
            _ => vec!["ZCOUNT".into(), key(rng), bound(rng), bound(rng)],
        },
        86 => {
            let mut v = vec!["ZRANGE".into(), key(rng), int(rng), int(rng)];
            for _ in 0..rng.gen_range(0..3) {
                v.push(["WITHSCORES", "REV", "LIMIT"][rng.gen_range(0..3)].into());
            }
            v
        }
        87 => {
            let mut v = vec![
                "ZRANGE".into(),
                key(rng),
                bound(rng),
                bound(rng),
                "BYSCORE".into(),
            ];
            for _ in 0..rng.gen_range(0..3) {
                match rng.gen_range(0..3) {
                    0 => v.push("WITHSCORES".into()),
                    1 => v.push("REV".into()),
                    _ => {
                        v.push("LIMIT".into());
                        v.push(["0", "1", "-1", "2"][rng.gen_range(0..4)].into());
                        v.push(["0", "1", "-1", "2"][rng.gen_range(0..4)].into());
                    }
                }
            }
            v
        }
        // Lex ranges are only meaningful with equal scores: one key holds such a set.
        88 => vec![
            "ZADD".into(),
            "lex".into(),
            "0".into(),
            member(rng),
            "0".into(),
            member(rng),
        ],
        89 => {
            let cmd = [
                "ZRANGEBYLEX",
                "ZREVRANGEBYLEX",
                "ZLEXCOUNT",
                "ZREMRANGEBYLEX",
            ][rng.gen_range(0..4)];
            let mut v = vec![cmd.into(), "lex".into(), lex(rng), lex(rng)];
            if cmd.contains("RANGEBY") && rng.gen_bool(0.3) {
                v.extend(["LIMIT".into(), int(rng), int(rng)]);
            }
            v
        }
        90 => {
            let mut v = vec![["ZPOPMIN", "ZPOPMAX"][rng.gen_range(0..2)].into(), key(rng)];
            if rng.gen_bool(0.5) {
                v.push(["0", "1", "2", "-1", "10"][rng.gen_range(0..5)].into());
            }
            v
        }
        91 => {
            let mut v = vec![
                ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][rng.gen_range(0..3)].into(),
                key(rng),
                ["2", "1", "3", "0"][rng.gen_range(0..4)].into(),
                key(rng),
                key(rng),
            ];
            if rng.gen_bool(0.4) {
                v.extend(["WEIGHTS".into(), score(rng), score(rng)]);
            }
            if rng.gen_bool(0.4) {
                v.extend([
                    "AGGREGATE".into(),
                    ["SUM", "MIN", "MAX", "AVG"][rng.gen_range(0..4)].into(),
                ]);
            }
            v
        }
        92 => {
            let mut v = vec![
                ["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"][rng.gen_range(0..4)].into(),
                "2".into(),
                key(rng),
                key(rng),
            ];
            if rng.gen_bool(0.5) {
                v.push("WITHSCORES".into());
            }
            v
        }
        93 => match rng.gen_range(0..4) {
            0 => vec!["ZRANGESTORE".into(), key(rng), key(rng), int(rng), int(rng)],
            1 => vec!["ZREMRANGEBYRANK".into(), key(rng), int(rng), int(rng)],
            2 => vec!["ZREMRANGEBYSCORE".into(), key(rng), bound(rng), bound(rng)],
            _ => vec![
                "ZRANGESTORE".into(),
                key(rng),
                key(rng),
                bound(rng),
                bound(rng),
                "BYSCORE".into(),
            ],
        },
        94 => {
            let cmd = ["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"][rng.gen_range(0..2)];
            let mut v = vec![cmd.into(), key(rng), bound(rng), bound(rng)];
            if rng.gen_bool(0.5) {
                v.push("WITHSCORES".into());
            }
            if rng.gen_bool(0.3) {
                v.extend(["LIMIT".into(), int(rng), int(rng)]);
            }
            v
        }
        95 => match rng.gen_range(0..3) {
            0 => vec!["ZSCAN".into(), key(rng), "0".into()],
            1 => vec![
                "ZRANDMEMBER".into(),
                key(rng),
                "-3".into(),
                "WITHSCORES".into(),
            ],
            _ => vec![
                "ZREVRANGE".into(),
                key(rng),
                int(rng),
                int(rng),
                "WITHSCORES".into(),
            ],
        },
        70 | 71 => {
            let mut v = vec!["SADD".into(), key(rng)];
            for _ in 0..rng.gen_range(1..4) {
                v.push(val(rng));
            }
            v
        }
        72 => vec!["SREM".into(), key(rng), val(rng), val(rng)],
        73 => vec!["SMEMBERS".into(), key(rng)],
        74 => vec![
            ["SISMEMBER", "SMISMEMBER"][rng.gen_range(0..2)].into(),
            key(rng),
            val(rng),
        ],
        75 => vec![
            ["SINTER", "SUNION", "SDIFF"][rng.gen_range(0..3)].into(),
            key(rng),
            key(rng),
        ],
        76 => vec![
            ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][rng.gen_range(0..3)].into(),
            key(rng),
            key(rng),
            key(rng),
        ],
        77 => vec!["SMOVE".into(), key(rng), key(rng), val(rng)],
        78 => vec!["SCARD".into(), key(rng)],
        79 => vec!["SINTERCARD".into(), "2".into(), key(rng), key(rng)],
        58 | 59 => {
            let mut v = vec![["LPUSH", "RPUSH"][rng.gen_range(0..2)].into(), key(rng)];
            for _ in 0..rng.gen_range(1..4) {
                v.push(val(rng));
            }
            v
        }
        60 => vec![["LPOP", "RPOP"][rng.gen_range(0..2)].into(), key(rng)],
        61 => vec![
            ["LPOP", "RPOP"][rng.gen_range(0..2)].into(),
            key(rng),
            ["0", "1", "3", "-1"][rng.gen_range(0..4)].into(),
        ],
        62 => vec!["LRANGE".into(), key(rng), int(rng), int(rng)],
        63 => vec!["LINDEX".into(), key(rng), int(rng)],
        64 => vec!["LSET".into(), key(rng), int(rng), val(rng)],
        65 => vec![
            "LINSERT".into(),
            key(rng),
            ["BEFORE", "AFTER"][rng.gen_range(0..2)].into(),
            val(rng),
            val(rng),
        ],
        66 => vec!["LREM".into(), key(rng), int(rng), val(rng)],
        67 => vec!["LTRIM".into(), key(rng), int(rng), int(rng)],
        68 => vec!["LMOVE".into(), key(rng), key(rng), end(rng), end(rng)],
        69 => vec![
            "LPOS".into(),
            key(rng),
            val(rng),
            "COUNT".into(),
            "0".into(),
        ],
        44 | 45 => {
            let mut v = vec!["HSET".into(), key(rng)];
            for _ in 0..rng.gen_range(1..3) {
                v.push(field(rng));
                v.push(val(rng));
            }
            v
        }
        46 => vec!["HSETNX".into(), key(rng), field(rng), val(rng)],
        47 => vec!["HGET".into(), key(rng), field(rng)],
        48 => vec!["HMGET".into(), key(rng), field(rng), field(rng)],
        49 => vec!["HGETALL".into(), key(rng)],
        50 => vec!["HDEL".into(), key(rng), field(rng), field(rng)],
        51 => vec![
            ["HLEN", "HKEYS", "HVALS"][rng.gen_range(0..3)].into(),
            key(rng),
        ],
        52 => vec![
            ["HEXISTS", "HSTRLEN"][rng.gen_range(0..2)].into(),
            key(rng),
            field(rng),
        ],
        53 => vec!["HINCRBY".into(), key(rng), field(rng), int(rng)],
        54 => vec!["HINCRBYFLOAT".into(), key(rng), field(rng), val(rng)],
        55 => vec!["HSCAN".into(), key(rng), "0".into()],
        56 => vec!["HRANDFIELD".into(), key(rng), "-5".into()],
        57 => vec![
            "HRANDFIELD".into(),
            key(rng),
            "100".into(),
            "WITHVALUES".into(),
        ],
        0..=3 => vec!["GET".into(), key(rng)],
        4..=7 => {
            let mut v = vec!["SET".into(), key(rng), val(rng)];
            for _ in 0..rng.gen_range(0..3) {
                let opts: &[&[&str]] = &[
                    &["NX"],
                    &["XX"],
                    &["GET"],
                    &["KEEPTTL"],
                    &["EX"],
                    &["PX"],
                    &["EXAT"],
                    &["PXAT"],
                    &["bogus"],
                ];
                let o = opts[rng.gen_range(0..opts.len())];
                v.push(o[0].into());
                match o[0] {
                    "EX" => v.push(ttl(rng)),
                    "PX" => v.push(format!("{}", rng.gen_range(1..10) * 100_000)),
                    "EXAT" => v.push(format!("{}", now_secs() + 1000)),
                    "PXAT" => v.push(format!("{}", (now_secs() + 1000) * 1000)),
                    _ => {}
                }
            }
            v
        }
        8 => vec!["SETNX".into(), key(rng), val(rng)],
        9 => vec!["SETEX".into(), key(rng), ttl(rng), val(rng)],
        10 => vec![
            "PSETEX".into(),
            key(rng),
            format!("{}", rng.gen_range(1..100) * 10_000),
            val(rng),
        ],
        11 => vec!["MGET".into(), key(rng), key(rng), key(rng)],
        12 => {
            let mut v = vec!["MSET".into()];
            for _ in 0..rng.gen_range(1..4) {
                v.push(key(rng));
                v.push(val(rng));
            }
            v
        }
        13 => vec!["MSETNX".into(), key(rng), val(rng), key(rng), val(rng)],
        14 => vec!["GETSET".into(), key(rng), val(rng)],
        15 => vec!["GETDEL".into(), key(rng)],
        16 => {
            let opts: &[&[&str]] = &[
                &[],
                &["PERSIST"],
                &["EX", "100"],
                &["PX", "200000"],
                &["EXAT", "1"],
                &["EX", "0"],
                &["PERSIST", "EX", "1"],
            ];
            let mut v = vec!["GETEX".into(), key(rng)];
            v.extend(
                opts[rng.gen_range(0..opts.len())]
                    .iter()
                    .map(|s| s.to_string()),
            );
            v
        }
        17 => vec!["INCR".into(), key(rng)],
        18 => vec!["DECR".into(), key(rng)],
        19 => vec!["INCRBY".into(), key(rng), int(rng)],
        20 => vec!["DECRBY".into(), key(rng), int(rng)],
        21 => vec!["INCRBYFLOAT".into(), key(rng), val(rng)],
        22 => vec!["APPEND".into(), key(rng), val(rng)],
        23 => vec!["STRLEN".into(), key(rng)],
        24 => vec!["GETRANGE".into(), key(rng), int(rng), int(rng)],
        25 => vec![
            "SETRANGE".into(),
            key(rng),
            ["0", "1", "3", "-1", "x", "70"][rng.gen_range(0..6)].into(),
            val(rng),
        ],
        26 => vec!["DEL".into(), key(rng), key(rng)],
        27 => vec!["EXISTS".into(), key(rng), key(rng), key(rng)],
        28 => vec!["TYPE".into(), key(rng)],
        29 => {
            let cmd = ["EXPIRE", "PEXPIRE"][rng.gen_range(0..2)];
            let t = if cmd == "EXPIRE" {
                ttl(rng)
            } else {
                format!("{}", rng.gen_range(-1..5) * 100_000)
            };
            let mut v = vec![cmd.into(), key(rng), t];
            for _ in 0..rng.gen_range(0..3) {
                v.push(["NX", "XX", "GT", "LT", "zz"][rng.gen_range(0..5)].into());
            }
            v
        }
        30 => vec![
            "EXPIREAT".into(),
            key(rng),
            format!(
                "{}",
                now_secs() as i64 + [-10, 1000, 5000][rng.gen_range(0..3)]
            ),
        ],
        31 => vec![
            "PEXPIREAT".into(),
            key(rng),
            format!(
                "{}",
                (now_secs() as i64 + [-10, 1000][rng.gen_range(0..2)]) * 1000
            ),
        ],
        32 => vec![
            ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"][rng.gen_range(0..4)].into(),
            key(rng),
        ],
        33 => vec!["PERSIST".into(), key(rng)],
        34 => vec!["RENAME".into(), key(rng), key(rng)],
        35 => vec!["RENAMENX".into(), key(rng), key(rng)],
        36 => vec![
            "KEYS".into(),
            ["*", "k*", "k[0-1]", "?1", "{t}*", "nomatch"][rng.gen_range(0..6)].into(),
        ],
        37 => vec!["DBSIZE".into()],
        38 => {
            let mut v = vec!["COPY".into(), key(rng), key(rng)];
            if rng.gen_bool(0.5) {
                v.push("REPLACE".into());
            }
            v
        }
        39 => vec!["OBJECT".into(), "ENCODING".into(), key(rng)],
        40 => vec!["TOUCH".into(), key(rng), key(rng)],
        41 => vec!["UNLINK".into(), key(rng)],
        42 => vec!["RANDOMKEY".into()],
        _ => vec!["MEMORY".into(), "USAGE".into(), key(rng)],
    };
    // Now and then, a wrong argument count.
    if rng.gen_ratio(1, 40) && c.len() > 1 {
        c.pop();
    }
    c.into_iter().map(String::into_bytes).collect()
}

async fn run_random(seed: u64, commands: usize, resp3: bool) {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    if resp3 {
        // HELLO replies differ (server identity); only the protocol switch matters here.
        ours.cmd(&["HELLO", "3"]).await;
        theirs.cmd(&["HELLO", "3"]).await;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    // Commands queued in a MULTI: EXEC's replies are compared one by one under their own
    // command's rules (random picks, TTL tolerance).
    let mut queued: Option<Vec<Vec<Vec<u8>>>> = None;
    for i in 0..commands {
        let args = random_command(&mut rng);
        let name = name_of(&args);
        if std::env::var("DIFF_TRACE").is_ok_and(|t| t == seed.to_string()) {
            eprintln!(
                "#{i} {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
        if name == "exec" && queued.is_some() {
            let (a, b) = (ours.cmd(&args).await, theirs.cmd(&args).await);
            let cmds = queued.take().expect("in MULTI");
            let ok = match (&a, &b) {
                (Frame::Array(x), Frame::Array(y)) => {
                    x.len() == y.len()
                        && x.len() == cmds.len()
                        && cmds.iter().zip(x.iter().zip(y)).all(|(c, (p, q))| {
                            // Inside EXEC the encoding cannot be asked at that instant:
                            // a hash listing may be in Redis's table order.
                            let name = name_of(c);
                            same(c, p, q)
                                || (HASH_LISTINGS.contains(&name.as_str())
                                    && same_fields(&name, p, q))
                        })
                }
                _ => a == b,
            };
            assert!(
                ok,
                "seed {seed}, command #{i}: EXEC of {cmds:?}\n  ours:  {}\n  redis: {}",
                show(&a),
                show(&b)
            );
            continue;
        }
        // A relative GT/LT compares against a deadline maybe set by the previous command with
        // the same TTL: in the same millisecond on one server (equal: 0) and not on the other
        // (later: 1). A pause makes every such deadline strictly later on both.
        let gt_lt = args
            .iter()
            .any(|a| a.eq_ignore_ascii_case(b"gt") || a.eq_ignore_ascii_case(b"lt"));
        if (name == "expire" || name == "pexpire") && gt_lt && queued.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let (a, b) = (ours.cmd(&args).await, theirs.cmd(&args).await);
        // A hash in Redis's `hashtable` encoding answers in its table's order, which is its
        // own: then the fields (with their values) compare as a set.
        let unordered = queued.is_none() && hashtable_same(&mut theirs, &args, &a, &b).await;
        assert!(
            unordered || same(&args, &a, &b),
            "seed {seed}, command #{i}: {args:?}\n  ours:  {}\n  redis: {}",
            show(&a),
            show(&b)
        );
        // (A MULTI refused, e.g. while subscribed, starts no transaction.)
        if name == "multi" && queued.is_none() && a == Frame::Simple("OK".into()) {
            queued = Some(Vec::new());
        } else if name == "discard" || (name == "exec" && queued.is_some()) {
            queued = None;
        } else if let (Some(q), Frame::Simple(s)) = (queued.as_mut(), &a) {
            if s == "QUEUED" {
                q.push(args);
            }
        }
    }
    if queued.is_some() {
        both(&mut ours, &mut theirs, &line("DISCARD"))
            .await
            .unwrap();
    }
    // The final state must match too.
    for k in ["k0", "k1", "k2", "k3", "{t}a", "{t}b"] {
        for cmd in [
            &["GET", k][..],
            &["TTL", k],
            &["OBJECT", "ENCODING", k],
            &["HGETALL", k],
            &["ZRANGE", k, "0", "-1", "WITHSCORES"],
            &["TYPE", k],
        ] {
            let args: Vec<Vec<u8>> = cmd.iter().map(|s| s.as_bytes().to_vec()).collect();
            let (a, b) = (ours.cmd(&args).await, theirs.cmd(&args).await);
            assert!(
                same(&args, &a, &b) || hashtable_same(&mut theirs, &args, &a, &b).await,
                "seed {seed}, final state: {cmd:?}\n  ours:  {}\n  redis: {}",
                show(&a),
                show(&b)
            );
        }
    }
}

#[tokio::test]
async fn random_sequences_match_redis_resp2() {
    // `DIFF_SEEDS=200` runs more seeds when hunting for a divergence.
    let seeds: u64 = std::env::var("DIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for seed in 1..=seeds {
        run_random(seed, 1500, false).await;
    }
}

#[tokio::test]
async fn random_sequences_match_redis_resp3() {
    for seed in 100..=102 {
        run_random(seed, 1500, true).await;
    }
}

/// SCAN orders differ by design; the set of keys a full iteration returns must not.
#[tokio::test]
async fn full_scan_returns_the_same_keys_as_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for i in 0..700 {
        let k = format!("{}:{i}", ["user", "session", "cart"][i % 3]);
        ours.cmd(&["SET", &k, "v"]).await;
        theirs.cmd(&["SET", &k, "v"]).await;
    }
    for opts in [
        vec![],
        vec!["COUNT", "3"],
        vec!["MATCH", "user:*"],
        vec!["MATCH", "*:1?", "COUNT", "50"],
        vec!["TYPE", "string"],
        vec!["TYPE", "list"],
    ] {
        let mut results = Vec::new();
        for client in [&mut ours, &mut theirs] {
            let mut keys = Vec::new();
            let mut cursor = "0".to_string();
            loop {
                let mut args = vec!["SCAN".to_string(), cursor.clone()];
                args.extend(opts.iter().map(|s| s.to_string()));
                let Frame::Array(reply) = client.cmd(&args).await else {
                    panic!("SCAN reply not an array")
                };
                cursor = reply[0].as_text().unwrap();
                let Frame::Array(batch) = &reply[1] else {
                    panic!("SCAN keys not an array")
                };
                keys.extend(batch.iter().map(|k| k.as_text().unwrap()));
                if cursor == "0" {
                    break;
                }
            }
            keys.sort();
            keys.dedup();
            results.push(keys);
        }
        assert_eq!(results[0], results[1], "SCAN {opts:?}");
    }
}

/// Keys with a short TTL disappear for readers on both servers at the same point.
#[tokio::test]
async fn expiry_matches_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["SET", "short", "v", "PX", "150"]).await;
        c.cmd(&["SET", "long", "v", "EX", "100"]).await;
        c.cmd(&["SET", "n", "1", "PX", "150"]).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for cmd in [
        &["GET", "short"][..],
        &["EXISTS", "short", "long"],
        &["TTL", "short"],
        &["TTL", "long"],
        &["INCR", "n"],
        &["TTL", "n"],
        &["KEYS", "*"],
    ] {
        let args: Vec<Vec<u8>> = cmd.iter().map(|s| s.as_bytes().to_vec()).collect();
        both(&mut ours, &mut theirs, &args).await.unwrap();
    }
}

/// Sorted sets past the listpack limits (the chunked form): the same queries, the same replies.
#[tokio::test]
async fn big_sorted_sets_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let mut rng = StdRng::seed_from_u64(7);
    let mut zadd = vec!["ZADD".to_string(), "big".into()];
    let mut lex = vec!["ZADD".to_string(), "biglex".into()];
    for i in 0..700 {
        zadd.push(format!("{}", rng.gen_range(-50..50) as f64 / 4.0));
        zadd.push(format!("m{i}"));
        lex.push("0".into());
        lex.push(format!("w{:x}", rng.gen_range(0..4000)));
    }
    let mut script: Vec<Vec<String>> = vec![zadd, lex];
    let lines = [
        "OBJECT ENCODING big",
        "ZCARD big",
        "ZRANGE big 0 -1 WITHSCORES",
        "ZRANGE big 100 120 REV WITHSCORES",
        "ZRANGE big (-3 5 BYSCORE LIMIT 10 20 WITHSCORES",
        "ZRANGE big 5 (-3 BYSCORE REV LIMIT 3 40",
        "ZCOUNT big -2.5 (7",
        "ZRANK big m10",
        "ZREVRANK big m600",
        "ZSCORE big m333",
        "ZRANGEBYLEX biglex [w1 (w5",
        "ZREVRANGEBYLEX biglex (w9 - LIMIT 5 30",
        "ZLEXCOUNT biglex (w2 +",
        "ZINCRBY big 100 m5",
        "ZADD big GT CH 1 m6 -100 m7 3 newm",
        "ZPOPMIN big 7",
        "ZPOPMAX big 3",
        "ZREMRANGEBYSCORE big (0 2",
        "ZREMRANGEBYRANK big 10 200",
        "ZREMRANGEBYLEX biglex [w3 [w7",
        "ZRANGE big 0 -1 WITHSCORES",
        "ZRANGE biglex 0 -1",
        "ZUNIONSTORE u 2 big biglex WEIGHTS 2 3",
        "ZRANGE u 0 -1 WITHSCORES",
        "ZINTERSTORE i 2 big u AGGREGATE MAX",
        "ZRANGE i 0 -1 WITHSCORES",
        "OBJECT ENCODING i",
        "ZRANGESTORE small big 0 9",
        "OBJECT ENCODING small",
    ];
    script.extend(
        lines
            .iter()
            .map(|l| l.split(' ').map(String::from).collect()),
    );
    for cmd in script {
        let args: Vec<Vec<u8>> = cmd.into_iter().map(String::into_bytes).collect();
        both(&mut ours, &mut theirs, &args)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// DUMP and RESTORE against redis-server 7.0: payloads cross over both ways with equal
/// contents (every type, small and large encodings, integer and LZF strings), and every
/// error path and option answers as Redis does.
#[tokio::test]
async fn dump_and_restore_match_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let setup: Vec<Vec<Vec<u8>>> = {
        let mut s = vec![
            line("SET s:int 12345"),
            line("SET s:raw hello"),
            vec![b"SET".to_vec(), b"s:long".to_vec(), b"abcdefgh".repeat(100)],
            line("RPUSH l:small a 1 -7 bb"),
            line("SADD set:int 1 2 3 -100000"),
            line("SADD set:str a b c"),
            line("ZADD z:small 1 a 2.5 b -inf c"),
            line("HSET h:small f v n 42"),
        ];
        let mut big_list = vec![b"RPUSH".to_vec(), b"l:big".to_vec()];
        let mut big_zset = vec![b"ZADD".to_vec(), b"z:big".to_vec()];
        let mut big_hash = vec![b"HSET".to_vec(), b"h:big".to_vec()];
        for i in 0..600 {
            big_list.push(format!("{i:050}").into_bytes());
            big_zset.push(format!("{}", f64::from(i) / 3.0).into_bytes());
            big_zset.push(format!("m{i}").into_bytes());
            big_hash.push(format!("f{i}").into_bytes());
            big_hash.push(format!("v{i}").into_bytes());
        }
        s.extend([big_list, big_zset, big_hash]);
        s
    };
    for cmd in &setup {
        both(&mut ours, &mut theirs, cmd).await.unwrap();
    }
    let keys = [
        "s:int", "s:raw", "s:long", "l:small", "l:big", "set:int", "set:str", "z:small", "z:big",
        "h:small", "h:big",
    ];
    let read_back = |key: &str| -> Vec<Vec<Vec<u8>>> {
        vec![
            line(&format!("TYPE {key}")),
            line(&format!("GET {key}")),
            line(&format!("LRANGE {key} 0 -1")),
            line(&format!("SMEMBERS {key}")),
            line(&format!("ZRANGE {key} 0 -1 WITHSCORES")),
            line(&format!("HGETALL {key}")),
        ]
    };
    for key in keys {
        // Theirs restored here, ours restored there, under new names on both sides.
        let Frame::Bulk(from_redis) = theirs.cmd(&line(&format!("DUMP {key}"))).await else {
            panic!("DUMP {key} on redis")
        };
        let Frame::Bulk(from_us) = ours.cmd(&line(&format!("DUMP {key}"))).await else {
            panic!("DUMP {key} here")
        };
        let restore = |name: &str, payload: &[u8]| {
            vec![
                b"RESTORE".to_vec(),
                name.as_bytes().to_vec(),
                b"0".to_vec(),
                payload.to_vec(),
            ]
        };
        let copy = format!("copy:{key}");
        assert_eq!(
            ours.cmd(&restore(&copy, &from_redis)).await,
            Frame::Simple("OK".into()),
            "{key}"
        );
        assert_eq!(
            theirs.cmd(&restore(&copy, &from_us)).await,
            Frame::Simple("OK".into()),
            "{key}"
        );
        for cmd in read_back(&copy) {
            both(&mut ours, &mut theirs, &cmd).await.unwrap();
        }
    }
    // Options and errors, in Redis's order of checks.
    let Frame::Bulk(payload) = theirs.cmd(&line("DUMP s:raw")).await else {
        panic!()
    };
    let with = |tail: &str| {
        let mut a = vec![b"RESTORE".to_vec()];
        let mut parts = tail.split(' ');
        a.push(parts.next().unwrap().as_bytes().to_vec());
        a.push(parts.next().unwrap().as_bytes().to_vec());
        a.push(payload.clone());
        a.extend(parts.map(|p| p.as_bytes().to_vec()));
        a
    };
    let mut bad = payload.clone();
    bad[1] ^= 0x10;
    let mut failures = Vec::new();
    for args in [
        with("s:raw 0"),
        with("s:raw 0 REPLACE"),
        with("new1 -1"),
        with("new1 abc"),
        with("new1 0 BOGUS"),
        with("new1 0 IDLETIME -1"),
        with("new1 0 IDLETIME x"),
        with("new1 0 FREQ 256"),
        with("new1 0 FREQ -1"),
        with("new1 0 IDLETIME 10 FREQ 5"),
        with("new1 0 FREQ 5 IDLETIME 10"),
        with("new1 0 IDLETIME"),
        with("new2 0 IDLETIME 100"),
        with("new3 0 FREQ 100"),
        with("new4 1 ABSTTL"),
        with("new5 100000"),
        with("s:int 1 ABSTTL REPLACE"),
        vec![
            b"RESTORE".to_vec(),
            b"new6".to_vec(),
            b"0".to_vec(),
            bad.clone(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new6".to_vec(),
            b"0".to_vec(),
            b"garbage".to_vec(),
        ],
        vec![b"RESTORE".to_vec(), b"new6".to_vec(), b"0".to_vec()],
        line("DUMP nosuchkey"),
        line("DUMP"),
        line("EXISTS new1 new2 new3 new4 new5 s:int"),
        line("PTTL new5"),
        line("GET new2"),
        line("TYPE new3"),
    ] {
        if let Err(e) = both(&mut ours, &mut theirs, &args).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// MIGRATE from our node and from redis-server 7.0, each to a redis-server of its own: the
/// same replies (OK, NOKEY, BUSYKEY from the target, IOERR, syntax and argument errors), the
/// same keys left behind and arriving with their values and TTLs; and redis-server migrating
/// into our node.
#[tokio::test]
async fn migrate_matches_redis() {
    let (redis, node) = (RedisServer::start().await, Node::start().await);
    let (t_redis, t_node) = (RedisServer::start().await, RedisServer::start().await);
    let (mut theirs, mut ours) = (redis.client().await, node.client().await);
    let (tr, tn) = (
        t_redis.addr.port().to_string(),
        t_node.addr.port().to_string(),
    );
    let setup = [
        "SET a 1",
        "RPUSH l x y 3",
        "HSET h f v",
        "ZADD z 1.5 m",
        "SET t v PX 100000",
        "SET b 2",
    ];
    for cmd in setup {
        both(&mut ours, &mut theirs, &line(cmd)).await.unwrap();
    }
    let mut failures = Vec::new();
    let script = [
        "MIGRATE 127.0.0.1 {T} a 0 5000",
        "EXISTS a",
        "MIGRATE 127.0.0.1 {T} nosuch 0 5000",
        "MIGRATE 127.0.0.1 {T} <empty> 0 5000 KEYS l h z t nosuch",
        "EXISTS l h z t",
        "SET a 1",
        "MIGRATE 127.0.0.1 {T} a 0 5000",
        "EXISTS a",
        "MIGRATE 127.0.0.1 {T} a 0 5000 COPY REPLACE",
        "EXISTS a",
        "MIGRATE 127.0.0.1 {T} x 0 5000 KEYS a",
        "MIGRATE 127.0.0.1 {T} a 0 5000 BOGUS",
        "MIGRATE 127.0.0.1 {T} a 0 5000 AUTH",
        "MIGRATE 127.0.0.1 {T} a 0 5000 AUTH pw",
        "MIGRATE 127.0.0.1 {T} a 0 5000 AUTH2 user pw",
        "MIGRATE 127.0.0.1 {T} a x 5000",
        "MIGRATE 127.0.0.1 {T} a 0 x",
        "MIGRATE 127.0.0.1 {T} a 1 5000",
        "MIGRATE 127.0.0.1 1 a 0 200",
        "MIGRATE 127.0.0.1 {T} a 0",
        "EXISTS a b",
    ];
    for s in script {
        let a = line(&s.replace("{T}", &tn));
        let b = line(&s.replace("{T}", &tr));
        let (x, y) = (ours.cmd(&a).await, theirs.cmd(&b).await);
        if x != y {
            failures.push(format!("{s}\n  ours:  {}\n  redis: {}", show(&x), show(&y)));
        }
    }
    // What arrived on each target is the same.
    let (mut on_t_node, mut on_t_redis) = (t_node.client().await, t_redis.client().await);
    for cmd in [
        "GET a",
        "LRANGE l 0 -1",
        "HGETALL h",
        "ZRANGE z 0 -1 WITHSCORES",
        "GET t",
        "PTTL t",
        "DBSIZE",
    ] {
        if let Err(e) = both(&mut on_t_node, &mut on_t_redis, &line(cmd)).await {
            failures.push(e);
        }
    }
    // redis-server migrates into our node (SELECT 0, then RESTORE from its own payloads).
    let port = node.addr.port().to_string();
    for cmd in ["SET into:us yes", "RPUSH into:list 1 2"] {
        theirs.cmd(&line(cmd)).await;
    }
    let moved = theirs
        .cmd(&line(&format!(
            "MIGRATE 127.0.0.1 {port} <empty> 0 5000 KEYS into:us into:list"
        )))
        .await;
    assert_eq!(moved, Frame::Simple("OK".into()));
    assert_eq!(
        ours.cmd(&line("GET into:us")).await,
        Frame::Bulk(b"yes".to_vec())
    );
    assert_eq!(
        ours.cmd(&line("LRANGE into:list 0 -1")).await,
        Frame::Array(vec![Frame::Bulk(b"1".to_vec()), Frame::Bulk(b"2".to_vec())])
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// HyperLogLog against redis-server, byte for byte: the same elements give the same string
/// (sparse while small, promoted to dense past `hll-sparse-max-bytes` or a register over
/// 32), the same PFCOUNT and cached cardinality, the same union, and a sparse limit changed
/// by CONFIG SET.
#[tokio::test]
async fn hyperloglog_matches_redis_byte_for_byte() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    let mut failures = Vec::new();
    let mut check = |args: Vec<String>, a: Frame, b: Frame| {
        if a != b {
            failures.push(format!(
                "{args:?}:\n  ours:  {}\n  redis: {}",
                show(&a),
                show(&b)
            ));
        }
    };
    for (round, limit) in ["3000", "200", "0"].iter().enumerate() {
        let set = vec![
            "CONFIG".into(),
            "SET".into(),
            "hll-sparse-max-bytes".into(),
            limit.to_string(),
        ];
        let (a, b) = (ours.cmd(&set).await, theirs.cmd(&set).await);
        check(set, a, b);
        for batch in 0..40 {
            let mut add = vec!["PFADD".to_string(), format!("h{round}")];
            add.extend((0..batch * 25 + 1).map(|i| format!("e{round}:{batch}:{i}")));
            let (a, b) = (ours.cmd(&add).await, theirs.cmd(&add).await);
            check(
                vec![
                    "PFADD".into(),
                    format!("h{round}"),
                    format!("batch {batch}"),
                ],
                a,
                b,
            );
            for cmd in [
                vec!["GET".to_string(), format!("h{round}")],
                vec!["PFCOUNT".to_string(), format!("h{round}")],
                vec!["GET".to_string(), format!("h{round}")],
                vec![
                    "PFDEBUG".to_string(),
                    "ENCODING".into(),
                    format!("h{round}"),
                ],
            ] {
                let (a, b) = (ours.cmd(&cmd).await, theirs.cmd(&cmd).await);
                check(cmd, a, b);
            }
        }
    }
    // Corrupt sparse strings: registers that do not add up to 16384, a run past the end.
    let header = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80";
    for (name, body) in [
        ("short", vec![0x40u8, 99]),
        ("long", vec![0x7f, 0xff, 0x83]),
        ("val", vec![0x40, 0x00, 0xff, 0x7f, 0xff]),
    ] {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&body);
        let set: Vec<Vec<u8>> = vec![b"SET".to_vec(), name.as_bytes().to_vec(), bytes];
        let (a, b) = (ours.cmd(&set).await, theirs.cmd(&set).await);
        check(vec!["SET".into(), name.into()], a, b);
        for cmd in [
            vec!["PFCOUNT", name],
            vec!["PFCOUNT", name, "h0"],
            vec!["PFADD", name, "x", "y"],
            vec!["PFMERGE", "m", name],
            vec!["PFDEBUG", "GETREG", name],
            vec!["PFDEBUG", "DECODE", name],
        ] {
            let cmd: Vec<String> = cmd.into_iter().map(String::from).collect();
            let (a, b) = (ours.cmd(&cmd).await, theirs.cmd(&cmd).await);
            check(cmd, a, b);
        }
    }
    for cmd in [
        vec!["PFCOUNT", "h0", "h1", "h2"],
        vec!["PFMERGE", "u", "h0", "h1"],
        vec!["GET", "u"],
        vec!["PFCOUNT", "u"],
        vec!["PFMERGE", "h1", "h2"],
        vec!["GET", "h1"],
        vec!["PFDEBUG", "GETREG", "h2"],
    ] {
        let cmd: Vec<String> = cmd.into_iter().map(String::from).collect();
        let (a, b) = (ours.cmd(&cmd).await, theirs.cmd(&cmd).await);
        check(cmd, a, b);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The random command stream again, each command run by a script
/// (`EVAL "return redis.pcall(unpack(ARGV))" 0 <command...>`): every reply goes through the
/// reply-to-Lua and Lua-to-reply conversions, errors come back as error tables, commands a
/// script may not run say so — all compared with redis-server under the command's own rules.
#[tokio::test]
async fn random_commands_through_scripts_match_redis() {
    const SCRIPT: &str = "return redis.pcall(unpack(ARGV))";
    // `DIFF_SCRIPT_SEEDS=40` runs more seeds when hunting for a divergence.
    let seeds: u64 = std::env::var("DIFF_SCRIPT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for (seed, resp3) in (500..500 + seeds).map(|s| (s, s % 2 == 1)) {
        let redis = RedisServer::start().await;
        let node = Node::start().await;
        let (mut ours, mut theirs) = (node.client().await, redis.client().await);
        if resp3 {
            ours.cmd(&["HELLO", "3"]).await;
            theirs.cmd(&["HELLO", "3"]).await;
        }
        let mut rng = StdRng::seed_from_u64(seed);
        for i in 0..1500 {
            let args = random_command(&mut rng);
            let mut eval: Vec<Vec<u8>> =
                vec![b"EVAL".to_vec(), SCRIPT.as_bytes().to_vec(), b"0".to_vec()];
            eval.extend(args.iter().cloned());
            let (a, b) = (ours.cmd(&eval).await, theirs.cmd(&eval).await);
            let unordered = hashtable_same(&mut theirs, &args, &a, &b).await;
            assert!(
                unordered || same(&args, &a, &b),
                "seed {seed}, command #{i}: {args:?} in a script\n  ours:  {}\n  redis: {}",
                show(&a),
                show(&b)
            );
        }
    }
}

/// `rdb_changes_since_last_save` grows by what a command changed, as Redis counts it: a
/// SETBIT of the bit already there, or a BITFIELD SET of the value already there, is no
/// change; a new key always is; BITFIELD counts each write that changed something.
#[tokio::test]
async fn bit_commands_count_only_real_changes_like_redis() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let deltas = async |c: &mut RawClient| {
        let dirty = async |c: &mut RawClient| -> i64 {
            let info = c.run("INFO persistence").await.as_text().unwrap();
            let line = info
                .lines()
                .find(|l| l.starts_with("rdb_changes_since_last_save:"))
                .unwrap();
            line.split(':').nth(1).unwrap().trim().parse().unwrap()
        };
        let mut seen = Vec::new();
        for line in [
            "SETBIT foo 0 0",
            "BITFIELD foo2 SET i5 0 0",
            "SETBIT foo 0 0",
            "BITFIELD foo2 SET i5 0 0",
            "SETBIT foo 0 1",
            "SETBIT foo 0 1",
            "SETBIT foo 100 0",
            "BITFIELD foo2 SET i5 0 1 SET i5 0 1 GET u4 0",
            "BITFIELD foo2 INCRBY u2 100 0 OVERFLOW FAIL INCRBY u2 100 5",
            "BITFIELD foo3 SET u8 0 0 SET u8 8 0",
        ] {
            let before = dirty(c).await;
            c.cmd(&crate::support::split_quoted(line)).await;
            seen.push((line, dirty(c).await - before));
        }
        seen
    };
    let ours = deltas(&mut node.client().await).await;
    let theirs = deltas(&mut redis.client().await).await;
    assert_eq!(ours, theirs);
}
