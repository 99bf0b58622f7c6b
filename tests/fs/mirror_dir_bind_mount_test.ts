/**
 * A user's folder bound into the mirror after the walk (so not passed by), on a mirror that is a
 * mergerfs pool (FUSE, where a move between the pool's disks also answers "cross-device" inside one
 * mount): the user's file is kept, not unlinked by path as the pool's own file is. Needs root and
 * mergerfs; ignored where either is missing.
 */
import assert from "node:assert/strict";
import { fuseUsableWith, runTool } from "../support/fuse_tools.ts";
import { join } from "node:path";
import { MirrorDir, OwnMountError } from "../../src/fs/mirror_dir.ts";
import { withTempDir } from "./_helpers.ts";

const _USABLE = fuseUsableWith(["mergerfs"]);

Deno.test({
  name: "a folder bound into a mirror on a mergerfs pool after the walk: its files are kept, " +
    "the pool's own stale file is deleted",
  ignore: !_USABLE,
  fn: async () => {
    await withTempDir(async (dir) => {
      // A pool at `pool` holding the Viam home and a folder of the user's pictures, bound into
      // the mirror: one device (the pool's), two mounts.
      const [disk, pool] = ["disk", "pool"].map((d) => join(dir, d));
      const [home, pictures] = [join(pool, "home"), join(pool, "pictures")];
      const mirrorRoot = join(home, "mirror");
      for (const folder of [disk, pool]) await Deno.mkdir(folder, { recursive: true });
      runTool("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk]);
      try {
        runTool("mergerfs", [
          "-o",
          "category.create=mfs,minfreespace=1M,allow_other",
          disk,
          pool,
        ]);
        try {
          for (const folder of [mirrorRoot, pictures]) {
            await Deno.mkdir(folder, { recursive: true });
          }
          await Deno.writeTextFile(join(pictures, "holiday.jpg"), "the user's own");
          await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "mirror" });
          await Deno.writeTextFile(join(mirrorRoot, "stale.jpg"), "no longer listed");
          await Deno.mkdir(join(mirrorRoot, "pics"));
          runTool("mount", ["--bind", pictures, join(mirrorRoot, "pics")]);
          try {
            await assert.rejects(mirror.remove("pics/holiday.jpg"), OwnMountError);
            assert.equal(await mirror.remove("stale.jpg"), true);
          } finally {
            runTool("umount", [join(mirrorRoot, "pics")]);
          }
          assert.equal(await Deno.readTextFile(join(pictures, "holiday.jpg")), "the user's own");
        } finally {
          runTool("umount", [pool]);
        }
      } finally {
        runTool("umount", [disk]);
      }
    });
  },
});
