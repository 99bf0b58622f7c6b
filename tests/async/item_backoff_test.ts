import assert from "node:assert/strict";
import { ItemBackoff } from "../../src/async/item_backoff.ts";

Deno.test("a failing item waits a growing delay, capped, and is forgotten on success", () => {
  let now = 1_000_000;
  const backoff = new ItemBackoff({
    minMs: 1000,
    maxMs: 8000,
    random: () => 1 - Number.EPSILON,
    now: () => now,
  });
  assert.equal(backoff.isDue("a"), true);
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    backoff.failed("a");
    const failedAt = now;
    // The wait: the first instant the item is due again (it is not due 1 ms before).
    while (!backoff.isDue("a")) now += 1000;
    const wait = now - failedAt;
    now -= 1;
    assert.equal(backoff.isDue("a"), false);
    now += 1;
    waits.push(wait);
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(backoff.size, 1);
  backoff.succeeded("a");
  assert.equal(backoff.size, 0);
  assert.equal(backoff.isDue("a"), true);
});

Deno.test("items no longer listed are forgotten", () => {
  const backoff = new ItemBackoff({ minMs: 1000, maxMs: 8000 });
  backoff.failed("a");
  backoff.failed("b");
  backoff.retain(new Set(["b", "c"]));
  assert.equal(backoff.size, 1);
  assert.equal(backoff.isDue("a"), true);
  assert.equal(backoff.isDue("b"), false);
});

Deno.test("a clock stepped back does not hold a failing item past the longest delay", () => {
  let now = Date.UTC(2027, 0, 1);
  const backoff = new ItemBackoff({ minMs: 1000, maxMs: 8000, now: () => now });
  backoff.failed("a");
  assert.equal(backoff.isDue("a"), false);
  now -= 365 * 86_400_000; // NTP corrects a clock that ran a year ahead
  assert.equal(backoff.isDue("a"), true);
});
