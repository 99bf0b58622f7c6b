import assert from "node:assert/strict";
import { join } from "node:path";
import { SizeMismatchError, StagingArea } from "../../src/fs/staging.ts";
import { sha256Hex } from "../../src/sha256_hex.ts";
import { pattern, spawnChild } from "./_child.ts";
import { created, names, openMirror, rejection, withTempDir } from "./_helpers.ts";

const _ID = "org-1/location-1/file-1"; // ids contain "/": never a file name as such

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Runs `fn` with a mirror opened at `<temp home>/mirror`; closes it afterwards. */
async function withMirrorDir(
  fn: (m: Awaited<ReturnType<typeof openMirror>>, root: string, home: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (home) => {
    const mirror = await openMirror(home);
    try {
      await fn(mirror, mirror.root, home);
    } finally {
      await mirror.close();
    }
  });
}

Deno.test("stages a download and commits it under its final name, creating the parents", async () => {
  await withMirrorDir(async ({ staging }, root) => {
    assert.equal(staging.dir, `${root}/.data-mirror/partial`);
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 5 });
    assert.equal(staged.offset, 0);
    // one partial, named by the id's hash and the size promised: no sidecar
    assert.deepEqual(await names(staging.dir), [`${await sha256Hex(_ID)}-5.part`]);
    await staged.write(new TextEncoder().encode("he"));
    await staged.write(new TextEncoder().encode("llo"));
    assert.equal(await exists(`${root}/a/b.txt`), false); // never under the final name early
    await staged.commit("a/b.txt");
    assert.equal(await Deno.readTextFile(`${root}/a/b.txt`), "hello");
    assert.equal((await Deno.stat(`${root}/a/b.txt`)).mode! & 0o777, created(0o644));
    assert.equal((await Deno.stat(`${root}/a`)).mode! & 0o777, created(0o755));
    assert.deepEqual(await names(staging.dir), []);
    await staged.close(); // already closed by commit: a no-op
    await rejection(() => staged.write(new Uint8Array(1)), Deno.errors.BadResource, "closed");
  });
});

Deno.test("a closed partial is resumed for the same id and size, and not otherwise", async () => {
  await withMirrorDir(async ({ staging }, root) => {
    const first = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    await first.write(pattern(4));
    await first.close();
    const resumed = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    assert.equal(resumed.offset, 4);
    await resumed.write(pattern(10).subarray(4));
    await resumed.close();
    // the platform now reports another size: the bytes held cannot be trusted
    const changed = await staging.begin({ binaryDataId: _ID, expectedSize: 12 });
    assert.equal(changed.offset, 0);
    await changed.write(pattern(12));
    await changed.commit("f.bin");
    assert.deepEqual(await Deno.readFile(`${root}/f.bin`), pattern(12));
    // another id never sees this one's bytes
    const other = await staging.begin({ binaryDataId: `${_ID}-other` });
    assert.equal(other.offset, 0);
    await other.close();
  });
});

Deno.test("a partial longer than expected starts over", async () => {
  await withMirrorDir(async ({ staging }) => {
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    await staged.write(pattern(10));
    await staged.close();
    const tooLong = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    assert.equal(tooLong.offset, 0);
    await tooLong.close();
  });
});

Deno.test("restart drops what is held (the server ignored the Range request)", async () => {
  await withMirrorDir(async ({ staging }, root) => {
    const first = await staging.begin({ binaryDataId: _ID, expectedSize: 3 });
    await first.write(pattern(2));
    await first.close();
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 3 });
    assert.equal(staged.offset, 2);
    await staged.restart();
    assert.equal(staged.offset, 0);
    await staged.write(new Uint8Array([7, 8, 9]));
    await staged.commit("f.bin");
    assert.deepEqual(await Deno.readFile(`${root}/f.bin`), new Uint8Array([7, 8, 9]));
  });
});

