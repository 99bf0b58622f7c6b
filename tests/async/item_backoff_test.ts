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
    waits.push(backoff.nextRetryAt()! - now);
    assert.equal(backoff.isDue("a"), false);
    now = backoff.nextRetryAt()!;
    assert.equal(backoff.isDue("a"), true);
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(backoff.size, 1);
  backoff.succeeded("a");
  assert.equal(backoff.size, 0);
  assert.equal(backoff.nextRetryAt(), undefined);
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
