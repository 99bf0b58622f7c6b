import assert from "node:assert/strict";
import { callFloorSeconds, idealFloorSeconds } from "../../../scripts/bench/floor.ts";

const network = { latencyMs: 20, concurrency: 8, bytesPerSecond: 1e9 };

Deno.test("callFloorSeconds: listing in sequence, transfers over the concurrency, then bytes", () => {
  const calls = { Authenticate: 1, BinaryDataByFilter: 102, BinaryDataByIDs: 625, download: 20 };
  // (1 + 102) + ceil(645 / 8) = 103 + 81 = 184 rounds of 20 ms, + 0.5 s of bytes.
  assert.equal(callFloorSeconds({ calls, bytes: 500e6 }, network), 184 * 0.02 + 0.5);
  assert.equal(callFloorSeconds({ calls: {}, bytes: 0 }, network), 0);
});

Deno.test("idealFloorSeconds: parallel pages, 4 MiB batches, large files one call each", () => {
  const change = {
    listed: 10_020,
    smallFiles: 10_000,
    smallBytes: 10_000 * 32 * 1024,
    largeFiles: 20,
    bytes: 10_000 * 32 * 1024 + 20 * 8 * 1024 * 1024,
  };
  // 2 (auth, count) + ceil(101 / 8) = 13 + ceil((79 batches + 20) / 8) = 13 -> 28 rounds.
  const expected = 28 * 0.02 + change.bytes / 1e9;
  assert.ok(Math.abs(idealFloorSeconds(change, network) - expected) < 1e-9);
  // A no-op still lists: 2 + 13 rounds.
  const noop = { ...change, smallFiles: 0, smallBytes: 0, largeFiles: 0, bytes: 0 };
  assert.ok(Math.abs(idealFloorSeconds(noop, network) - 15 * 0.02) < 1e-9);
});
