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
import { withMirror } from "./_harness.ts";

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

Deno.test("a new version placed just before a power cut that lost its placed-log entry is still the mirror's: its manifest line, the next version", async () => {
  // Mid-pass, the log of what each file came from is flushed by the next batch's sync; a journal
  // commit (any fsync, the 5 s one) may put a file's new name on disk first. Cut then, the record
  // names the old version, whose size the file no longer has: the listed item's size it has.
  const model = (name: string, size: number) =>
    describeDataset([{
      name,
      count: 1,
      sizeBytes: size,
      fileName: "models/detector.tflite",
      fileExt: ".tflite",
    }]);
  const state = ["placed", "placed.log"];
  await withMirror(model("v1", 5000), async ({ pass, platform, root, files }) => {
    await pass({ delete: true });
    const saved = new Map<string, Uint8Array>();
    for (const name of state) {
      const bytes = await Deno.readFile(join(root, ".data-mirror", name)).catch(() => undefined);
      if (bytes !== undefined) saved.set(name, bytes);
    }
    platform.replaceDataset(model("v2", 6000));
    const v2 = platform.items()[0];
    assert.equal((await pass({ delete: true })).summary.downloaded, 1);
    // The power cut: the file's new name is on disk, the record and the log as before the pass.
    for (const name of state) {
      const path = join(root, ".data-mirror", name);
      await Deno.remove(path).catch(() => {});
      const bytes = saved.get(name);
      if (bytes !== undefined) await Deno.writeFile(path, bytes);
    }
    await pass({ delete: true });
    const manifest = await Deno.readTextFile(join(root, ".data-mirror", "manifest.jsonl"));
    const ids = manifest.split("\n").filter((line) => line).map((l) =>
      JSON.parse(l).binary_data_id
    );
    assert.deepEqual(ids, [v2.binaryDataId], "the file with v2's bytes has its line");
    platform.replaceDataset(model("v3", 7000));
    const v3 = platform.items()[0];
    await pass({ delete: true });
    assert.deepEqual(
      (await files()).get("models/detector.tflite"),
      platform.contentOf(v3.binaryDataId),
      "v3 replaced the file",
    );
  }, { inlineLimitBytes: 1024 });
});