Deno.test("a size mismatch writes nothing under the final name; a short partial is kept to resume", async () => {
  await withMirrorDir(async ({ staging }, root) => {
    const short = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    await short.write(pattern(7));
    const error = await rejection(() => short.commit("dir/f.bin"), SizeMismatchError);
    assert.deepEqual([error.path, error.expected, error.actual], ["dir/f.bin", 10, 7]);
    assert.ok(error.message.includes("dir/f.bin"), error.message);
    assert.ok(error.message.includes("10") && error.message.includes("7"), error.message);
    assert.equal(await exists(`${root}/dir/f.bin`), false);
    const resumed = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    assert.equal(resumed.offset, 7);
    await resumed.write(pattern(9)); // 16 bytes: too many
    await rejection(() => resumed.commit("dir/f.bin"), SizeMismatchError, "expected 10");
    assert.equal(await exists(`${root}/dir/f.bin`), false);
    assert.deepEqual(await names(staging.dir), []); // wrong content is not kept
    // the size given at commit wins over the key's (unknown at begin)
    const unknown = await staging.begin({ binaryDataId: _ID });
    await unknown.write(pattern(3));
    await rejection(() => unknown.commit("g.bin", { expectedSize: 4 }), SizeMismatchError);
    assert.equal(await exists(`${root}/g.bin`), false);
  });
});

Deno.test("never replaces an existing file, directory or symlink at the final name", async () => {
  await withMirrorDir(async ({ staging }, root, home) => {
    await Deno.mkdir(`${root}/taken-dir`, { recursive: true });
    await Deno.writeTextFile(`${root}/taken.txt`, "original");
    await Deno.symlink(`${home}/would-be-created`, `${root}/dangling`);
    for (const finalName of ["taken.txt", "taken-dir", "dangling"]) {
      const staged = await staging.begin({ binaryDataId: `${_ID}/${finalName}`, expectedSize: 3 });
      await staged.write(pattern(3));
      await rejection(() => staged.commit(finalName), Deno.errors.AlreadyExists, finalName);
    }
    assert.equal(await Deno.readTextFile(`${root}/taken.txt`), "original");
    assert.deepEqual(await names(`${root}/taken-dir`), []);
    assert.equal(await exists(`${home}/would-be-created`), false);
    // the finished partial is kept: committing it elsewhere later needs no new download
    const again = await staging.begin({ binaryDataId: `${_ID}/taken.txt`, expectedSize: 3 });
    assert.equal(again.offset, 3);
    await again.commit("free.txt");
    assert.deepEqual(await Deno.readFile(`${root}/free.txt`), pattern(3));
  });
});

Deno.test("refuses a parent that is a symlink leading outside, or a file, and a state dir (its own or a nested mirror's)", async () => {
  await withMirrorDir(async ({ staging }, root, home) => {
    await Deno.mkdir(`${root}/inside-target`, { recursive: true });
    await Deno.mkdir(`${home}/outside`);
    await Deno.symlink(`${home}/outside`, `${root}/escape`);
    await Deno.symlink(`${root}/inside-target`, `${root}/alias`);
    await Deno.writeTextFile(`${root}/file`, "x");
    await Deno.symlink(`${root}/.data-mirror`, `${root}/state-alias`);
    // A mirror made inside this one before it: its state folder, by a link.
    await Deno.mkdir(`${root}/inner/.data-mirror`, { recursive: true });
    await Deno.symlink(`${root}/inner/.data-mirror`, `${root}/inner-state-alias`);
    const attempt = async (finalRelPath: string) => {
      const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 1 });
      if (staged.offset === 0) await staged.write(new Uint8Array([1])); // kept after a refusal
      await staged.commit(finalRelPath);
    };
    await rejection(() => attempt("escape/sub/f"), Deno.errors.PermissionDenied, "outside");
    await rejection(() => attempt("state-alias/f"), Deno.errors.PermissionDenied, "state");
    await rejection(() => attempt("inner-state-alias/f"), Deno.errors.PermissionDenied, "state");
    assert.deepEqual(await names(`${root}/inner/.data-mirror`), []);
    await rejection(() => attempt("file/f"), Deno.errors.NotADirectory, "file");
    await rejection(() => attempt(".data-mirror/f"), Deno.errors.PermissionDenied, "state");
    await rejection(() => attempt("../f"), RangeError, "../f");
    await rejection(() => attempt("/abs"), RangeError, "/abs");
    assert.deepEqual(await names(`${home}/outside`), []);
    assert.deepEqual(await names(home), ["mirror", "outside"]);
    // a symlink that stays inside the mirror is fine
    await attempt("alias/f");
    assert.deepEqual(await Deno.readFile(`${root}/inside-target/f`), new Uint8Array([1]));
  });
});

