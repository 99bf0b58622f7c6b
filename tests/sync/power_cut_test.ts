/**
 * What a mirror's state holds after a power cut, on a real journaled ext4 whose power is cut by an
 * atomic copy of its disk (`tests/support/power_cut.ts`: root, loop devices, btrfs). The program
 * runs as it does for real (`main.ts sync` under the production flags).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, type Platform, startPlatform } from "../support/platform/mod.ts";
import { withPowerCuttableDisk } from "../support/power_cut.ts";
import { lastJsonLine, runProgram } from "../_program.ts";

/** One `sync --json` pass with delete into `<home>/dm` of the items tagged `tag`. */
async function _pass(platform: Platform, home: string, tag: string) {
  const output = await runProgram(
    ["sync", "--app-url", platform.url, "--tags", tag, "--mirror-path", "dm", "--delete", "--json"],
    { viamHome: home, env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey } },
  );
  return lastJsonLine(output.stdout) as { downloaded: number; deleted: number; guard?: string };
}

Deno.test("max_delete's held-back count survives a power cut: the next pass deletes no more than it would have", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([
      // Fetched by uri, each flushed on its own (no group sync of the file system to carry the
      // count's bytes along, as where `sync` cannot run: a FUSE disk, an older kernel).
      { name: "a", count: 20, folder: "cams", tags: ["a"], sizeBytes: 300_000 },
      { name: "b", count: 20, folder: "cams", tags: ["b"], sizeBytes: 300_000 },
    ]),
  });
  await withPowerCuttableDisk(async (disk) => {
    assert.equal((await _pass(platform, disk.mountPoint, "a")).downloaded, 20);
    await new Deno.Command("sync", { args: ["-f", disk.mountPoint] }).output();
    // The filter changed by mistake: max_delete (50%) holds the 20 files of "a" back.
    const heldBack = await _pass(platform, disk.mountPoint, "b");
    assert.equal(heldBack.deleted, 0);
    assert.match(heldBack.guard ?? "", /max.delete/);
    // Any fsync on the disk commits the journal: the count's name with it, not its bytes unless
    // they were flushed.
    await disk.commitJournal();
    const after = await disk.cut();
    const next = await _pass(platform, after, "b");
    assert.equal(next.deleted, 0, "the power cut let through the deletes max_delete held back");
    assert.match(next.guard ?? "", /max.delete/);
  });
});

Deno.test("the placed record survives a power cut after the pass that wrote it: a later version of each file is fetched", async () => {
  const dataset = (name: string, size: (i: number) => number) =>
    describeDataset([{
      name,
      count: 30,
      fileName: (i) => `models/model-${i}.bin`,
      fileExt: ".bin",
      tags: ["m"],
      sizeBytes: size,
    }]);
  await using platform = await startPlatform({ dataset: dataset("v1", (i) => 1_000 + i) });
  await withPowerCuttableDisk(async (disk) => {
    assert.equal((await _pass(platform, disk.mountPoint, "m")).downloaded, 30);
    await disk.commitJournal();
    const after = await disk.cut();
    platform.replaceDataset(dataset("v2", (i) => 2_000 + i));
    const next = await _pass(platform, after, "m");
    assert.equal(next.downloaded, 30, "files kept on their old version after a reported success");
    for (let i = 0; i < 30; i++) {
      assert.equal(
        (await Deno.stat(join(after, "dm", "models", `model-${i}.bin`))).size,
        2_000 + i,
      );
    }
  });
});
