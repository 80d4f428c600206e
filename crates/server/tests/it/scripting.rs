//! Lua scripting (EVAL, EVALSHA, EVAL_RO, SCRIPT) against redis-server 7.0, reply for reply
//! in RESP2 and RESP3: the sandbox (globals, read-only tables, absent libraries), the
//! `redis` library, the reply conversions both ways, the error texts (with the script line
//! that raised), shebang flags, `bit`, `cjson` and `math.random`. Then what a differential
//! test cannot show: atomicity across workers, BUSY and SCRIPT KILL, and the effects a
//! replica receives.

use std::time::{Duration, Instant};

use resp::Frame;
use server::Config;

use crate::support::{assert_cases_match, err, split_quoted, Node, RedisServer};

const CASES: &str = r##"
EVAL "return 1" 0
EVAL "return {1,2,{3,'a'},redis.status_reply('OK'), redis.error_reply('E x'), 1.5, true, false, nil, 7}" 0
EVAL "return {1,nil,3}" 0
EVAL "return true" 0
EVAL "return false" 0
EVAL "return nil" 0
EVAL "return 3.99" 0
EVAL "return -3.99" 0
EVAL "return 1e20" 0
EVAL "return 'a string'" 0
EVAL "return {err='x'}" 0
EVAL "return {err='a\r\nb'}" 0
EVAL "return {ok='fine'}" 0
EVAL "return {ok='a\r\nb'}" 0
EVAL "return redis.status_reply('x\r\ny')" 0
EVAL "return redis.error_reply('no code')" 0
EVAL "return redis.error_reply('-X with dash')" 0
EVAL "return redis.error_reply('single')" 0
EVAL "return redis.status_reply()" 0
EVAL "return redis.error_reply()" 0
EVAL "return redis.error_reply({})" 0
EVAL "return {double=1.5}" 0
EVAL "return {double=3}" 0
EVAL "return {map={a=1}}" 0
EVAL "return {set={a=true}}" 0
EVAL "return {big_number='123'}" 0
EVAL "return {verbatim_string={format='txt',string='abc'}}" 0
EVAL "return {1, {map={x=1}}}" 0
EVAL "return {1,2,{3,{4,{5}}}}" 0
EVAL "local t={} t[1]=1 t[2]=2 t[4]=4 return t" 0
EVAL "return KEYS" 2 a b c d
EVAL "return ARGV" 2 a b c d
EVAL "return {#KEYS, #ARGV}" 0
EVAL "KEYS[1]='x' return KEYS" 1 a
EVAL "return 1" -1
EVAL "return 1" 3 a
EVAL "return 1" x
EVAL "return 1"
EVAL
EVALSHA ffffffffffffffffffffffffffffffffffffffff 0
EVALSHA fff 0
EVAL "return redis.call('set','k','v')" 0
EVAL "return redis.call('get','k')" 0
EVALSHA 496368505412ccb8a568d43cf5c46b9910905b08 0
EVALSHA 496368505412CCB8A568D43CF5C46B9910905B08 0
EVAL "return redis.pcall('incr','k')" 0
EVAL "return redis.call('incr','k')" 0
EVAL "return redis.call('lpush','k', 'x')" 1 k
EVAL "return redis.pcall('lpush','k', 'x')" 1 k
EVAL "local e = redis.pcall('incr', 'k') return e['err']" 0
EVAL "return redis.call('nosuch')" 0
EVAL "return redis.pcall('nosuch')" 0
EVAL "return redis.call('incr','k','x')" 0
EVAL "return redis.call('GET','x','y')" 0
EVAL "return redis.call('object')" 0
EVAL "return redis.call('object','nosuchsub')" 0
EVAL "return redis.call('eval','return 1','0')" 0
EVAL "return redis.call('multi')" 0
EVAL "return redis.call('blpop','l',0)" 0
EVAL "return redis.call('subscribe','c')" 0
EVAL "return redis.call('client','list')" 0
EVAL "return redis.call('config','get','maxmemory')" 0
EVAL "return redis.call('script','load','return 1')" 0
EVAL "return redis.call('script','kill')" 0
EVAL "return redis.call()" 0
EVAL "return redis.call({})" 0
EVAL "return redis.call('set', {}, 1)" 0
EVAL "return redis.call('set', 'a', 1.5)" 0
EVAL "return redis.call('get', 'a')" 0
EVAL "return redis.call('set', 'a', 10)" 0
EVAL "return redis.call('incrby', 'a', 2.0)" 0
EVAL "return redis.call('ping')" 0
EVAL "return redis.call('hgetall','nohash')" 0
EVAL "return redis.call('get','nokey')" 0
EVAL "return {redis.call('get','nokey'), 1}" 0
EVAL "redis.setresp(3); return redis.call('hgetall','nohash')" 0
EVAL "redis.setresp(3); return redis.call('get','nokey')" 0
EVAL "redis.setresp(3); return {redis.call('get','nokey')}" 0
EVAL "redis.call('hset','h','f','v') redis.setresp(3) local r = redis.call('hgetall','h') return r['map']['f']" 0
EVAL "redis.call('sadd','s','m') redis.setresp(3) local r = redis.call('smembers','s') return tostring(r['set']['m'])" 0
EVAL "redis.setresp(3) local r = redis.call('zadd','z','1.5','m') return redis.call('zscore','z','m')" 0
EVAL "redis.setresp(3) return redis.call('zscore','z','m')['double']" 0
EVAL "redis.setresp(3) return true" 0
EVAL "redis.setresp(3) return false" 0
EVAL "return redis.setresp(4)" 0
EVAL "return redis.setresp()" 0
EVAL "return redis.sha1hex('')" 0
EVAL "return redis.sha1hex('abc')" 0
EVAL "return redis.sha1hex(12)" 0
EVAL "return redis.sha1hex()" 0
EVAL "return redis.log(redis.LOG_WARNING, 'hello')" 0
EVAL "return redis.log()" 0
EVAL "return redis.log('x', 'y')" 0
EVAL "return redis.log(9, 'y')" 0
EVAL "return redis.set_repl(redis.REPL_ALL)" 0
EVAL "return redis.set_repl(99)" 0
EVAL "return redis.set_repl()" 0
EVAL "return redis.replicate_commands()" 0
EVAL "return redis.breakpoint()" 0
EVAL "return redis.debug('x')" 0
EVAL "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL, redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}" 0
EVAL "return redis.acl_check_cmd('get','x')" 0
EVAL "return redis.acl_check_cmd('nosuch')" 0
EVAL "local r={} for k,v in pairs(redis) do if k ~= 'REDIS_VERSION' and k ~= 'REDIS_VERSION_NUM' then r[#r+1]=k..':'..type(v) end end table.sort(r) return r" 0
EVAL "local r={} for k,v in pairs(_G) do r[#r+1]=k..':'..type(v) end table.sort(r) return r" 0
EVAL "local r={} for k,v in pairs(string) do r[#r+1]=k end table.sort(r) return table.concat(r,' ')" 0
EVAL "local r={} for k,v in pairs(math) do r[#r+1]=k end table.sort(r) return table.concat(r,' ')" 0
EVAL "local r={} for k,v in pairs(table) do r[#r+1]=k end table.sort(r) return table.concat(r,' ')" 0
EVAL "local r={} for k,v in pairs(coroutine) do r[#r+1]=k end table.sort(r) return table.concat(r,' ')" 0
EVAL "return _VERSION" 0
EVAL "return type(loadstring)" 0
EVAL "local f = loadstring('return 5') return f()" 0
EVAL "return os" 0
EVAL "return io" 0
EVAL "return debug" 0
EVAL "return print" 0
EVAL "return require" 0
EVAL "return dofile" 0
EVAL "return setfenv" 0
EVAL "x=1" 0
EVAL "return y" 0
EVAL "_G.x = 1" 0
EVAL "string.x = 1" 0
EVAL "redis.call = 1" 0
EVAL "rawset(_G, 'x', 1) return x" 0
EVAL "setmetatable(_G, nil)" 0
EVAL "local t = getmetatable(_G) return type(t)" 0
EVAL "local t = {} t.x=1 return t.x" 0
EVAL "return rawget(string, 'len') ~= nil" 0
EVAL "syntax error here" 0
EVAL "return (" 0
EVAL "error('boom')" 0
EVAL "error('boom', 0)" 0
EVAL "error({err='MY boom'})" 0
EVAL "error({err='MY boom'}, 2)" 0
EVAL "local x = nil; return x.y" 0
EVAL "return 1 + {}" 0
EVAL "return pcall(function() error('x') end)" 0
EVAL "local ok, e = pcall(function() error('x') end) return e" 0
EVAL "local ok, e = pcall(function() redis.call('nosuch') end) return e" 0
EVAL "local ok, e = pcall(function() redis.call('nosuch') end) return type(e)" 0
EVAL "local ok, e = pcall(function() error({err='x'}) end) return e" 0
EVAL "local ok, e = pcall(function() error({1}) end) return type(e)" 0
EVAL "\n\nerror('line three')" 0
EVAL "local function f()\n return redis.call('nosuch')\nend\nreturn f()" 0
EVAL "local function f()\n local r = redis.call('nosuch')\n return r\nend\nreturn f()" 0
EVAL_RO "return redis.call('set','x','1')" 0
EVAL_RO "return redis.call('get','x')" 0
EVAL_RO "return 1" 0
EVALSHA_RO ffffffffffffffffffffffffffffffffffffffff 0
EVAL "#!lua flags=no-writes\nreturn redis.call('set','x','1')" 0
EVAL "#!lua\nreturn 1" 0
EVAL "#!lua flags=bad\nreturn 1" 0
EVAL "#!py\nreturn 1" 0
EVAL "#!lua name=x\nreturn 1" 0
EVAL "#!lua\nerror('x')" 0
EVAL "#!lua flags=no-writes,allow-oom\nreturn 1" 0
EVAL "#!lua flags=allow-cross-slot-keys\nreturn 1" 0
EVAL "#!lua flags=no-writes\nreturn redis.call('get',KEYS[1])" 1 x
EVAL "#!lua" 0
EVAL "#!lua flags=\nreturn 2" 0
EVAL "return {tostring(math.random()), tostring(math.random())}" 0
EVAL "return {math.random(10), math.random(5,8)}" 0
EVAL "math.randomseed(42) return tostring(math.random())" 0
EVAL "return math.random(0)" 0
EVAL "return math.random(3,1)" 0
EVAL "return string.format('%d %s %5.2f', 3, 'x', 1.5)" 0
EVAL "return tostring(1e20)" 0
EVAL "return tostring(1/3)" 0
EVAL "return tonumber('0x10')" 0
EVAL "return {bit.tohex(65535), bit.band(7,3), bit.bor(1,2), bit.lshift(1,31), bit.tobit(2^32+5), bit.bnot(0), bit.arshift(-8,1), bit.rshift(-8,1), bit.tohex(-1, -4), bit.rol(1, 33), bit.bswap(1), bit.bxor(5,3), bit.ror(1,1), bit.tohex(255, 2)}" 0
EVAL "return bit.tohex({})" 0
EVAL "return bit.band()" 0
EVAL "return bit.tobit('12')" 0
EVAL "return cjson.encode({1,2,'a',{b=1}})" 0
EVAL "return cjson.encode({a=1.5, b=true, c=cjson.null})" 0
EVAL "return cjson.encode({})" 0
EVAL "return cjson.encode(1/3)" 0
EVAL "return cjson.encode('a\"b/\n\1')" 0
EVAL "return cjson.encode({[1]=1,[3]=3})" 0
EVAL "return cjson.encode({[1]=1,[30]=3})" 0
EVAL "return cjson.encode(function() end)" 0
EVAL "return cjson.encode({[true]=1})" 0
EVAL "return cjson.encode(0/0)" 0
EVAL "return cjson.encode({x={y={z={1,2,{w='deep'}}}}})" 0
EVAL "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null" 0
EVAL "return cjson.decode('{\"a\":[1,2,3]}').a[2]" 0
EVAL "return cjson.decode('\"\\u00e9\\ud83d\\ude00\"')" 0
EVAL "return cjson.decode('bad')" 0
EVAL "return cjson.decode('')" 0
EVAL "return cjson.decode('[1,}')" 0
EVAL "return cjson.decode('{1:2}')" 0
EVAL "return cjson.decode('{\"a\" 2}')" 0
EVAL "return cjson.decode('[1 2]')" 0
EVAL "return cjson.decode('1 2')" 0
EVAL "return cjson.decode('\"\\x\"')" 0
EVAL "return cjson.decode('[1e400]')[1]" 0
EVAL "return cjson.decode(' [true, false, 12.5e1] ')" 0
EVAL "return cjson.encode(cjson.decode('{\"k\":\"v\"}'))" 0
EVAL "local a = {} for i=1,7999 do a[i] = 1 end return redis.call('lpush', 'biglist', unpack(a))" 0
EVAL "local a = {} for i=1,8000 do a[i] = 1 end return redis.call('lpush', 'biglist', unpack(a))" 0
EVAL "local a = {}; a[1] = a; return cmsgpack.pack(a)" 0
EVAL "local a = {}; a[1] = a; return cjson.encode(a)" 0
EVAL "return {redis.call('ping')}" 0
EVAL "return redis.call('ping')['ok']" 0
EVAL "return struct.pack('>I2', 258)" 0
EVAL "return struct.pack('<i4', -2)" 0
EVAL "return struct.pack('bBhHlLi1I8', 1,2,3,4,5,6,7,8)" 0
EVAL "return struct.pack('d', 1.5)" 0
EVAL "return struct.pack('>d', -1.5)" 0
EVAL "return struct.pack('f', 1.5)" 0
EVAL "return struct.pack('s', 'abc')" 0
EVAL "return struct.pack('c3', 'abcdef')" 0
EVAL "return struct.pack('c5', 'ab')" 0
EVAL "return struct.pack('c0', 'abc')" 0
EVAL "return struct.pack('!4 b i', 1, 2)" 0
EVAL "return struct.pack('!3 b i', 1, 2)" 0
EVAL "return struct.pack('! b d', 1, 2)" 0
EVAL "return struct.pack('x')" 0
EVAL "return struct.pack('i33', 1)" 0
EVAL "return struct.pack('i17', 1)" 0
EVAL "return struct.pack('q', 1)" 0
EVAL "return struct.pack('i', 'x')" 0
EVAL "return struct.pack('>I2', 70000)" 0
EVAL "return struct.size('>I2 i4 d')" 0
EVAL "return struct.size('!8 b d')" 0
EVAL "return struct.size('s')" 0
EVAL "return struct.size('c0')" 0
EVAL "return {struct.unpack('>I2', struct.pack('>I2', 258))}" 0
EVAL "return {struct.unpack('s', 'abc\0def')}" 0
EVAL "return {struct.unpack('s', 'abc')}" 0
EVAL "return {struct.unpack('c0', struct.pack('b', 3) .. 'abc')}" 0
EVAL "return {struct.unpack('bc0', struct.pack('b', 3) .. 'abc')}" 0
EVAL "return {struct.unpack('>i2', '\1')}" 0
EVAL "return {struct.unpack('<I4', 'abcd', 1)}" 0
EVAL "return {struct.unpack('<I2', 'abcd', 3)}" 0
EVAL "return {struct.unpack('<I2', 'abcd', 4)}" 0
EVAL "return {struct.unpack('<I2', 'abcd', 0)}" 0
EVAL "return tostring(struct.unpack('d', struct.pack('d', 1.25)))" 0
EVAL "return tostring(struct.unpack('>f', struct.pack('>f', 0.5)))" 0
EVAL "return {struct.unpack('>b B h', '\255\255\255\254')}" 0
EVAL "return {struct.unpack('!4 b i', struct.pack('!4 b i', 7, -9))}" 0
EVAL "return cmsgpack.pack({1,2,3})" 0
EVAL "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)" 0
EVAL "return cmsgpack.pack(1.5, 0.1, -2.25, 1e300, true, false, nil)" 0
EVAL "return cmsgpack.pack('', 'abc', string.rep('x', 40), string.rep('y', 300))" 0
EVAL "return cmsgpack.pack({}, {a=1}, {1, nil, 3}, {[2]=1})" 0
EVAL "local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)" 0
EVAL "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)" 0
EVAL "return cmsgpack.pack()" 0
EVAL "return {cmsgpack.unpack(cmsgpack.pack({1,'a',{x=1}}))}" 0
EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 2, 'three'))}" 0
EVAL "return cmsgpack.unpack(cmsgpack.pack({x={y='z'}})).x.y" 0
EVAL "return {cmsgpack.unpack(cmsgpack.pack(-5, 300, -300, 70000, -70000, 5000000000))}" 0
EVAL "return tostring(cmsgpack.unpack(cmsgpack.pack(1.5)))" 0
EVAL "return {cmsgpack.unpack('\147\1')}" 0
EVAL "return {cmsgpack.unpack('\193')}" 0
EVAL "return {cmsgpack.unpack('')}" 0
EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}" 0
EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}" 0
EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}" 0
EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}" 0
EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1), 5)}" 0
EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1), -1)}" 0
SCRIPT LOAD "return 1"
SCRIPT LOAD "return ("
SCRIPT LOAD "#!lua flags=bad\nreturn 1"
SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db ffffffffffffffffffffffffffffffffffffffff
SCRIPT EXISTS
SCRIPT FLUSH
SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db
EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
SCRIPT FLUSH ASYNC
SCRIPT FLUSH SYNC
SCRIPT FLUSH bad
SCRIPT FLUSH SYNC extra
SCRIPT KILL
SCRIPT KILL extra
SCRIPT LOAD
SCRIPT NOSUCH
SCRIPT DEBUG NO
SCRIPT DEBUG bogus
SCRIPT DEBUG
SCRIPT HELP
SCRIPT
FUNCTION FLUSH
FUNCTION LOAD "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return {keys, args} end)\nredis.register_function{function_name='ro', callback=function(k, a) return redis.call('get', k[1]) end, flags={'no-writes'}, description='reads'}"
FUNCTION LOAD "#!lua name=mylib\nredis.register_function('other', function() end)"
FUNCTION LOAD "#!lua name=single\nredis.register_function{function_name='s1', callback=function() return 1 end, flags={'no-writes', 'allow-stale'}, description='one'}"
FUNCTION LIST LIBRARYNAME single
FUNCTION LIST WITHCODE LIBRARYNAME sing*
FUNCTION LIST WITHCODE LIBRARYNAME SING*
FUNCTION DELETE single
FUNCTION LIST LIBRARYNAME x*
FUNCTION LIST LIBRARYNAME
FUNCTION LIST bogus
FUNCTION LIST WITHCODE WITHCODE
FCALL myfunc 1 k a
FCALL MYFUNC 2 k1 k2
FCALL myfunc 0
FCALL_RO myfunc 0
SET k v
FCALL_RO ro 1 k
FCALL ro 1 k
FCALL nosuch 0
FCALL_RO nosuch 0
FCALL myfunc x
FCALL myfunc -1
FCALL myfunc 5
FCALL nosuch x
FUNCTION STATS
FUNCTION DELETE nosuch
FUNCTION DELETE
FUNCTION LOAD "return 1"
FUNCTION LOAD "#!lua\nreturn 1"
FUNCTION LOAD "#!lua name=b\nreturn 1"
FUNCTION LOAD "#!lua name=x"
FUNCTION LOAD "#!lua name=\nreturn 1"
FUNCTION LOAD "#!lua name=x name=y\nredis.register_function('x1', function() return 1 end)"
FUNCTION LOAD "#!lua name=x foo=bar\nreturn 1"
FUNCTION LOAD "#!py name=x\nreturn 1"
FUNCTION LOAD "#!lua name=a-b\nreturn 1"
FUNCTION LOAD bad "#!lua name=x\nredis.register_function('x1', function() return 1 end)"
FUNCTION LOAD "#!lua name=c\nredis.register_function('f-1', function() end)"
FUNCTION LOAD "#!lua name=d\nredis.call('ping')"
FUNCTION LOAD "#!lua name=e\nredis.register_function('myfunc', function() end)"
FUNCTION LOAD "#!lua name=f\nerror('x')"
FUNCTION LOAD "#!lua name=h\nx = 1"
FUNCTION LOAD "#!lua name=h\nreturn ("
FUNCTION LOAD "#!lua name=h\nlocal x = redis.setresp"
FUNCTION LOAD "#!lua name=h\nlocal x = string"
FUNCTION LOAD "#!lua name=h\nredis.register_function('a', 1)"
FUNCTION LOAD "#!lua name=h\nredis.register_function('a', function() end, 3)"
FUNCTION LOAD "#!lua name=h\nredis.register_function()"
FUNCTION LOAD "#!lua name=h\nredis.register_function('k1')"
FUNCTION LOAD "#!lua name=h\nredis.register_function({1}, function() end)"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='a', callback=function() end, bogus=1}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{callback=function() end}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='k1'}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name={}, callback=function() end}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='a', callback=3}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='a', callback=function() end, flags='no-writes'}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='a', callback=function() end, flags={'bad'}}"
FUNCTION LOAD "#!lua name=h\nredis.register_function{function_name='a', callback=function() end, flags={1}}"
FUNCTION LOAD "#!lua name=h\nredis.register_function('x1', function() return 1 end) redis.register_function('X1', function() return 1 end)"
FUNCTION LOAD "#!lua name=g\nredis.register_function{function_name='g1', callback=function() error('inner') end, description=3, flags={'NO-WRITES', 'allow-oom'}}"
FCALL g1 0
FUNCTION LIST LIBRARYNAME g
FUNCTION DELETE g
FUNCTION LOAD "#!lua name=i\nredis.register_function('i1', function() return y end)"
FCALL i1 0
FUNCTION DELETE i
FUNCTION LOAD "#!lua name=j\nredis.register_function('j1', function() return redis.register_function('y', function() end) end)"
FCALL j1 0
FUNCTION DELETE j
FUNCTION LOAD "#!lua name=l\nredis.register_function('l1', function(k, a) redis.setresp(3) return {double=#k + #a} end)"
FCALL l1 1 a b c
FUNCTION LOAD "#!lua name=m\nredis.register_function('l1', function() return 1 end)"
FUNCTION LOAD REPLACE "#!lua name=l\nredis.register_function('l2', function() return 2 end)"
FCALL l1 0
FCALL l2 0
FUNCTION LOAD REPLACE REPLACE "#!lua name=l\nredis.register_function('l3', function() return redis.call('incr', 'fctr') end)"
FCALL l3 0
FCALL l3 0
FUNCTION DELETE l
FUNCTION LOAD "#!lua name=w\nredis.register_function{function_name='w1', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}"
FCALL w1 1 key
FUNCTION DELETE w
FUNCTION RESTORE bad
FUNCTION RESTORE bad bogus
FUNCTION FLUSH bogus
FUNCTION FLUSH SYNC extra
FUNCTION RESTORE x y z
FUNCTION FLUSH ASYNC
FUNCTION KILL
FUNCTION STATS x
FUNCTION LIST
FUNCTION NOSUCH
SADD sortme a b c d e f g h i l m n o p q r s t u v z aa aaa azz
EVAL "return redis.call('sort',KEYS[1],'by','_')" 1 sortme
EVAL "return redis.call('sort',KEYS[1],'by','_','get','#','get','_:*')" 1 sortme
DEBUG SET-DISABLE-DENY-SCRIPTS 1
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'bignum')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'map')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'set')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'double')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'null')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'verbatim')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'true')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'false')" 0
EVAL "redis.setresp(2);return redis.call('debug', 'protocol', 'attrib')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'bignum')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'map')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'set')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'double')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'null')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'verbatim')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'true')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'false')" 0
EVAL "redis.setresp(3);return redis.call('debug', 'protocol', 'attrib')" 0
EVAL "return {big_number='123\\r\\n123'}" 0
DEBUG SET-DISABLE-DENY-SCRIPTS 0
EVAL "return redis.call('debug', 'protocol', 'true')" 0
MULTI
EVAL "return redis.call('incr','ctr')" 0
EVAL "return redis.call('incr','ctr')" 0
EXEC
"##;

