import assert from "node:assert/strict";
import { backoffDelay } from "../../src/async/backoff.ts";

Deno.test("backoff doubles from the minimum and stops at the cap", () => {
  const top = () => 0.999999; // the largest jitter: the delay is (almost) the ceiling
  const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) =>
    backoffDelay(attempt, { minMs: 1000, maxMs: 10_000, random: top })
  );
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
});

Deno.test("backoff jitter keeps at least half the ceiling", () => {
  const none = () => 0;
  assert.equal(backoffDelay(3, { minMs: 1000, maxMs: 60_000, random: none }), 2000);
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(4, { minMs: 500, maxMs: 60_000 });
    assert.ok(delay >= 2000 && delay <= 4000, `delay ${delay} outside [2000, 4000]`);
  }
});

Deno.test("backoff reaches one hour and never exceeds it, even after many failures", () => {
  const hour = 3_600_000;
  const top = () => 1 - Number.EPSILON;
  assert.equal(backoffDelay(13, { minMs: 1000, maxMs: hour, random: top }), hour);
  assert.equal(backoffDelay(10_000, { minMs: 1000, maxMs: hour, random: top }), hour);
  assert.equal(backoffDelay(0, { minMs: 1000, maxMs: hour, random: top }), 1000);
});
