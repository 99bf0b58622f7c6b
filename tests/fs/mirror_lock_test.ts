import assert from "node:assert/strict";
import { acquireMirrorLock, LockedError } from "../../src/fs/mirror_lock.ts";
import { spawnChild } from "./_child.ts";
import { names, rejection, withTempDir } from "./_helpers.ts";

Deno.test("a second acquisition in the same process fails until the first is released", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`; // missing: the lock creates the root and its state dir
    const first = await acquireMirrorLock(root, { owner: "resource one" });
    assert.equal(first.path, `${await Deno.realPath(root)}/.data-mirror/lock`);
    const error = await rejection(() => acquireMirrorLock(root, { owner: "two" }), LockedError);
    assert.equal(error.holder?.pid, Deno.pid);
    assert.equal(error.holder?.owner, "resource one");
    assert.equal(error.lockPath, first.path);
    assert.ok(error.message.includes(`pid ${Deno.pid}`), error.message);
    assert.ok(error.message.includes("(resource one)"), error.message);
    // the failed attempt did not wipe the holder's description
    const again = await rejection(() => acquireMirrorLock(root), LockedError);
    assert.equal(again.holder?.owner, "resource one");
    await first.release();
    await first.release(); // idempotent
    assert.equal(await Deno.readTextFile(first.path), ""); // no stale holder left to blame
    const second = await acquireMirrorLock(root, { owner: "two" });
    await second.release();
  });
});

Deno.test("a lock held by another process is refused, and taken over once it is SIGKILLed", async () => {
  await withTempDir(async (dir) => {
    const child = spawnChild(dir, "lock", [dir]);
    try {
      assert.equal(await child.readLine(), "locked");
      const error = await rejection(() => acquireMirrorLock(dir), LockedError);
      assert.equal(error.holder?.pid, child.pid);
      assert.equal(error.holder?.owner, "child");
      assert.equal(error.holder?.host, undefined); // the child may not read the host name
    } finally {
      await child.kill();
    }
    const lock = await acquireMirrorLock(dir); // the kernel dropped the dead child's lock
    await lock.release();
  });
});

Deno.test("another process is refused while this one holds the lock", async () => {
  await withTempDir(async (dir) => {
    const lock = await acquireMirrorLock(dir, { owner: "test" });
    try {
      const child = spawnChild(dir, "lock", [dir]);
      assert.equal(await child.readLine(), `busy ${Deno.pid}`);
      assert.equal(await child.finish(), 0);
    } finally {
      await lock.release();
    }
    const child = spawnChild(dir, "lock", [dir]);
    assert.equal(await child.readLine(), "locked");
    assert.equal(await child.finish(), 0); // released cleanly on stdin EOF
    const again = await acquireMirrorLock(dir);
    await again.release();
  });
});

Deno.test("a state dir that is a symlink is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mirror`);
    await Deno.mkdir(`${dir}/elsewhere`);
    await Deno.symlink(`${dir}/elsewhere`, `${dir}/mirror/.data-mirror`);
    await rejection(() => acquireMirrorLock(`${dir}/mirror`), Deno.errors.NotADirectory, "symlink");
    assert.deepEqual(await names(`${dir}/elsewhere`), []);
  });
});

Deno.test("a relative root is refused", async () => {
  await rejection(() => acquireMirrorLock("relative/mirror"), RangeError, "absolute");
});
