import assert from "node:assert/strict";
import { atomicTempName, isAtomicLeftoverOf, writeFileAtomic } from "../../src/fs/atomic_write.ts";
import { spawnChild } from "./_child.ts";
import { created, names, rejection, withTempDir } from "./_helpers.ts";

Deno.test("writes a new file, then replaces it, leaving no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.json`;
    await writeFileAtomic(path, '{"v":1}');
    assert.equal(await Deno.readTextFile(path), '{"v":1}');
    assert.equal((await Deno.stat(path)).mode! & 0o777, created(0o644));
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]), { mode: 0o600 });
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    assert.equal((await Deno.stat(path)).mode! & 0o777, created(0o600));
    assert.deepEqual(await names(dir), ["state.json"]);
  });
});

Deno.test("replaces a symlink at the path instead of writing through it", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/target`, "untouched");
    await Deno.symlink(`${dir}/target`, `${dir}/status.json`);
    await writeFileAtomic(`${dir}/status.json`, "new");
    assert.equal(await Deno.readTextFile(`${dir}/target`), "untouched");
    assert.ok((await Deno.lstat(`${dir}/status.json`)).isFile);
    assert.equal(await Deno.readTextFile(`${dir}/status.json`), "new");
  });
});

Deno.test("a failed write leaves the old content and no temporary file", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/occupied`);
    await Deno.writeTextFile(`${dir}/occupied/keep`, "x");
    // renaming a file over a non-empty directory fails after the temporary file was written
    await rejection(() => writeFileAtomic(`${dir}/occupied`, "data"), Error);
    assert.deepEqual(await names(dir), ["occupied"]);
    assert.deepEqual(await names(`${dir}/occupied`), ["keep"]);
    await rejection(() => writeFileAtomic(`${dir}/missing/state.json`, "x"), Deno.errors.NotFound);
  });
});

Deno.test("readers and a SIGKILL at any instant see the old or the new content, never torn", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.json`;
    const size = 1 << 20; // big enough that most of the child's time is spent writing
    const assertWhole = async () => {
      const content = await Deno.readTextFile(path);
      assert.equal(content.length, size);
      assert.ok(content === "A".repeat(size) || content === "B".repeat(size), "torn content");
    };
    for (const rewritesBeforeKill of [1, 5, 9]) {
      const child = spawnChild(dir, "atomic", [path, String(size)]);
      try {
        await child.readLine(); // the file exists from here on
        for (let i = 1; i < rewritesBeforeKill; i++) {
          await assertWhole(); // read while the child rewrites it
          await child.readLine();
        }
      } finally {
        await child.kill(); // lands while the child is in the middle of a further rewrite
      }
      await assertWhole();
    }
  });
});

Deno.test("a temporary name is known as a leftover of its own file only", () => {
  const temp = atomicTempName("placed");
  assert.ok(isAtomicLeftoverOf(temp, "placed"), temp);
  assert.ok(!isAtomicLeftoverOf(temp, "manifest.jsonl"));
  assert.ok(!isAtomicLeftoverOf(atomicTempName("placed.old"), "placed"));
  for (const name of [".placed.tmp", ".placed..tmp", ".placed.x/y.tmp", "placed", ".placed.12ab"]) {
    assert.ok(!isAtomicLeftoverOf(name, "placed"), name);
  }
});
