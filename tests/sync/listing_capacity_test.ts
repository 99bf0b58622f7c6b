import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PRODUCTION_V8_FLAGS } from "../../src/permissions.ts";
import { listingCapacity } from "../../src/sync/listing_capacity.ts";

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
