// ioredis's defineCommand (EVALSHA with an EVAL fallback) and its function calls against a
// standalone node (SHARDCACHE_BIN, default target/debug/shardcache).
const { test } = require("node:test");
const assert = require("node:assert");
const net = require("node:net");
const path = require("node:path");
const { spawn } = require("node:child_process");
const Redis = require("ioredis");

const ROOT = path.resolve(__dirname, "..", "..");
const BIN = process.env.SHARDCACHE_BIN || path.join(ROOT, "target", "debug", "shardcache");

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startNode() {
  const port = await freePort();
  const proc = spawn(BIN, ["server", "--port", String(port)], { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1", () => { c.end(); resolve(true); });
      c.on("error", () => resolve(false));
    });
    if (up) return { proc, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill();
  throw new Error("node did not start");
}

test("defineCommand runs a script by its SHA1, loading it when the cache was flushed", async () => {
  const { proc, port } = await startNode();
  const redis = new Redis({ port, lazyConnect: true });
  try {
    await redis.connect();
    redis.defineCommand("takeToken", {
      numberOfKeys: 1,
      lua: `
        local left = tonumber(redis.call('get', KEYS[1]) or ARGV[1])
        if left <= 0 then return 0 end
        redis.call('set', KEYS[1], left - 1)
        return left`,
    });
    assert.strictEqual(await redis.takeToken("bucket", 3), 3);
    assert.strictEqual(await redis.takeToken("bucket", 3), 2);
    await redis.script("FLUSH");
    assert.strictEqual(await redis.takeToken("bucket", 3), 1);
    assert.strictEqual(await redis.takeToken("bucket", 3), 0);
    const results = await redis.pipeline().takeToken("other", 2).takeToken("other", 2).exec();
    assert.deepStrictEqual(results, [[null, 2], [null, 1]]);
    await assert.rejects(redis.eval("return redis.call('nosuch')", 0), /Unknown Redis command called from script/);
    await redis.function("LOAD", "REPLACE", "#!lua name=jslib\nredis.register_function('twice', function(keys, args) return args[1] * 2 end)");
    assert.strictEqual(await redis.fcall("twice", 0, 21), 42);
  } finally {
    redis.disconnect();
    proc.kill();
  }
});
