import assert from "node:assert/strict";
import { listLocalFiles } from "../../src/fs/local_files.ts";
import { pruneEmptyDirs } from "../../src/fs/prune_dirs.ts";
import { names, rejection, withTempDir } from "./_helpers.ts";

/** Prunes what a walk of `root` finds empty, as a pass does. */
async function pruneWalked(root: string, protectedDirs: string[]): Promise<string[]> {
  const candidates: string[] = [];
  await listLocalFiles(root, { onEmptyDir: (dir) => candidates.push(dir) });
  return await pruneEmptyDirs(root, { protectedDirs, candidates });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("removes empty dirs bottom-up, deepest first, and keeps the root and dirs with content", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/a/b/c`, { recursive: true });
    await Deno.mkdir(`${root}/a/d`, { recursive: true });
    await Deno.mkdir(`${root}/keep/empty`, { recursive: true });
    await Deno.writeTextFile(`${root}/keep/file`, "x");
    const removed = await pruneWalked(root, []);
    assert.deepEqual(removed.slice().sort(), ["a", "a/b", "a/b/c", "a/d", "keep/empty"]);
    assert.ok(removed.indexOf("a/b/c") < removed.indexOf("a/b"));
    assert.ok(removed.indexOf("a/b") < removed.indexOf("a"));
    assert.deepEqual(await names(root), ["keep"]);
    assert.deepEqual(await names(`${root}/keep`), ["file"]);
    // an empty root stays
    await Deno.remove(`${root}/keep`, { recursive: true });
    assert.deepEqual(await pruneWalked(root, []), []);
    assert.ok(await exists(root));
  });
});

Deno.test("keeps protected dirs even when empty, every folder below them, and their ancestors", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/models/current/old/older`, { recursive: true });
    await Deno.mkdir(`${root}/x/y/z`, { recursive: true });
    await Deno.mkdir(`${root}/x/w`, { recursive: true });
    await Deno.mkdir(`${root}/other`, { recursive: true });
    await Deno.mkdir(`${root}/models-2/a`, { recursive: true });
    const removed = await pruneWalked(root, ["./models/current/", "x//y"]);
    assert.deepEqual(removed.slice().sort(), ["models-2", "models-2/a", "other", "x/w"]);
    assert.ok(await exists(`${root}/models/current/old/older`));
    assert.ok(await exists(`${root}/x/y/z`));
  });
});

Deno.test("a protected dir that does not exist still keeps its ancestors and is not created", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    const removed = await pruneWalked(root, ["a/missing", "."]);
    assert.deepEqual(removed, ["a/b"]); // "a" is an ancestor of a protected dir
    assert.deepEqual(await names(`${root}/a`), []);
  });
});

Deno.test("never touches the state dir, even when it or its children are empty", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/.data-mirror/partial`, { recursive: true });
    await Deno.mkdir(`${root}/.data-mirror/empty`, { recursive: true });
    await Deno.mkdir(`${root}/gone`);
    assert.deepEqual(await pruneWalked(root, []), ["gone"]);
    assert.deepEqual(await names(`${root}/.data-mirror`), ["empty", "partial"]);
  });
});

Deno.test("does not follow symlinks, which count as content", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/holder`, { recursive: true });
    await Deno.mkdir(`${dir}/outside/empty`, { recursive: true });
    await Deno.symlink(`${dir}/outside`, `${root}/holder/link`);
    assert.deepEqual(await pruneWalked(root, []), []);
    assert.ok(await exists(`${dir}/outside/empty`));
    assert.ok(await exists(`${root}/holder/link`));
  });
});

Deno.test("a candidate below a folder swapped for a symlink since the walk is not tried", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    await Deno.mkdir(`${root}/c/d/e`, { recursive: true });
    const candidates: string[] = [];
    await listLocalFiles(root, { onEmptyDir: (empty) => candidates.push(empty) });
    assert.deepEqual(candidates.sort(), ["a/b", "c/d/e"]);
    // After the walk, a local program puts symlinks where "a" and "c/d" were, to folders outside
    // that hold an empty "b" and "e".
    await Deno.mkdir(`${dir}/outside/b`, { recursive: true });
    await Deno.mkdir(`${dir}/outside2/e`, { recursive: true });
    await Deno.remove(`${root}/a`, { recursive: true });
    await Deno.symlink(`${dir}/outside`, `${root}/a`);
    await Deno.remove(`${root}/c/d`, { recursive: true });
    await Deno.symlink(`${dir}/outside2`, `${root}/c/d`);
    assert.deepEqual(await pruneEmptyDirs(root, { protectedDirs: [], candidates }), []);
    assert.ok(await exists(`${dir}/outside/b`));
    assert.ok(await exists(`${dir}/outside2/e`));
    assert.ok(await exists(`${root}/a`));
  });
});

Deno.test("a missing root prunes nothing; a protected dir outside the mirror is refused", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await pruneWalked(`${dir}/missing`, []), []);
    for (const bad of ["../x", "/abs", "a/../../x"]) {
      await rejection(() => pruneWalked(dir, [bad]), RangeError, bad);
    }
  });
});

Deno.test("a mirror nested in this one is left whole, its empty folders included", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/faces/.data-mirror/partial`, { recursive: true });
    await Deno.mkdir(`${root}/faces/empty-inside`, { recursive: true });
    await Deno.mkdir(`${root}/gone/too`, { recursive: true });
    const removed = await pruneWalked(root, []);
    assert.deepEqual(removed.sort(), ["gone", "gone/too"]);
    assert.ok((await Deno.stat(`${root}/faces/empty-inside`)).isDirectory);
    assert.ok((await Deno.stat(`${root}/faces/.data-mirror/partial`)).isDirectory);
  });
});

Deno.test("only candidates are tried, each removal makes its parent one, and a full one stays", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/a/b`, { recursive: true });
    await Deno.mkdir(`${root}/a/full`, { recursive: true });
    await Deno.writeTextFile(`${root}/a/full/file`, "x");
    await Deno.mkdir(`${root}/untouched/empty`, { recursive: true });
    await Deno.mkdir(`${root}/c/d`, { recursive: true });
    const removed = await pruneEmptyDirs(root, {
      protectedDirs: [],
      candidates: ["a/b", "a/full", "c/d", "", "a/gone"],
    });
    // "a" still holds "full"; "c" was emptied by "c/d" going; "untouched/empty" was no candidate.
    assert.deepEqual(removed, ["a/b", "c/d", "c"]);
    assert.deepEqual(await names(root), ["a", "untouched"]);
    assert.deepEqual(await names(`${root}/a/full`), ["file"]);
    assert.deepEqual(await names(`${root}/untouched`), ["empty"]);
    for (const bad of ["../x", "/abs", "a/../../x", "a//b"]) {
      await rejection(
        () => pruneEmptyDirs(root, { protectedDirs: [], candidates: [bad] }),
        RangeError,
        bad,
      );
    }
  });
});

Deno.test("pruning keeps an empty protected folder named in another case", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/keep`);
    const removed = await pruneEmptyDirs(root, { protectedDirs: ["Keep"], candidates: ["keep"] });
    assert.deepEqual(removed, []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
