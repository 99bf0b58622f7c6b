import assert from "node:assert/strict";
import { freeSpace } from "../../src/fs/free_space.ts";
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
