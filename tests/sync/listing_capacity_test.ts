import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PRODUCTION_V8_FLAGS } from "../../src/permissions.ts";
import { getHeapStatistics } from "node:v8";
import {
  assertHeapRoom,
  listingCapacity,
  passHeapCeiling,
  PassHeapError,
} from "../../src/sync/listing_capacity.ts";

const _MIB = 1024 * 1024;

Deno.test("the capacity stays below what was measured to run out of memory", () => {
  // A fresh copy of 300,000 items ran out of memory in a 131 MiB heap (128 MB old space) and of
  // 600,000 items in a 259 MiB one (256 MB): some 370 bytes an item, with V8's own reserve.
  assert.ok(listingCapacity(131 * _MIB) < 300_000 * 0.8);
  assert.ok(listingCapacity(259 * _MIB) < 600_000 * 0.8);
});

Deno.test("under the production flags a pass holds 400,000 items and more", async () => {
  const source = `import { listingCapacity } from ${
    JSON.stringify(new URL("../../src/sync/listing_capacity.ts", import.meta.url).href)
  }; console.log(listingCapacity());`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `--v8-flags=${PRODUCTION_V8_FLAGS.join(",")}`, source],
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const capacity = Number(new TextDecoder().decode(stdout).trim());
  assert.ok(capacity >= 400_000 && capacity < 600_000 * 0.8, `capacity ${capacity}`);
});

Deno.test("a mirror whose paths leave the heap no room for the stages after the listing is refused", () => {
  // 100,000 local files of 226-character names: some 29 MB of room asked.
  const path = "d/".repeat(112) + "f";
  const local = new Map(Array.from({ length: 100_000 }, (_, i) => [`${path}${i}`, {}]));
  const used = getHeapStatistics().used_heap_size;
  assert.throws(
    () => assertHeapRoom(local, used + 20e6),
    (error: unknown) =>
      error instanceof PassHeapError && /names too long, for one pass/.test(error.message),
  );
  assertHeapRoom(local, (used + 40e6) / 0.9); // room enough
  assertHeapRoom(new Map([["a.jpg", {}]])); // the isolate's own limit
});

Deno.test("the ceiling a pass stops itself at is four fifths of the heap limit", () => {
  assert.equal(passHeapCeiling(259 * _MIB), Math.floor(259 * _MIB * 0.8));
  assert.ok(passHeapCeiling() < getHeapStatistics().heap_size_limit);
});
