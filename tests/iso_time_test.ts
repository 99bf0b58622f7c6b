import assert from "node:assert/strict";
import fc from "fast-check";
import { isoTimeOfMs } from "../src/iso_time.ts";

Deno.test("isoTimeOfMs writes what Date.toISOString writes", () => {
  const limit = 8.64e15;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: -limit, max: limit }),
        fc.integer({
          min: -62_167_219_200_000 - 5 * 86_400_000,
          max: -62_167_219_200_000 + 5 * 86_400_000,
        }),
        fc.integer({
          min: 253_402_300_800_000 - 5 * 86_400_000,
          max: 253_402_300_800_000 + 5 * 86_400_000,
        }),
        fc.integer({ min: -1e12, max: 4e12 }),
        fc.double({ min: -1e13, max: 1e13, noNaN: true }),
      ),
      (ms) => assert.equal(isoTimeOfMs(ms), new Date(ms).toISOString()),
    ),
    { numRuns: 200_000 },
  );
});

Deno.test("isoTimeOfMs: every day from 1600 to 2500, at its first and last millisecond", () => {
  for (let day = -135_140; day < 193_000; day++) {
    for (
      const ms of [day * 86_400_000, day * 86_400_000 + 86_399_999, day * 86_400_000 + 45_296_789]
    ) {
      if (isoTimeOfMs(ms) !== new Date(ms).toISOString()) {
        assert.equal(isoTimeOfMs(ms), new Date(ms).toISOString());
      }
    }
  }
  assert.equal(isoTimeOfMs(-0), "1970-01-01T00:00:00.000Z");
});
