import assert from "node:assert/strict";
import { BandwidthLimit } from "../../src/async/bandwidth_limit.ts";

Deno.test("taking bytes past the burst waits as long as the rate says", async () => {
  const limit = new BandwidthLimit(100_000); // 100 kB/s, a quarter second of burst
  const started = performance.now();
  await limit.take(25_000); // the burst: no wait
  // Well under the 250 ms that 25 kB would wait for without a burst, with room for a loaded
  // machine (a full suite run once took 134 ms to get here).
  const burst = performance.now() - started;
  assert.ok(burst < 200, `the burst waited ${burst.toFixed(0)} ms`);
  await limit.take(30_000); // 0.3 s more at 100 kB/s
  const waited = performance.now() - started;
  assert.ok(waited >= 290, `waited ${waited.toFixed(0)} ms`);
});

Deno.test("a wait is cut short by the signal, with its reason", async () => {
  const limit = new BandwidthLimit(1_000);
  const controller = new AbortController();
  const reason = new Error("stopped");
  setTimeout(() => controller.abort(reason), 20);
  await assert.rejects(limit.take(60_000, controller.signal), (error) => error === reason);
});

Deno.test("a rate that is not a positive number is refused", () => {
  for (const rate of [0, -1, Number.NaN, Infinity]) {
    assert.throws(() => new BandwidthLimit(rate), RangeError);
  }
});
