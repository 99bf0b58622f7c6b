import assert from "node:assert/strict";
import { removeMirrorFile } from "../../src/fs/remove_file.ts";
import { names, rejection, withTempDir } from "./_helpers.ts";

Deno.test("removes a file once; a missing file, parent or root is not an error", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    await Deno.writeTextFile(`${root}/a/b/f.jpg`, "x");
    await Deno.writeTextFile(`${root}/a/b/other.jpg`, "y");
    assert.equal(await removeMirrorFile(root, "a/b/f.jpg"), true);
    assert.deepEqual(await names(`${root}/a/b`), ["other.jpg"]);
    assert.equal(await removeMirrorFile(root, "a/b/f.jpg"), false);
    assert.equal(await removeMirrorFile(root, "no/such/dir/f.jpg"), false);
    assert.equal(await removeMirrorFile(`${root}/missing-root`, "f.jpg"), false);
  });
});

Deno.test("removes a symlink itself, never its target", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(root);
    await Deno.writeTextFile(`${dir}/target`, "keep me");
    await Deno.symlink(`${dir}/target`, `${root}/link`);
    await Deno.symlink(`${dir}/nothing`, `${root}/dangling`);
    assert.equal(await removeMirrorFile(root, "link"), true);
    assert.equal(await removeMirrorFile(root, "dangling"), true);
    assert.deepEqual(await names(root), []);
    assert.equal(await Deno.readTextFile(`${dir}/target`), "keep me");
  });
});

Deno.test("refuses the root, paths that are not normalised or leave the root, and the state dir", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/.data-mirror`, { recursive: true });
    await Deno.writeTextFile(`${root}/.data-mirror/lock`, "");
    await Deno.writeTextFile(`${dir}/victim`, "outside");
    for (
      const bad of ["", ".", "/etc/passwd", "../victim", "a/../../victim", "a//b", "./a", "a/"]
    ) {
      await rejection(() => removeMirrorFile(root, bad), RangeError, "normalised relative path");
    }
    for (const state of [".data-mirror/lock", ".data-mirror", ".DATA-MIRROR/lock"]) {
      await rejection(() => removeMirrorFile(root, state), Deno.errors.PermissionDenied, "state");
    }
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "outside");
    assert.deepEqual(await names(`${root}/.data-mirror`), ["lock"]);
  });
});

Deno.test("refuses a parent that resolves outside the root or into the state dir", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/.data-mirror`, { recursive: true });
    await Deno.mkdir(`${dir}/outside`);
    await Deno.writeTextFile(`${dir}/outside/victim`, "outside");
    await Deno.writeTextFile(`${root}/.data-mirror/lock`, "");
    await Deno.symlink(`${dir}/outside`, `${root}/escape`);
    await Deno.symlink(`${root}/.data-mirror`, `${root}/state-alias`);
    await rejection(
      () => removeMirrorFile(root, "escape/victim"),
      Deno.errors.PermissionDenied,
      "outside the mirror",
    );
    await rejection(
      () => removeMirrorFile(root, "state-alias/lock"),
      Deno.errors.PermissionDenied,
      "state dir",
    );
    assert.deepEqual(await names(`${dir}/outside`), ["victim"]);
    assert.deepEqual(await names(`${root}/.data-mirror`), ["lock"]);
  });
});

Deno.test("refuses a directory", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/dir`);
    await rejection(() => removeMirrorFile(root, "dir"), Deno.errors.IsADirectory, "dir");
    assert.deepEqual(await names(root), ["dir"]);
  });
});

Deno.test("works when the root itself is reached through a symlink", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/real/sub/f`, "x");
    await Deno.symlink(`${dir}/real`, `${dir}/alias`);
    assert.equal(await removeMirrorFile(`${dir}/alias`, "sub/f"), true);
    assert.deepEqual(await names(`${dir}/real/sub`), []);
  });
});
