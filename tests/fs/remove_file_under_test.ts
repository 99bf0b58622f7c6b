/**
 * `removeFileUnder`, the one removal the delete stage and the push side use, on real files: a file
 * or a symlink goes (never the symlink's target), a folder is refused even when empty (Deno's own
 * removal would take an empty one), a name already gone is `false`, the state folder is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { removeFileUnder } from "../../src/fs/mirror_dir.ts";
import { names, withTempDir } from "./_helpers.ts";

Deno.test("removeFileUnder removes a file or a symlink, never a folder nor a link's target", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "mirror");
    const outside = join(dir, "outside");
    await Deno.mkdir(join(root, "a", "empty"), { recursive: true });
    await Deno.mkdir(join(root, ".data-mirror"));
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(root, "a", "file.jpg"), "x");
    await Deno.writeTextFile(join(outside, "keep.txt"), "keep");
    await Deno.writeTextFile(join(root, ".data-mirror", "lock"), "");
    await Deno.symlink(join(outside, "keep.txt"), join(root, "a", "link.jpg"));
    await Deno.symlink(outside, join(root, "a", "dirlink"));

    assert.equal(removeFileUnder(root, "a/file.jpg"), true);
    assert.equal(removeFileUnder(root, "a/link.jpg"), true);
    assert.equal(removeFileUnder(root, "a/dirlink"), true);
    assert.deepEqual(await names(join(root, "a")), ["empty"]);
    assert.equal(await Deno.readTextFile(join(outside, "keep.txt")), "keep");

    assert.throws(() => removeFileUnder(root, "a/empty"), Deno.errors.IsADirectory);
    assert.throws(() => removeFileUnder(root, "a"), Deno.errors.IsADirectory);
    assert.deepEqual(await names(join(root, "a")), ["empty"]);

    // Gone, or its folder gone or a file: nothing to remove.
    assert.equal(removeFileUnder(root, "a/file.jpg"), false);
    assert.equal(removeFileUnder(root, "b/file.jpg"), false);
    await Deno.writeTextFile(join(root, "c"), "");
    assert.equal(removeFileUnder(root, "c/file.jpg"), false);

    assert.throws(() => removeFileUnder(root, ".data-mirror/lock"), Deno.errors.PermissionDenied);
    assert.throws(() => removeFileUnder(root, "../outside/keep.txt"));
    assert.deepEqual(await names(join(root, ".data-mirror")), ["lock"]);
    assert.deepEqual(await names(outside), ["keep.txt"]);
  });
});

Deno.test("removeFileUnder refuses a path through a folder swapped for a symlink since the walk", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "mirror");
    const outside = join(dir, "outside");
    await Deno.mkdir(join(root, "a", "b"), { recursive: true });
    await Deno.writeTextFile(join(root, "a", "b", "file.jpg"), "x");
    await Deno.mkdir(join(outside, "b"), { recursive: true });
    await Deno.writeTextFile(join(outside, "b", "file.jpg"), "keep");
    // What a walk saw as "a/b/file.jpg"; then a local program puts a symlink where "a" was.
    await Deno.rename(join(root, "a"), join(dir, "moved"));
    await Deno.symlink(outside, join(root, "a"));
    assert.throws(
      () => removeFileUnder(root, "a/b/file.jpg"),
      (error: Error) =>
        error instanceof Deno.errors.PermissionDenied && /a became a symlink/.test(error.message),
    );
    assert.equal(await Deno.readTextFile(join(outside, "b", "file.jpg")), "keep");
    // Deeper down too.
    await Deno.remove(join(root, "a"));
    await Deno.mkdir(join(root, "a"));
    await Deno.symlink(join(outside, "b"), join(root, "a", "b"));
    assert.throws(() => removeFileUnder(root, "a/b/file.jpg"), Deno.errors.PermissionDenied);
    assert.equal(await Deno.readTextFile(join(outside, "b", "file.jpg")), "keep");
    // The mirror (or push) folder itself, swapped for a link to a folder of like-named files.
    await Deno.rename(root, join(dir, "moved-root"));
    await Deno.mkdir(join(outside, "a", "b"), { recursive: true });
    await Deno.writeTextFile(join(outside, "a", "b", "file.jpg"), "keep");
    await Deno.writeTextFile(join(outside, "top.jpg"), "keep");
    await Deno.symlink(outside, root);
    for (const path of ["top.jpg", "a/b/file.jpg"]) {
      assert.throws(
        () => removeFileUnder(root, path),
        (error: Error) =>
          error instanceof Deno.errors.PermissionDenied &&
          error.message.includes(`the folder ${root} itself became a symlink`),
      );
    }
    assert.deepEqual(await names(outside), ["a", "b", "top.jpg"]);
  });
});