async fn curated(resp3: bool) {
    // DEBUG (SET-DISABLE-DENY-SCRIPTS, PROTOCOL) as Redis's own scripting tests use it.
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]).await;
    let node = Node::start().await;
    assert_cases_match(&node, &redis, CASES, split_quoted, resp3).await;
}

#[tokio::test]
async fn curated_scripting_cases_match_redis_in_resp2() {
    curated(false).await;
}

#[tokio::test]
async fn curated_scripting_cases_match_redis_in_resp3() {
    curated(true).await;
}

/// A script runs alone: 8 clients over both workers each run a read-modify-write script
/// (GET, then SET of the value + 1, with a loop between to widen the window) 200 times;
/// not one increment is lost.
/// A command a script calls but that is refused before it runs (wrong arity, OOM,
/// `noscript`) counts as a rejected call of that command, as Redis's scriptCall counts it
/// (Redis's own suite: "Consistent eval error reporting").
#[tokio::test]
async fn refused_script_calls_count_as_rejected_calls() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let mut stats = Vec::new();
    for mut c in [node.client().await, redis.client().await] {
        c.run("CONFIG RESETSTAT").await;
        c.run("CONFIG SET maxmemory 1").await;
        c.cmd(&["EVAL", "return redis.call('set','x','y')", "1", "x"])
            .await;
        c.cmd(&["EVAL", "return redis.call('get')", "0"]).await;
        c.cmd(&["EVAL", "return redis.call('save')", "0"]).await;
        c.run("CONFIG SET maxmemory 0").await;
        let Frame::Bulk(info) = c.run("INFO commandstats").await else {
            panic!()
        };
        let mut lines: Vec<String> = String::from_utf8(info)
            .unwrap()
            .lines()
            .filter(|l| {
                ["cmdstat_set:", "cmdstat_get:", "cmdstat_save:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| l.to_string())
            .collect();
        lines.sort();
        stats.push(lines);
    }
    assert_eq!(stats[0].len(), 3, "{:?}", stats[0]);
    assert_eq!(stats[0], stats[1]);
}

/// An error `redis.call` raises counts once in errorstats — when the command failed or was
/// refused — not again when it ends the script; a refusal `redis.pcall` catches counts too;
/// an error the script raises itself counts when it ends the script (Redis's
/// `ignore_error_stats_update`).
#[tokio::test]
async fn script_errors_count_once_in_errorstats() {
    let node = Node::start().await;
    let redis = RedisServer::start().await;
    let mut stats = Vec::new();
    for mut c in [node.client().await, redis.client().await] {
        c.run("CONFIG RESETSTAT").await;
        c.run("RPUSH l a").await;
        for script in [
            "return redis.call('incr', KEYS[1])",
            "local t = redis.pcall('incr', KEYS[1]) return 1",
            "return redis.call('nosuch')",
            "local t = redis.pcall('get') return 1",
            "return error({err='MY thing'})",
            "return redis.error_reply('X y')",
        ] {
            c.cmd(&["EVAL", script, "1", "l"]).await;
        }
        let mut lines = Vec::new();
        for section in ["errorstats", "stats"] {
            let Frame::Bulk(info) = c.cmd(&["INFO", section]).await else {
                panic!()
            };
            lines.extend(
                String::from_utf8(info)
                    .unwrap()
                    .lines()
                    .filter(|l| l.starts_with("errorstat_") || l.starts_with("total_error_replies"))
                    .map(|l| l.to_string()),
            );
        }
        lines.sort();
        stats.push(lines);
    }
    assert_eq!(stats[0], stats[1]);
}

#[tokio::test]
async fn scripts_are_atomic_across_workers() {
    let node = Node::start_with(Config {
        threads: 2,
        ..Config::default()
    })
    .await;
    let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
                  for i = 1, 2000 do end \
                  redis.call('set', KEYS[1], tostring(v + 1)) return v + 1";
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut c = node.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let r = c.cmd(&["EVAL", script, "1", "counter"]).await;
                assert!(matches!(r, Frame::Integer(_)), "{r:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = node.client().await;
    assert_eq!(c.run("GET counter").await, Frame::Bulk(b"1600".to_vec()));
}

/// A script past `busy-reply-threshold` (Redis's `lua-time-limit`): other clients get
/// BUSY (but `allow_busy` commands run), SCRIPT KILL stops it and its client gets the kill
/// error; a script that wrote is UNKILLABLE and finishes; FUNCTION-style kills of an EVAL
/// answer Redis's errors; afterwards everything is served again.
#[tokio::test]
async fn busy_scripts_answer_busy_and_can_be_killed() {
    let node = Node::start_with(Config {
        threads: 2,
        ..Config::default()
    })
    .await;
    // Round-robin: the script's client on one worker, the other client on the other.
    let mut runner = node.client().await;
    let mut other = node.client().await;
    assert_eq!(
        other.run("CONFIG SET lua-time-limit 100").await,
        Frame::Simple("OK".into())
    );
    assert_eq!(
        other.run("SCRIPT KILL").await,
        err("NOTBUSY No scripts in execution right now.")
    );
    runner.send(&["EVAL", "while true do end", "0"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    assert_eq!(other.run("PING").await, err(busy));
    assert_eq!(other.run("GET k").await, err(busy));
    // New connections go to the worker the script does not hold, so they are answered.
    for _ in 0..3 {
        let mut fresh = node.client().await;
        let reply = tokio::time::timeout(Duration::from_secs(2), fresh.run("PING")).await;
        assert_eq!(reply.expect("a new connection was answered"), err(busy));
    }
    // MULTI is allowed while busy; what it queues is refused, and EXEC aborts naming why
    // and ends the transaction (Redis's rejectCommand on EXEC).
    assert_eq!(other.run("MULTI").await, Frame::Simple("OK".into()));
    assert_eq!(other.run("SET k v").await, err(busy));
    assert_eq!(
        other.run("EXEC").await,
        err(&format!(
            "EXECABORT Transaction discarded because of: {busy}"
        ))
    );
    assert_eq!(other.run("DISCARD").await, err("ERR DISCARD without MULTI"));
    assert_eq!(other.run("MULTI").await, Frame::Simple("OK".into()));
    assert_eq!(other.run("DISCARD").await, Frame::Simple("OK".into()));
    assert_eq!(other.run("SCRIPT KILL").await, Frame::Simple("OK".into()));
    let killed = runner.read().await.expect("the script's reply");
    match &killed {
        Frame::Error(e) => assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL..."),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(other.run("PING").await, Frame::Simple("PONG".into()));
    assert_eq!(runner.run("PING").await, Frame::Simple("PONG".into()));

    // A script that wrote cannot be killed; it runs to its end (1.5 s by the node's clock).
    let bounded = "redis.call('set','w','1') \
                   local function now() local t = redis.call('time') return t[1] * 1000000 + t[2] end \
                   local start = now() \
                   while now() - start < 1500000 do for i = 1, 10000 do end end \
                   return 1";
    runner.send(&["EVAL", bounded, "0"]).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let started = Instant::now();
    let kill = other.run("SCRIPT KILL").await;
    assert_eq!(kill, err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
    assert_eq!(runner.read().await, Some(Frame::Integer(1)));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(other.run("GET w").await, Frame::Bulk(b"1".to_vec()));

    // A script that wrote and never ends: SHUTDOWN refuses while it is busy, SHUTDOWN
    // NOSAVE stops it and the node.
    runner
        .send(&["EVAL", "redis.call('set','w','2') while true do end", "0"])
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other.run("SCRIPT KILL").await, err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
    assert_eq!(other.run("SHUTDOWN").await, err(busy));
    other.send(&["SHUTDOWN", "NOSAVE"]).await;
    assert!(other.is_closed().await);
    let stopped = tokio::time::timeout(Duration::from_secs(10), node.stop()).await;
    assert!(stopped.is_ok(), "the node did not stop");
}

const LIB_A: &str =
    "#!lua name=liba\nredis.register_function('fa', function(keys, args) return 'a' end)";
const LIB_B: &str = "#!lua name=libb\nredis.register_function{function_name='fb', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}";

/// FUNCTION DUMP payloads travel both ways between the node and redis-server, and
/// FUNCTION RESTORE's policies (APPEND refuses a library that exists, REPLACE swaps it,
/// FLUSH starts over) leave nothing half-restored on error.
#[tokio::test]
async fn function_dump_and_restore_interoperate_with_redis() {
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for c in [&mut ours, &mut theirs] {
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", LIB_A]).await,
            Frame::Bulk(b"liba".to_vec())
        );
    }
    assert_eq!(
        ours.cmd(&["FUNCTION", "LOAD", LIB_B]).await,
        Frame::Bulk(b"libb".to_vec())
    );
    let Frame::Bulk(payload) = ours.run("FUNCTION DUMP").await else {
        panic!("no payload")
    };
    // redis-server already has liba: APPEND refuses the whole payload.
    let refused = theirs
        .cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload])
        .await;
    assert_eq!(refused, err("ERR Library liba already exists"));
    assert_eq!(
        theirs.cmd(&["FCALL", "fb", "1", "k"]).await,
        err("ERR Function not found")
    );
    let replaced = theirs
        .cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload, b"REPLACE"])
        .await;
    assert_eq!(replaced, Frame::Simple("OK".into()));
    theirs.run("SET k v").await;
    assert_eq!(
        theirs.cmd(&["FCALL_RO", "fb", "1", "k"]).await,
        Frame::Bulk(b"v".to_vec())
    );

    // And back: redis-server's payload into a node that has other libraries.
    let Frame::Bulk(theirs_payload) = theirs.run("FUNCTION DUMP").await else {
        panic!("no payload")
    };
    ours.run("FUNCTION FLUSH").await;
    ours.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=libc\nredis.register_function('fc', function() return 'c' end)",
    ])
    .await;
    let flushed = ours
        .cmd(&[
            b"FUNCTION".as_slice(),
            b"RESTORE",
            &theirs_payload,
            b"FLUSH",
        ])
        .await;
    assert_eq!(flushed, Frame::Simple("OK".into()));
    assert_eq!(
        ours.cmd(&["FCALL", "fc", "0"]).await,
        err("ERR Function not found")
    );
    assert_eq!(
        ours.cmd(&["FCALL", "fa", "0"]).await,
        Frame::Bulk(b"a".to_vec())
    );
    ours.run("SET k w").await;
    assert_eq!(
        ours.cmd(&["FCALL", "FB", "1", "k"]).await,
        Frame::Bulk(b"w".to_vec())
    );
    let stats = ours.run("FUNCTION STATS").await;
    let text = format!("{stats:?}");
    assert!(text.contains("Integer(2), Bulk([102, 117, 110, 99, 116, 105, 111, 110, 115, 95, 99, 111, 117, 110, 116]), Integer(2)"), "{text}");

    // A payload whose libraries collide on a function name changes nothing.
    ours.run("FUNCTION FLUSH").await;
    ours.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=other\nredis.register_function('fa', function() return 'other' end)",
    ])
    .await;
    let collides = ours
        .cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &theirs_payload])
        .await;
    assert_eq!(collides, err("ERR Function fa already exists"));
    assert_eq!(
        ours.cmd(&["FCALL", "fa", "0"]).await,
        Frame::Bulk(b"other".to_vec())
    );
    let mut bad = theirs_payload.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0xff;
    assert_eq!(
        ours.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &bad]).await,
        err("ERR DUMP payload version or checksum are wrong")
    );
}

