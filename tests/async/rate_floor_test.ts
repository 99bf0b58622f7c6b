import assert from "node:assert/strict";
import { RateFloor } from "../../src/async/rate_floor.ts";

Deno.test("a window that ends below the floor is told; one at or above it, and an open one, are not", () => {
  // A window begun a second ago ends with the next bytes: 16 B/s over 1 s asks for 16 bytes.
  const since = (ms: number) => performance.now() - ms;
  const slow = new RateFloor({ windowMs: 1000, minBytesPerSecond: 16, startMs: since(1000) });
  assert.equal(slow.add(15), "15 bytes in 1000 ms: too slow");
  const enough = new RateFloor({ windowMs: 1000, minBytesPerSecond: 16, startMs: since(1000) });
  assert.equal(enough.add(16), undefined);
  // A new window begins where one ended: the next bytes, at once, do not end it.
  assert.equal(enough.add(1), undefined);
  // Without a start, the first window begins with the first bytes.
  const fresh = new RateFloor({ windowMs: 1000, minBytesPerSecond: 16 });
  assert.equal(fresh.add(1), undefined);
  // A floor of 0 (a paced body) is never short.
  assert.equal(
    new RateFloor({ windowMs: 1, minBytesPerSecond: 0, startMs: since(5) }).add(0),
    undefined,
  );
});
