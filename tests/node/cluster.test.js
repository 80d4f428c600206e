// ioredis's Cluster client against `shardcache dev`: slot discovery, routing by key, hash tags,
// and MOVED followed after a node joins. The binary is SHARDCACHE_BIN (default
// target/debug/shardcache), started by the test.
const { test } = require("node:test");
const assert = require("node:assert");
const net = require("node:net");
const path = require("node:path");
const { spawn } = require("node:child_process");
const Redis = require("ioredis");

const ROOT = path.resolve(__dirname, "..", "..");
const BIN = process.env.SHARDCACHE_BIN || path.join(ROOT, "target", "debug", "shardcache");

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function freeBase(n) {
  for (let base = 24000 + (process.pid * 7) % 5000; base < 34000; base += 13) {
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      ok = (await portFree(base + i)) && (await portFree(base + 1000 + i)) && (await portFree(base + 10000 + i));
    }
    if (ok) return base;
  }
  throw new Error("no free ports");
}

function startDev(base) {
  const dev = spawn(BIN, ["dev", "--nodes", "3", "--base-port", String(base), "--threads", "1"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("dev cluster never came up: " + seen)), 60000);
    dev.stdout.on("data", (chunk) => {
      seen += chunk;
      if (seen.includes("Ctrl-C")) {
        clearTimeout(timer);
        resolve(dev);
      }
    });
    dev.on("exit", (code) => reject(new Error("dev exited " + code + ": " + seen)));
  });
}

async function waitFor(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch (_) {}
    if (Date.now() > deadline) throw new Error("never happened: " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function clusterOk(port, nodes) {
  const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await r.connect();
    const info = await r.cluster("INFO");
    return info.includes("cluster_state:ok") && info.includes(`cluster_known_nodes:${nodes}`)
      && info.includes("cluster_slots_moving:0");
  } finally {
    r.disconnect();
  }
}

test("ioredis Cluster routes keys and follows MOVED after a join", async () => {
  const base = await freeBase(4);
  const dev = await startDev(base);
  let fourth;
  const cluster = new Redis.Cluster([{ host: "127.0.0.1", port: base }]);
  try {
    const n = 3000;
    for (let i = 0; i < n; i++) assert.strictEqual(await cluster.set(`key:${i}`, String(i)), "OK");
    for (let i = 0; i < n; i++) assert.strictEqual(await cluster.get(`key:${i}`), String(i));
    assert.strictEqual(cluster.nodes("master").length, 3);
    let total = 0;
    for (const node of cluster.nodes("master")) total += await node.dbsize();
    assert.strictEqual(total, n);
    assert.strictEqual(await cluster.mset("{u1}.name", "ann", "{u1}.mail", "a@x"), "OK");
    assert.deepStrictEqual(await cluster.mget("{u1}.name", "{u1}.mail"), ["ann", "a@x"]);
    await assert.rejects(cluster.mset("a", "1", "b", "2"), /CROSSSLOT/);

    fourth = spawn(BIN, ["server", "--cluster-enabled", "--threads", "1", "--port", String(base + 3),
      "--join", `127.0.0.1:${base}`, "--loglevel", "warning"], { stdio: "ignore" });
    await waitFor("four nodes", async () => {
      for (let i = 0; i < 4; i++) if (!(await clusterOk(base + i, 4))) return false;
      return true;
    });
    // The moved slots took their keys along: none went cold, a quarter are on the new node.
    for (let i = 0; i < n; i++) assert.strictEqual(await cluster.get(`key:${i}`), String(i));
    const fresh = new Redis({ port: base + 3 });
    const moved = await fresh.dbsize();
    fresh.disconnect();
    assert.ok(moved / n > 0.18 && moved / n < 0.32, `moved share ${moved / n}`);
    for (let i = 0; i < n; i += 3) {
      await cluster.set(`key:${i}`, "new");
      assert.strictEqual(await cluster.get(`key:${i}`), "new");
    }
  } finally {
    cluster.disconnect();
    if (fourth) fourth.kill("SIGTERM");
    dev.kill("SIGINT");
    await new Promise((r) => dev.on("exit", r));
  }
});