Deno.test("one id cannot be staged twice at once", async () => {
  await withMirrorDir(async ({ staging }) => {
    const first = await staging.begin({ binaryDataId: _ID });
    await rejection(() => staging.begin({ binaryDataId: _ID }), Deno.errors.Busy, _ID);
    await first.close();
    const second = await staging.begin({ binaryDataId: _ID });
    await second.close();
  });
});

Deno.test("discardStale removes unwanted partials and strays, keeping wanted and open ones", async () => {
  await withMirrorDir(async ({ staging }) => {
    for (const id of ["keep", "drop-1", "drop-2"]) {
      const staged = await staging.begin({ binaryDataId: id });
      await staged.write(pattern(5));
      await staged.close();
    }
    const open = await staging.begin({ binaryDataId: "open" });
    await Deno.writeTextFile(`${staging.dir}/0123.json`, "{}"); // a sidecar of an older version
    assert.equal((await names(staging.dir)).length, 5);
    assert.equal(await staging.discardStale(["keep", "not-staged"]), 2);
    assert.equal((await names(staging.dir)).length, 2); // "keep" and the open "open"
    const kept = await staging.begin({ binaryDataId: "keep" });
    assert.equal(kept.offset, 5);
    await kept.close();
    await open.close();
    assert.equal(await staging.discardStale(["keep"]), 1);
    assert.equal(await staging.discardStale([]), 1);
    assert.deepEqual(await names(staging.dir), []);
  });
});

Deno.test("a download SIGKILLed mid-way is resumed from its partial by the next process", async () => {
  await withTempDir(async (home) => {
    const size = 100_000;
    const child = spawnChild(home, "stage", [home, _ID, String(size), "37000"]);
    try {
      assert.equal(await child.readLine(), "staged 37000");
    } finally {
      await child.kill();
    }
    const mirror = await openMirror(home);
    try {
      const staged = await mirror.staging.begin({ binaryDataId: _ID, expectedSize: size });
      assert.equal(staged.offset, 37000);
      await staged.write(pattern(size).subarray(staged.offset));
      await staged.commit("models/model.bin");
      assert.deepEqual(await Deno.readFile(`${mirror.root}/models/model.bin`), pattern(size));
    } finally {
      await mirror.close();
    }
  });
});

Deno.test("a partial that is also a placed file (killed between link and unlink) is never written into", async () => {
  await withMirrorDir(async ({ staging }, root) => {
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 4 });
    await staged.write(new TextEncoder().encode("done"));
    await staged.close();
    // What a kill between placing the file and removing its staging name leaves: one inode, two names.
    const [part] = await names(staging.dir);
    await Deno.link(`${staging.dir}/${part}`, `${root}/placed.txt`);
    // The item is renamed on the platform: the same id is staged again for another path.
    const again = await staging.begin({ binaryDataId: _ID, expectedSize: 4 });
    assert.equal(again.offset, 0, "starts afresh instead of trusting a shared inode");
    await again.write(new TextEncoder().encode("XXXX"));
    await again.commit("renamed.txt");
    assert.equal(
      await Deno.readTextFile(`${root}/placed.txt`),
      "done",
      "the placed file is intact",
    );
    assert.equal((await Deno.stat(`${root}/placed.txt`)).nlink, 1);
    assert.equal(await Deno.readTextFile(`${root}/renamed.txt`), "XXXX");
  });
});

Deno.test("a partial planted as a symlink to a file outside is replaced, never written through", async () => {
  await withMirrorDir(async ({ staging }, _root, home) => {
    const outside = `${home}/outside.bin`;
    await Deno.writeTextFile(outside, "precious");
    const part = `${staging.dir}/${await sha256Hex(_ID)}-8.part`;
    await Deno.symlink(outside, part);
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    assert.equal(staged.offset, 0);
    await staged.write(pattern(8));
    await staged.commit("f.bin");
    assert.equal(await Deno.readTextFile(outside), "precious");
    assert.equal((await Deno.lstat(outside)).isFile, true);
  });
});

