import assert from "node:assert/strict";
import { fitsReserve, freeSpace } from "../../src/fs/free_space.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("measures the nearest existing ancestor of a path that does not exist yet", async () => {
  await withTempDir(async (dir) => {
    const existing = await freeSpace(dir);
    assert.ok(existing.totalBytes > 0);
    assert.ok(existing.availableBytes >= 0 && existing.availableBytes <= existing.totalBytes);
    // a fresh machine: the mirror root and its parents are missing (the original failed here)
    const missing = await freeSpace(`${dir}/.viam/data_mirror/deeper`);
    assert.equal(missing.totalBytes, existing.totalBytes);
    assert.ok(missing.availableBytes <= missing.totalBytes);
  });
});

Deno.test("measures through a path whose ancestor is a file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    const space = await freeSpace(`${dir}/file/below`);
    assert.equal(space.totalBytes, (await freeSpace(dir)).totalBytes);
  });
});

Deno.test("fitsReserve keeps the reserve percentage of the total free", () => {
  const space = { availableBytes: 600, totalBytes: 1000 };
  assert.equal(fitsReserve(space, 550, 5), true); // 50 left == 5% reserve
  assert.equal(fitsReserve(space, 551, 5), false);
  assert.equal(fitsReserve(space, 600, 0), true);
  assert.equal(fitsReserve(space, 601, 0), false);
  assert.equal(fitsReserve(space, 0, 60), true);
  assert.equal(fitsReserve(space, 0, 61), false); // already below the reserve
  assert.equal(fitsReserve({ availableBytes: 0, totalBytes: 0 }, 0, 5), true);
});

Deno.test("fitsReserve refuses nonsense arguments", () => {
  const space = { availableBytes: 600, totalBytes: 1000 };
  assert.throws(() => fitsReserve(space, 1, -1), RangeError);
  assert.throws(() => fitsReserve(space, 1, 101), RangeError);
  assert.throws(() => fitsReserve(space, 1, NaN), RangeError);
  assert.throws(() => fitsReserve(space, -1, 5), RangeError);
  assert.throws(() => fitsReserve(space, Infinity, 5), RangeError);
});
