/**
 * A stale file whose listed case twin (ext4: `p/f.jpg` and `P/f.jpg`) is the user's symlink: kept
 * only when the link leads to it, which is told from the link's targets, never by following it out
 * of the mirror (a link onto a disk that cannot answer held the pass).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseInTempDir } from "../support/exfat_fuse.ts";
import { withMirror } from "./_harness.ts";

const _photo = (name: string, fileName: string, sizeBytes: number) => ({
  name,
  count: 1,
  sizeBytes,
  fileName,
  fileExt: "",
});

Deno.test({
  name: "a case twin's link onto a disk whose driver died is not followed: the stale file goes",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir(async (mount) => {
      const upper = _photo("b", "P/f.jpg", 200);
      await withMirror(
        describeDataset([_photo("a", "p/f.jpg", 100), upper]),
        async ({ pass, platform, root }) => {
          await pass({ delete: true });
          await Deno.writeTextFile(join(mount, "f.jpg"), "on the stick");
          await Deno.remove(join(root, "P/f.jpg"));
          await Deno.symlink(join(mount, "f.jpg"), join(root, "P/f.jpg"));
          // The stick's driver dies: anything that reaches the mount now fails (or, stopped
          // instead, waits for good).
          const found = new Deno.Command("pgrep", { args: ["-f", `mount.exfat-fuse .* ${mount}$`] })
            .outputSync();
          const driver = new TextDecoder().decode(found.stdout).trim().split("\n");
          assert.equal(driver.length, 1, `drivers of ${mount}: ${driver.join(", ")}`);
          Deno.kill(Number(driver[0]), "SIGKILL");
          platform.replaceDataset(describeDataset([upper]));
          const result = await pass({ delete: true });
          assert.equal(result.summary.deleted, 1);
          await assert.rejects(Deno.lstat(join(root, "p/f.jpg")), Deno.errors.NotFound);
          assert.ok((await Deno.lstat(join(root, "P/f.jpg"))).isSymlink, "the user's link stays");
        },
      );
    }),
});
