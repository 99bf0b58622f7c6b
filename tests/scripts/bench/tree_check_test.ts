import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describeDataset, itemBytes } from "../../../tests/support/platform/mod.ts";
import { checkTree } from "../../../scripts/bench/tree_check.ts";

const dataset = describeDataset([
  { name: "s", count: 40, folder: (i) => `d${i % 4}`, sizeBytes: 3000 },
  { name: "l", count: 1, folder: "large", sizeBytes: 2 * 1024 * 1024 },
]);

async function _copy(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "tree-check-test-" });
  for (const item of dataset.items) {
    await Deno.mkdir(join(root, dirname(item.fileName)), { recursive: true });
    await Deno.writeFile(join(root, item.fileName), itemBytes(item));
  }
  return root;
}

Deno.test("an exact copy passes; data-mirror's .data-mirror folder is not part of it", async () => {
  const root = await _copy();
  try {
    await Deno.mkdir(join(root, ".data-mirror/partial"), { recursive: true });
    await Deno.writeTextFile(join(root, ".data-mirror/lock"), "");
    const check = await checkTree(root, dataset);
    assert.deepEqual(check.problems, []);
    assert.equal(check.ok, true);
    assert.equal(check.files, 41);
    assert.equal(check.bytes, 40 * 3000 + 2 * 1024 * 1024);
    assert.equal(check.sampled, 25);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("missing, extra, short and wrong-byte files each fail the check", async () => {
  const root = await _copy();
  try {
    await Deno.remove(join(root, "d1/s-000001.jpeg"));
    await Deno.writeTextFile(join(root, "d2/stray.txt"), "x");
    await Deno.truncate(join(root, "d3/s-000003.jpeg"), 2999);
    // Flip one byte in the middle of the large file (always in the sample).
    const large = join(root, "large/l-000000.jpeg");
    using file = await Deno.open(large, { read: true, write: true });
    await file.seek(1_500_000, Deno.SeekMode.Start);
    const byte = new Uint8Array(1);
    await file.read(byte);
    await file.seek(1_500_000, Deno.SeekMode.Start);
    await file.write(new Uint8Array([byte[0] ^ 0xff]));
    const check = await checkTree(root, dataset);
    assert.equal(check.ok, false);
    assert.ok(check.problems.includes("missing d1/s-000001.jpeg"), check.problems.join("; "));
    assert.ok(check.problems.includes("unexpected file d2/stray.txt"));
    assert.ok(check.problems.includes("d3/s-000003.jpeg: 2999 bytes, expected 3000"));
    assert.ok(check.problems.includes("large/l-000000.jpeg: wrong bytes"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