/// A function past `busy-reply-threshold`: FUNCTION STATS (allowed while busy) names it,
/// SCRIPT KILL answers that a function runs, FUNCTION KILL stops it. A library whose
/// loading never ends is stopped after 500 ms and nothing is registered.
#[tokio::test]
async fn busy_functions_are_reported_and_killed_and_loading_times_out() {
    let node = Node::start_with(Config {
        threads: 2,
        ..Config::default()
    })
    .await;
    let mut runner = node.client().await;
    let mut other = node.client().await;
    other.run("CONFIG SET busy-reply-threshold 100").await;
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(
        other.cmd(&["FUNCTION", "LOAD", lib]).await,
        Frame::Bulk(b"spin".to_vec())
    );
    runner.send(&["FCALL", "spin", "0"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        other.run("PING").await,
        err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    let stats = format!("{:?}", other.run("FUNCTION STATS").await);
    assert!(stats.contains("Bulk([115, 112, 105, 110])"), "{stats}"); // "spin"
    assert_eq!(
        other.run("SCRIPT KILL").await,
        err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(other.run("FUNCTION KILL").await, Frame::Simple("OK".into()));
    match runner.read().await {
        Some(Frame::Error(e)) => assert!(e.contains("Script killed by user"), "{e}"),
        other => panic!("{other:?}"),
    }
    let endless = "#!lua name=endless\nlocal n = 0\nwhile true do n = n + 1 end";
    let started = Instant::now();
    match other.cmd(&["FUNCTION", "LOAD", endless]).await {
        Frame::Error(e) => assert!(e.contains("FUNCTION LOAD timeout"), "{e}"),
        reply => panic!("{reply:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        other.run("FUNCTION LIST LIBRARYNAME endless").await,
        Frame::Array(vec![])
    );
    assert_eq!(runner.run("PING").await, Frame::Simple("PONG".into()));
}

/// Function libraries live in snapshots as Redis keeps them: they survive DEBUG RELOAD,
/// redis-server loads the node's dump.rdb with them, and the node loads redis-server's.
#[tokio::test]
async fn function_libraries_persist_in_snapshots_both_ways() {
    let dir = crate::support::temp_dir("functions");
    let node = Node::start_with(Config {
        dir: dir.clone(),
        ..Config::default()
    })
    .await;
    let mut ours = node.client().await;
    assert_eq!(
        ours.cmd(&["FUNCTION", "LOAD", LIB_A]).await,
        Frame::Bulk(b"liba".to_vec())
    );
    ours.run("SET k v").await;
    assert_eq!(ours.run("DEBUG RELOAD").await, Frame::Simple("OK".into()));
    assert_eq!(
        ours.cmd(&["FCALL", "fa", "0"]).await,
        Frame::Bulk(b"a".to_vec())
    );
    assert_eq!(ours.run("SAVE").await, Frame::Simple("OK".into()));

    let redis = RedisServer::start_with(&["--dir", dir.to_str().unwrap()]).await;
    let mut theirs = redis.client().await;
    assert_eq!(
        theirs.cmd(&["FCALL", "fa", "0"]).await,
        Frame::Bulk(b"a".to_vec())
    );
    assert_eq!(theirs.run("GET k").await, Frame::Bulk(b"v".to_vec()));
    assert_eq!(
        theirs.cmd(&["FUNCTION", "LOAD", LIB_B]).await,
        Frame::Bulk(b"libb".to_vec())
    );
    assert_eq!(theirs.run("SAVE").await, Frame::Simple("OK".into()));
    drop(theirs);
    drop(redis);

    let again = Node::start_with(Config {
        dir: dir.clone(),
        ..Config::default()
    })
    .await;
    let mut c = again.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(c.run("DBSIZE").await, Frame::Error(e) if e.starts_with("LOADING")) {
        assert!(Instant::now() < deadline, "still loading");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.cmd(&["FCALL", "fa", "0"]).await,
        Frame::Bulk(b"a".to_vec())
    );
    assert_eq!(
        c.cmd(&["FCALL_RO", "fb", "1", "k"]).await,
        Frame::Bulk(b"v".to_vec())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// In cluster mode a script's declared keys must share a slot (CROSSSLOT otherwise, before
/// it runs), and a key it did not declare must still be in a slot of this node; a script
/// flagged `no-cluster` does not run; `allow-cross-slot-keys` is accepted.
#[tokio::test]
async fn scripts_in_cluster_mode_keep_to_one_slot() {
    let node = Node::start_with(Config {
        cluster_enabled: true,
        ..Config::default()
    })
    .await;
    let mut c = node.client().await;
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "2", "a", "b"]).await,
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "return redis.call('set', KEYS[1], 'x')",
            "2",
            "{u}a",
            "{u}b"
        ])
        .await,
        Frame::Simple("OK".into())
    );
    // A single node owns every slot: an undeclared key is local, so it works here.
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('get', '{u}a')", "0"])
            .await,
        Frame::Bulk(b"x".to_vec())
    );
    assert_eq!(
        c.cmd(&["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"])
            .await,
        err("ERR Can not run script on cluster, 'no-cluster' flag is set.")
    );
    assert_eq!(
        c.cmd(&["FCALL", "nosuch", "2", "a", "b"]).await,
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
}

/// A script returning a table that contains itself: the reply nests as deep as Lua's stack
/// allows, then says so — byte for byte what redis-server answers (7,995 levels).
#[tokio::test]
async fn a_self_containing_reply_ends_where_redis_ends_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let redis = RedisServer::start().await;
    let node = Node::start().await;
    let mut replies = Vec::new();
    for addr in [node.addr, redis.addr] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = Vec::new();
        resp::request::encode_command(
            &[
                "EVAL",
                "local a = {}; local b = {a}; a[1] = b; return a",
                "0",
            ],
            &mut req,
        );
        s.write_all(&req).await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"reached lua stack limit\r\n") {
            let mut buf = [0u8; 65536];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("a reply")
                .unwrap();
            assert!(n > 0, "closed");
            got.extend_from_slice(&buf[..n]);
        }
        replies.push(got);
    }
    assert_eq!(replies[0].len(), replies[1].len());
    assert!(replies[0] == replies[1]);
}

