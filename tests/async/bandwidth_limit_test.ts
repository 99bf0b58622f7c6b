import assert from "node:assert/strict";
import { BandwidthLimit } from "../../src/async/bandwidth_limit.ts";

Deno.test("taking bytes past the burst waits as long as the rate says", async () => {
  const limit = new BandwidthLimit(100_000); // 100 kB/s, a quarter second of burst
  // (The burst is the quarter second before now: a process younger than that has less of it.)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 300 - performance.now())));
  const started = performance.now();
  // The burst: no wait at all, so it is taken before any timer fires (ordered, not timed: a loaded
  // machine may take long between two lines, but never runs a timer before a resolved promise).
  const burst = limit.take(25_000).then(() => "taken");
  const timer = new Promise((resolve) => setTimeout(() => resolve("a timer first"), 0));
  assert.equal(await Promise.race([burst, timer]), "taken");
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

Deno.test("bytes given back are not counted again: the next take goes at once", async () => {
  const limit = new BandwidthLimit(1_000); // 1 kB/s
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 300 - performance.now())));
  // A call booked 60 kB (a minute's worth), then was refused before a byte came: given back.
  const stop = new AbortController();
  const refused = limit.take(60_000, stop.signal).catch(() => "stopped");
  limit.giveBack(60_000);
  // Ordered, not timed: a take that needs no wait resolves before any timer fires.
  const next = limit.take(100).then(() => "taken");
  const timer = new Promise((resolve) => setTimeout(() => resolve("a timer first"), 0));
  assert.equal(await Promise.race([next, timer]), "taken");
  stop.abort();
  assert.equal(await refused, "stopped");
});

Deno.test("bytes booked as moved make the next take wait for them, without a wait of their own", async () => {
  const limit = new BandwidthLimit(1_000); // 1 kB/s, 250 bytes of burst
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 300 - performance.now())));
  // An answer's metadata, known once it came: a minute's worth at this rate.
  limit.bookMoved(60_000);
  limit.bookMoved(-5); // nothing more came than was booked ahead: nothing given back
  const next = limit.take(1).then(() => "taken");
  const timer = new Promise((resolve) => setTimeout(() => resolve("a timer first"), 50));
  assert.equal(await Promise.race([next, timer]), "a timer first");
  // Given back, the take that would have waited a minute is not followed by a longer one.
  limit.giveBack(60_000);
  const after = limit.take(1).then(() => "taken");
  const timer2 = new Promise((resolve) => setTimeout(() => resolve("a timer first"), 0));
  assert.equal(await Promise.race([after, timer2]), "taken");
});
