import assert from "node:assert/strict";
import {
  datasetOf,
  largeSet,
  mainSet,
  relativePathOf,
  scaleSet,
  totalsOf,
} from "../../../scripts/bench/bench_set.ts";

Deno.test("the main set is 10,000 × 32 KiB in 100 folders + 20 × 8 MiB (495 MB)", () => {
  const base = datasetOf(mainSet({ quick: false }), "base");
  assert.deepEqual(totalsOf(base), { files: 10_020, bytes: 495_452_160 });
  const folders = new Set(base.items.map((item) => relativePathOf(item).split("/")[0]));
  assert.equal(folders.size, 101); // 100 folders of small files, and "large"
  const large = base.items.filter((item) => item.sizeBytes === 8 * 1024 * 1024);
  assert.equal(large.length, 20);
  assert.ok(large.every((item) => item.tags.includes("bench")));
});

Deno.test("churn removes a tenth of the small files and adds as many new ones", () => {
  const set = mainSet({ quick: true });
  const base = datasetOf(set, "base");
  const churn = datasetOf(set, "churn");
  const before = new Set(base.items.map(relativePathOf));
  const after = new Set(churn.items.map(relativePathOf));
  const removed = [...before].filter((path) => !after.has(path));
  const added = [...after].filter((path) => !before.has(path));
  assert.equal(removed.length, 100);
  assert.equal(added.length, 100);
  assert.equal(churn.items.length, base.items.length);
  // The items both sides keep are the very same (same ids, so the same bytes).
  const kept = new Map(churn.items.map((item) => [relativePathOf(item), item]));
  for (const item of base.items) {
    const other = kept.get(relativePathOf(item));
    if (other !== undefined) assert.deepEqual(other, item);
  }
});

Deno.test("the sets are deterministic and the quick ones smaller", () => {
  assert.deepEqual(
    datasetOf(scaleSet({ quick: true }), "base"),
    datasetOf(scaleSet({ quick: true }), "base"),
  );
  assert.equal(datasetOf(scaleSet({ quick: false }), "base").items.length, 100_000);
  assert.equal(totalsOf(datasetOf(largeSet({ quick: false }), "base")).bytes, 1024 ** 3);
  assert.ok(totalsOf(datasetOf(mainSet({ quick: true }), "base")).files < 10_020);
});
