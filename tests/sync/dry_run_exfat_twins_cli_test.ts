/**
 * The dry run on an exFAT mirror (exfat-fuse; the CLI under production permissions, against the
 * local data platform) counts two new items as one download only when the disk takes their names
 * for one file: "Straße.jpg" and "STRAẞE.jpg" lower to one spelling in JavaScript, but exFAT's
 * table of capitals has no "ẞ", and a pass places both.
 */
import assert from "node:assert/strict";
import { describeDataset } from "../support/platform/mod.ts";
import { startPlatform } from "../support/platform/mod.ts";
import { testOnExfatFuse } from "../support/exfat_fuse.ts";
import { runProgram } from "../_program.ts";

testOnExfatFuse(
  "exfat-fuse: sync --dry-run counts names JavaScript lowers alike but exFAT keeps apart as downloads",
  { name: "data_mirror", prefix: "data-mirror-dry-twins-" },
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 3, sizeBytes: 2000 }]);
    const [b, upper, lower] = items.map((item, i) => ({
      ...item,
      fileName: ["b.jpg", "STRAẞE.jpg", "Straße.jpg"][i],
      fileExt: "",
    }));
    await using platform = await startPlatform({ dataset: { items: [b], datasets: [] } });
    const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
    const sync = (...args: string[]) =>
      runProgram(["sync", "--app-url", platform.url, "--json", "--delete", ...args], {
        viamHome: home,
        env,
      });
    const first = await sync();
    assert.equal(first.code, 0, first.stderr);
    platform.replaceDataset({ items: [b, upper, lower], datasets: [] });
    const dry = await sync("--dry-run");
    assert.equal(dry.code, 0, dry.stderr);
    const pass = await sync();
    assert.equal(pass.code, 0, pass.stderr);
    assert.equal(JSON.parse(pass.stdout).downloaded, 2, pass.stdout);
    assert.equal(
      [...Deno.readDirSync(root)].filter((e) => e.isFile).length,
      3,
      "exFAT keeps both names",
    );
    assert.equal(JSON.parse(dry.stdout).downloadCount, 2, dry.stdout);
  },
);