/// INFO memory reports the Lua VM and the script caches; 10,000 scripts leave the VM small
/// (Redis's "EVAL does not leak in the Lua stack": under 100 KB).
#[tokio::test]
async fn scripts_do_not_grow_the_lua_heap() {
    let node = Node::start().await;
    let mut c = node.client().await;
    let script = "return redis.call('incr', KEYS[1])";
    let mut pipeline = Vec::new();
    for _ in 0..10_000 {
        resp::request::encode_command(&["EVAL", script, "1", "x"], &mut pipeline);
    }
    c.send_raw(&pipeline).await;
    for _ in 0..10_000 {
        c.read().await.expect("a reply");
    }
    assert_eq!(c.run("GET x").await, Frame::Bulk(b"10000".to_vec()));
    let info = c.run("INFO memory").await.as_text().unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in INFO"))
    };
    assert!(field("used_memory_lua") > 10_000);
    assert!(
        field("used_memory_lua") < 100 * 1024,
        "{}",
        field("used_memory_lua")
    );
    assert_eq!(field("number_of_cached_scripts"), 1);
    c.cmd(&["FUNCTION", "LOAD", LIB_A]).await;
    let info = c.run("INFO memory").await.as_text().unwrap();
    assert!(
        info.contains("number_of_functions:1\r\nnumber_of_libraries:1"),
        "{info}"
    );
}

