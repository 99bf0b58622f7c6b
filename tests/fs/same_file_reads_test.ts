/**
 * isSameFileUnder on a case-sensitive file system where a folder's items moved to another case of
 * its name (both folders on disk): the check that the listed path is named exactly (for FUSE) must
 * read each folder once per plan, not once per file (quadratic: 37 s for 5,000 files).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isSameFileUnder } from "../../src/fs/mirror_dir.ts";

Deno.test("isSameFileUnder reads each folder once for a plan's many files", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-same-file-reads-" });
  try {
    await Deno.mkdir(join(root, "cams"));
    await Deno.mkdir(join(root, "Cams"));
    const names = Array.from({ length: 300 }, (_, i) => `f${i}.jpg`);
    for (const name of names) {
      await Deno.writeTextFile(join(root, "cams", name), "old");
      await Deno.writeTextFile(join(root, "Cams", name), "new");
    }
    const readDirSync = Deno.readDirSync;
    let reads = 0;
    Deno.readDirSync = (path) => {
      reads++;
      return readDirSync(path);
    };
    const cache = new Map<string, Set<string>>();
    try {
      for (const name of names) {
        // Two files (ext4): the stale one is not the listed one.
        assert.equal(isSameFileUnder(root, `cams/${name}`, `Cams/${name}`, cache), false);
      }
    } finally {
      Deno.readDirSync = readDirSync;
    }
    assert.ok(reads <= 2, `${reads} folder reads for ${names.length} files`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
