// Tests of foldersOnWay, the look at a path's folders that stands for an `openat` (real folders).
import assert from "node:assert/strict";
import { join } from "node:path";
import { foldersOnWay } from "../../src/fs/_util.ts";
import { withTempDir } from "./_helpers.ts";

/** Lets the clock pass the millisecond of the last change (Deno gives times to the millisecond). */
function _nextMillisecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3));
}

Deno.test("foldersOnWay tells a folder flipped with a link and back between two looks, and a link there", async () => {
  await withTempDir(async (root) => {
    const outside = join(root, "..", `outside-${crypto.randomUUID()}`);
    await Deno.mkdir(outside);
    try {
      await Deno.mkdir(join(root, "a/sub"), { recursive: true });
      await _nextMillisecond();
      const before = foldersOnWay(root, "a/sub/f.jpg");
      assert.equal(typeof before, "string");
      assert.equal(foldersOnWay(root, "a/sub/f.jpg"), before, "nothing changed: the same");
      // For the moment of an open: `sub` moved away, a link in its place, then put back.
      await _nextMillisecond();
      Deno.renameSync(join(root, "a/sub"), join(root, "a/sub.away"));
      Deno.symlinkSync(outside, join(root, "a/sub"));
      assert.deepEqual(foldersOnWay(root, "a/sub/f.jpg"), { swapped: "a/sub" });
      Deno.removeSync(join(root, "a/sub"));
      Deno.renameSync(join(root, "a/sub.away"), join(root, "a/sub"));
      const after = foldersOnWay(root, "a/sub/f.jpg");
      assert.equal(typeof after, "string");
      assert.notEqual(after, before, "flipped and put back: told apart");
      // The same by the holding folder's inode alone, for a look around a move of its file.
      await _nextMillisecond();
      const byInode = foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true });
      await Deno.writeTextFile(join(root, "a/sub/g.jpg"), "made in the holding folder");
      assert.equal(foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true }), byInode);
      assert.notEqual(foldersOnWay(root, "a/sub/f.jpg"), after, "by its times, it changed");
      await _nextMillisecond();
      Deno.renameSync(join(root, "a/sub"), join(root, "a/sub.away"));
      Deno.renameSync(join(root, "a/sub.away"), join(root, "a/sub"));
      assert.notEqual(
        foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true }),
        byInode,
        "the holding folder moved and put back: its parent tells",
      );
      await Deno.remove(join(root, "a/sub"), { recursive: true });
      assert.equal(foldersOnWay(root, "a/sub/f.jpg"), undefined, "gone: nothing to look at");
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});