/// One worker: the script's connection and the others share it. Past the threshold the
/// others are still answered (-BUSY) and SCRIPT KILL from one of them ends the script, as
/// Redis serves its clients from inside a long script; a MULTI queued before it aborts.
#[tokio::test]
async fn a_busy_script_does_not_hold_the_other_connections_of_its_worker() {
    let node = Node::start_with(Config {
        threads: 1,
        ..Config::default()
    })
    .await;
    let mut runner = node.client().await;
    let mut other = node.client().await;
    let mut queued = node.client().await;
    other.run("CONFIG SET busy-reply-threshold 50").await;
    assert_eq!(queued.run("MULTI").await, Frame::Simple("OK".into()));
    assert_eq!(queued.run("INCR xx").await, Frame::Simple("QUEUED".into()));
    runner.send(&["EVAL", "while true do end", "0"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    let answered = tokio::time::timeout(Duration::from_secs(5), other.run("PING")).await;
    assert_eq!(answered.expect("answered while the script runs"), err(busy));
    let exec = tokio::time::timeout(Duration::from_secs(5), queued.run("EXEC")).await;
    assert_eq!(
        exec.expect("answered"),
        err(&format!(
            "EXECABORT Transaction discarded because of: {busy}"
        ))
    );
    let kill = tokio::time::timeout(Duration::from_secs(5), other.run("SCRIPT KILL")).await;
    assert_eq!(kill.expect("answered"), Frame::Simple("OK".into()));
    let killed = runner.read().await.expect("the script's reply");
    assert!(
        matches!(&killed, Frame::Error(e) if e.starts_with("ERR Script killed by user")),
        "{killed:?}"
    );
    assert_eq!(other.run("GET xx").await, Frame::Null);
    assert_eq!(queued.run("PING").await, Frame::Simple("PONG".into()));
}

/// A function declared `allow-oom` writes over `maxmemory`; one without the flag is refused
/// with Redis's OOM text. Compared with redis-server.
#[tokio::test]
async fn allow_oom_functions_write_over_maxmemory_like_redis() {
    let node = Node::start().await;
    let redis = crate::support::RedisServer::start().await;
    let cases = r##"
        FUNCTION LOAD "#!lua name=f1\nredis.register_function{function_name='f1', callback=function() return redis.call('set', 'x', '1') end, flags={'allow-oom'}}"
        FUNCTION LOAD "#!lua name=f2\nredis.register_function{function_name='f2', callback=function() return redis.call('set', 'y', '1') end}"
        CONFIG SET maxmemory 1
        FCALL f1 1 x
        GET x
        FCALL f2 1 y
        GET y
        CONFIG SET maxmemory 0
    "##;
    crate::support::assert_cases_match(&node, &redis, cases, crate::support::split_quoted, false)
        .await;
}

/// A library's first line is split as Redis splits it (sdssplitargs): quotes around the
/// name, and the errors for unbalanced quotes, repeated and unknown metadata.
#[tokio::test]
async fn library_metadata_is_split_as_redis_splits_it() {
    let redis = crate::support::RedisServer::start().await;
    let node = crate::support::Node::start().await;
    let (mut ours, mut theirs) = (node.client().await, redis.client().await);
    for first in [
        "#!lua name=\"foo\"",
        "#!lua name='bar'",
        "#!lua name=\"unbalanced",
        "#!lua name=foo name=bar",
        "#!lua name=x other=1",
        "#!\"lua\" name=q",
        "#!lua name=\"a b\"",
    ] {
        let code = format!("{first}\nredis.register_function('f', function() return 1 end)");
        let args = ["FUNCTION", "LOAD", "REPLACE", code.as_str()];
        assert_eq!(ours.cmd(&args).await, theirs.cmd(&args).await, "{first}");
    }
}
