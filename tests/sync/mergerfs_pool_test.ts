/**
 * A mirror on a pool of disks joined by mergerfs (FUSE), the real program against the local data
 * platform. With a path-preserving create policy (`epmfs`, Debian 12's mergerfs default) a folder
 * lies on the disks where its parent does, and a `rename` or `link` between folders on different
 * disks answers EXDEV inside the one mount: the mirror's own files, not a mount of their own.
 * Needs root and mergerfs; ignored where either is missing.
 */
import assert from "node:assert/strict";
import { fuseUsableWith, runTool } from "../support/fuse_tools.ts";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { runProgram } from "../_program.ts";
import { recordPlaced } from "./_harness.ts";

const _USABLE = fuseUsableWith(["mergerfs"]);

Deno.test({
  name: "a mirror on a mergerfs pool (epmfs): a stale file on another disk than .data-mirror is " +
    "deleted, and an item that cannot be linked across says what to change",
  ignore: !_USABLE,
  fn: async () => {
    await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
    const scratch = await Deno.makeTempDir({ prefix: "data-mirror-mergerfs-" });
    const [big, small, mirror] = ["big", "small", "home/data_mirror"].map((d) => join(scratch, d));
    try {
      for (const dir of [big, small, mirror]) await Deno.mkdir(dir, { recursive: true });
      // Two disks: the state folder on the smaller, the mirror's files on the bigger (where
      // epmfs, most free space, puts each new folder made at the pool's root).
      runTool("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", big]);
      runTool("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", small]);
      await Deno.mkdir(join(small, ".data-mirror"));
      await Deno.mkdir(join(big, "old"));
      await Deno.writeTextFile(join(big, "old", "stale.jpg"), "no longer listed"); // see below
      const options = "category.create=epmfs,minfreespace=1M,allow_other";
      runTool("mergerfs", ["-o", options, `${big}:${small}`, mirror]);
      try {
        await recordPlaced(mirror, ["old/stale.jpg"]); // the mirror's own, no longer listed
        const run = await runProgram(
          ["sync", "--app-url", platform.url, "--delete", "--json"],
          {
            viamHome: join(scratch, "home"),
            env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
          },
        );
        const summary = JSON.parse(run.stdout);
        assert.equal(summary.deleted, 1, run.stdout); // old/stale.jpg, the mirror's own
        await assert.rejects(Deno.lstat(join(big, "old", "stale.jpg")), Deno.errors.NotFound);
        assert.equal(summary.failed, 1, run.stdout);
        assert.match(summary.failures[0].error, /category\.create=mfs or pfrd instead of epmfs/);
        assert.doesNotMatch(run.stderr, /bind mount/);
      } finally {
        runTool("umount", [mirror]);
      }
    } finally {
      await new Deno.Command("umount", { args: [big] }).output();
      await new Deno.Command("umount", { args: [small] }).output();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