Deno.test("the partial folder swapped for a link right after begin checked it: the partial there is neither truncated nor written", async () => {
  await withTempDir(async (dir) => {
    const partial = join(dir, "partial");
    const other = join(dir, "other-partial"); // another mirror's partial downloads
    await Deno.mkdir(partial);
    await Deno.mkdir(other);
    const name = `${await sha256Hex(_ID)}-5.part`;
    // The other mirror's partial of the same item, longer than this one's expected size: a begin
    // opening it would empty it.
    await Deno.writeTextFile(join(other, name), "theirs, and longer");
    let checks = 0;
    const staging = new StagingArea(partial, () => Promise.resolve(), undefined, () => {
      if (checks++ === 0) {
        // Checked in place; swapped for a link right after.
        Deno.renameSync(partial, `${partial}.moved`);
        Deno.symlinkSync(other, partial);
        return;
      }
      if (Deno.lstatSync(partial).isSymlink) throw new Deno.errors.PermissionDenied("swapped");
    });
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 5 }).catch((e) => e);
    if (!(staged instanceof Error)) await staged.write(new TextEncoder().encode("mine!"));
    assert.equal(await Deno.readTextFile(join(other, name)), "theirs, and longer");
    assert.ok(staged instanceof Deno.errors.PermissionDenied, `begun: ${staged}`);
  });
});

Deno.test("the state folder swapped for a link to another mirror's during a download: its commit names nothing and removes nothing there, nor does a discard", async () => {
  await withTempDir(async (home) => {
    const ids = [_ID, "org-1/location-1/file-2"];
    const partNames = await Promise.all(ids.map(async (id) => `${await sha256Hex(id)}-10.part`));
    // Another mirror in the same home, downloading the same two items: 4 of their 10 bytes so far.
    const otherPartial = join(home, "other/.data-mirror/partial");
    await Deno.mkdir(otherPartial, { recursive: true });
    for (const name of partNames) await Deno.writeTextFile(join(otherPartial, name), "BBBB");
    const mirror = await openMirror(home);
    try {
      const state = join(mirror.root, ".data-mirror");
      await Deno.mkdir(join(mirror.root, "cam"));
      const [committed, discarded] = await Promise.all(
        ids.map((binaryDataId) => mirror.staging.begin({ binaryDataId, expectedSize: 10 })),
      );
      for (const staged of [committed, discarded]) {
        await staged.write(new TextEncoder().encode("0123456789")); // this mirror's, whole
      }
      await Deno.rename(state, `${state}.moved`);
      await Deno.symlink(join(home, "other/.data-mirror"), state);
      await rejection(() => committed.commit("cam/a.jpg"), Deno.errors.PermissionDenied);
      assert.equal(await exists(join(mirror.root, "cam/a.jpg")), false, "nothing named");
      await rejection(() => discarded.discard(), Deno.errors.PermissionDenied);
      for (const name of partNames) {
        assert.equal(await Deno.readTextFile(join(otherPartial, name)), "BBBB", "theirs, kept");
      }
      // This mirror's own partials stay where they were written, whole, for a later pass.
      for (const name of partNames) {
        assert.equal(await Deno.readTextFile(join(`${state}.moved/partial`, name)), "0123456789");
      }
      await Deno.remove(state);
      await Deno.rename(`${state}.moved`, state);
    } finally {
      await mirror.close();
    }
  });
});

Deno.test("runAtEnd counts the run of one byte value the partial ends in, up to its bound, and leaves appending where it was", async () => {
  await withMirrorDir(async ({ staging }) => {
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    assert.equal(await staged.runAtEnd(64), 0); // nothing held
    await staged.write(new Uint8Array([7, 1, 0, 0, 0]));
    assert.equal(await staged.runAtEnd(64), 3);
    assert.equal(await staged.runAtEnd(2), 2);
    assert.ok(await staged.endsWith(new Uint8Array([1, 0]), { before: 2 }));
    await staged.write(new Uint8Array([5, 5, 9]));
    assert.equal(await staged.runAtEnd(64), 1);
    await staged.commit("f.bin");
  });
});
