import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireMirrorLock, LockedError } from "../../src/fs/mirror_lock.ts";
import { spawnChild } from "./_child.ts";
import { names, openMirror, rejection, withTempDir } from "./_helpers.ts";

Deno.test("a second acquisition in the same process fails until the first is released", async () => {
  await withTempDir(async (home) => {
    // missing root: opening creates it and its state dir
    const first = await openMirror(home, "resource one");
    const lockPath = `${await Deno.realPath(`${home}/mirror`)}/.data-mirror/lock`;
    const error = await rejection(() => openMirror(home, "two"), LockedError);
    assert.equal(error.holder?.pid, Deno.pid);
    assert.equal(error.holder?.owner, "resource one");
    assert.equal(error.lockPath, lockPath);
    assert.ok(error.message.includes(`pid ${Deno.pid}`), error.message);
    assert.ok(error.message.includes("(resource one)"), error.message);
    // the failed attempt did not wipe the holder's description
    const again = await rejection(() => openMirror(home), LockedError);
    assert.equal(again.holder?.owner, "resource one");
    await first.close();
    await first.close(); // idempotent
    assert.equal(await Deno.readTextFile(lockPath), ""); // no stale holder left to blame
    const second = await openMirror(home, "two");
    await second.close();
  });
});

Deno.test("a lock held by another process is refused, and taken over once it is SIGKILLed", async () => {
  await withTempDir(async (home) => {
    const child = spawnChild(home, "lock", [home]);
    try {
      assert.equal(await child.readLine(), "locked");
      const error = await rejection(() => openMirror(home), LockedError);
      assert.equal(error.holder?.pid, child.pid);
      assert.equal(error.holder?.owner, "child");
      assert.equal(error.holder?.host, undefined); // the child may not read the host name
    } finally {
      await child.kill();
    }
    const mirror = await openMirror(home); // the kernel dropped the dead child's lock
    await mirror.close();
  });
});

Deno.test("another process is refused while this one holds the lock", async () => {
  await withTempDir(async (home) => {
    const mirror = await openMirror(home, "test");
    try {
      const child = spawnChild(home, "lock", [home]);
      assert.equal(await child.readLine(), `busy ${Deno.pid}`);
      assert.equal(await child.finish(), 0);
    } finally {
      await mirror.close();
    }
    const child = spawnChild(home, "lock", [home]);
    assert.equal(await child.readLine(), "locked");
    assert.equal(await child.finish(), 0); // released cleanly on stdin EOF
    const again = await openMirror(home);
    await again.close();
  });
});

Deno.test("a state dir that is a symlink is refused, naming what to do", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/mirror`);
    await Deno.mkdir(`${home}/elsewhere`);
    await Deno.symlink(`${home}/elsewhere`, `${home}/mirror/.data-mirror`);
    await rejection(() => openMirror(home), Deno.errors.NotADirectory, "symlink");
    assert.deepEqual(await names(`${home}/elsewhere`), []);
  });
});

Deno.test("a lock file planted as a symlink or a hard link to a file outside is never written", async () => {
  await withTempDir(async (home) => {
    const outside = `${home}/outside.txt`;
    await Deno.writeTextFile(outside, "precious");
    await Deno.mkdir(`${home}/mirror/.data-mirror`, { recursive: true });
    for (const plant of [Deno.symlink, Deno.link]) {
      await Deno.remove(`${home}/mirror/.data-mirror/lock`).catch(() => {});
      await plant(outside, `${home}/mirror/.data-mirror/lock`);
      const mirror = await openMirror(home, "test");
      await mirror.close();
      assert.equal(await Deno.readTextFile(outside), "precious", plant.name);
      const lock = await Deno.lstat(`${home}/mirror/.data-mirror/lock`);
      assert.ok(lock.isFile && lock.nlink === 1, `${plant.name}: the lock is a file of its own`);
    }
  });
});

Deno.test("a held lock with a second name (a hard-link copy of the mirror) is refused, not replaced", async () => {
  await withTempDir(async (home) => {
    const first = await openMirror(home, "holder");
    const lockPath = `${await Deno.realPath(`${home}/mirror`)}/.data-mirror/lock`;
    await Deno.link(lockPath, `${home}/snapshot-lock`); // what `cp -al mirror snapshot` does
    const error = await rejection(() => openMirror(home, "two"), LockedError);
    assert.equal(error.holder?.owner, "holder");
    await first.close();
    // Free now: the linked file is replaced by a fresh one, the other name left alone.
    const second = await openMirror(home, "two");
    assert.equal((await Deno.lstat(lockPath)).nlink, 1);
    await second.close();
  });
});

Deno.test("the state folder swapped for a link to another's while a planted lock link is replaced: the other folder's lock is neither unlinked nor emptied", async () => {
  await withTempDir(async (dir) => {
    const state = join(dir, "mirror", ".data-mirror");
    const other = join(dir, "other", ".data-mirror"); // another mirror's state folder
    await Deno.mkdir(state, { recursive: true });
    await Deno.mkdir(other, { recursive: true });
    await Deno.writeTextFile(join(other, "lock"), '{"theirs":true}\n');
    const before = await Deno.lstat(join(other, "lock"));
    // A link planted at the lock's name: the acquisition replaces it, telling `warn` first, which
    // is where the state folder is swapped for a link to the other's.
    await Deno.symlink(join(dir, "nowhere"), join(state, "lock"));
    const warn = () => {
      Deno.renameSync(state, `${state}.moved`);
      Deno.symlinkSync(other, state);
    };
    const lock = await acquireMirrorLock(state, { warn }).catch((error) => error);
    if (!(lock instanceof Error)) await lock.release();
    const after = await Deno.lstat(join(other, "lock"));
    assert.equal(after.ino, before.ino, "the other folder's lock was unlinked");
    assert.equal(await Deno.readTextFile(join(other, "lock")), '{"theirs":true}\n');
    assert.ok(lock instanceof Deno.errors.PermissionDenied, `acquired: ${lock}`);
  });
});
