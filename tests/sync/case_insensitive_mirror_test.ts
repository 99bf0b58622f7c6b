/**
 * A mirror on exfat-fuse (case-insensitive) where the listing spells a file the disk holds in
 * another case: taken for that file (not fetched again every pass, kept in the manifest), and
 * replaced when another item is listed there now.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, type ItemRecord } from "../support/platform/mod.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseInTempDir } from "../support/exfat_fuse.ts";
import { withMirror } from "./_harness.ts";

function _named(items: readonly ItemRecord[], names: string[]): ItemRecord[] {
  return items.map((item, i) => ({ ...item, fileName: names[i], fileExt: "" }));
}

Deno.test({
  name: "exfat-fuse: Cam/ and cam/ in one listing are fetched once and all in the manifest",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir(async (root, home) => {
      const { items } = describeDataset([{ name: "x", count: 4, sizeBytes: 2000 }]);
      const dataset = {
        items: _named(items, ["Cam/a.jpg", "Cam/b.jpg", "cam/c.jpg", "cam/d.jpg"]),
        datasets: [],
      };
      await withMirror(dataset, async ({ pass, platform }) => {
        await pass({ delete: true });
        platform.resetCalls();
        const second = await pass({ delete: true });
        assert.equal(platform.calls.BinaryDataByIDs, 0, "fetched again");
        assert.equal(second.summary.downloaded, 0);
        const manifest = await Deno.readTextFile(join(root, ".data-mirror", "manifest.jsonl"));
        assert.equal(manifest.trim().split("\n").length, 4);
        // A new item listed under another case of a placed file replaces it.
        const [next] = describeDataset([{ name: "y", count: 1, sizeBytes: 3000 }]).items;
        platform.replaceDataset({
          items: [...dataset.items.slice(1), { ...next, fileName: "cam/A.jpg", fileExt: "" }],
          datasets: [],
        });
        await pass({ delete: true });
        // One entry for the path, the new item's (read by its folder: exfat-fuse keeps the old
        // spelling's node, and its size, for a moment).
        const sizes = [...Deno.readDirSync(join(root, "Cam"))]
          .filter((e) => e.name.toLowerCase() === "a.jpg")
          .map((e) => Deno.lstatSync(join(root, "Cam", e.name)).size);
        assert.deepEqual(sizes, [3000]);
      }, { home });
    }, { name: "data_mirror", prefix: "data-mirror-case-" }),
});
