import assert from "node:assert/strict";
import { startServerProcess } from "../../../scripts/bench/server_process.ts";
import type { BenchSet } from "../../../scripts/bench/bench_set.ts";

const set: BenchSet = {
  name: "test",
  smallCount: 20,
  smallBytes: 100,
  folders: 2,
  largeCount: 0,
  largeBytes: 0,
};

Deno.test("a directory-index server process serves the set, switches variants, counts", async () => {
  await using server = await startServerProcess({ kind: "dir-index", set, latencyMs: 0 });
  assert.equal(server.apiKey, "");
  const before = await (await fetch(`${server.url}/d000/`)).text();
  assert.match(before, /small-000000\.jpeg/);
  await server.useVariant("churn");
  const after = await (await fetch(`${server.url}/d000/`)).text();
  assert.doesNotMatch(after, /small-000000\.jpeg/); // every tenth is removed
  assert.match(after, /added-000000\.jpeg/);
  assert.deepEqual(await server.calls(), { index: 2, head: 0, get: 0, other: 0, bytes: 0 });
  await server.resetCalls();
  assert.deepEqual(await server.calls(), { index: 0, head: 0, get: 0, other: 0, bytes: 0 });
  assert.ok(await server.cpuSeconds() > 0);
});

Deno.test("a platform server process hands out its URL and API key and counts calls", async () => {
  await using server = await startServerProcess({ kind: "platform", set, latencyMs: 0 });
  assert.ok(server.apiKeyId.length > 0 && server.apiKey.length > 0);
  const response = await fetch(`${server.url}/download/nowhere`);
  await response.body?.cancel();
  assert.equal(response.status, 401);
  const calls = await server.calls();
  assert.equal(calls.download, 1);
  assert.equal(calls.BinaryDataByFilter, 0);
});
