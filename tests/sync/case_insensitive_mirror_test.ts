/**
 * A mirror on exfat-fuse (case-insensitive) where the listing spells a file the disk holds in
 * another case: taken for that file (not fetched again every pass, kept in the manifest), and
 * replaced when another item is listed there now.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, type ItemRecord } from "../support/platform/mod.ts";
import { testOnExfatFuse } from "../support/exfat_fuse.ts";
import { dryRunPass } from "../../src/sync/run_pass.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import type { MirrorConfig } from "../../src/config.ts";
import type { Logger } from "../../src/logger.ts";
import type { DryRunReport } from "../../src/mirror_controller.ts";
import { runPass } from "../../src/sync/run_pass.ts";
import { readTree, withMirror, wrappedRemote } from "./_harness.ts";
import { pollUntil } from "../_poll.ts";

/** The mirror folder on the exFAT mount. */
const _ON_EXFAT = { name: "data_mirror", prefix: "data-mirror-case-" };

function _named(items: readonly ItemRecord[], names: string[]): ItemRecord[] {
  return items.map((item, i) => ({ ...item, fileName: names[i], fileExt: "" }));
}

testOnExfatFuse(
  "exfat-fuse: Cam/ and cam/ in one listing are fetched once and all in the manifest",
  _ON_EXFAT,
  async (root, home) => {
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
      const third = await pass({ delete: true });
      assert.equal(third.summary.downloaded, 1);
      assert.equal(third.guard, undefined, "the listing proved whole: the replacement is due");
      // One entry for the path, the new item's (read by its folder: exfat-fuse keeps the old
      // spelling's node, and its size, for a moment: a loaded CI run saw 2000 once, so its
      // attributes are given up to their cache's second to settle).
      const sizes = () =>
        [...Deno.readDirSync(join(root, "Cam"))]
          .filter((e) => e.name.toLowerCase() === "a.jpg")
          .map((e) => Deno.lstatSync(join(root, "Cam", e.name)).size);
      await pollUntil("the new item's size shows", () => sizes().join() === "3000", {
        limitMs: 2_000,
      }).catch(() => {});
      assert.deepEqual(sizes(), [3000], JSON.stringify(third.summary));
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: a twin listed a page after the path that took its file keeps its own bytes",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 2, sizeBytes: 2000 }]);
    const older = { ...items[0], fileName: "A.jpg", fileExt: "" };
    const newer = { ...items[1], fileName: "a.jpg", fileExt: "", sizeBytes: 3000 };
    await withMirror({ items: [newer], datasets: [] }, async ({ pass, platform }) => {
      await pass({ delete: true });
      // A.jpg, requested earlier, arrives late: listed first, a page before its twin.
      platform.replaceDataset({ items: [older, newer], datasets: [] });
      platform.setFaults({ maxPageItems: 1, latencyMs: 100 });
      const second = await pass({ delete: true });
      assert.equal(second.summary.skipped, 2);
      const sizes = [...Deno.readDirSync(root)].filter((e) => e.isFile)
        .map((e) => Deno.lstatSync(join(root, e.name)).size);
      assert.deepEqual(sizes, [3000]);
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: files spelt in another case in one folder are adopted reading the folder once",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 200, sizeBytes: 16 }]);
    const names = items.map((_, i) => `Cam/f${String(i).padStart(3, "0")}.jpg`);
    await withMirror({ items: _named(items, names), datasets: [] }, async ({ pass }) => {
      await pass({});
      for (const name of names) {
        const upper = name.replace(/f(\d+)\.jpg$/, "F$1.JPG");
        Deno.renameSync(join(root, name), join(root, `${upper}.tmp`));
        Deno.renameSync(join(root, `${upper}.tmp`), join(root, upper));
      }
      const readDirSync = Deno.readDirSync;
      let reads = 0;
      Deno.readDirSync = (path) => {
        if (String(path).endsWith("/Cam")) reads++;
        return readDirSync(path);
      };
      try {
        const again = await pass({ delete: true });
        assert.equal(again.summary.skipped, 200);
      } finally {
        Deno.readDirSync = readDirSync;
      }
      assert.ok(reads < 10, `the folder was read ${reads} times`);
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: a file of another Unicode form is another file: stale, it is deleted",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 2, sizeBytes: 500 }]);
    // Two files on exFAT, which folds case, not form.
    const [p, q] = _named(items, ["cafe\u0301.jpg", "caf\u00e9.jpg"]);
    await withMirror({ items: [p, q], datasets: [] }, async ({ pass, platform }) => {
      await pass({ delete: true });
      platform.replaceDataset({ items: [{ ...q, fileName: "Caf\u00e9.jpg" }], datasets: [] });
      const second = await pass({ delete: true });
      assert.equal(second.summary.deleted, 1);
      const files = [...Deno.readDirSync(root)].filter((e) => e.isFile).map((e) => e.name);
      assert.deepEqual(files, ["caf\u00e9.jpg"]);
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: max_delete's kept count counts a file taken for a listed spelling once",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([
      { name: "x", count: 40, sizeBytes: 100 },
      { name: "y", count: 60, sizeBytes: 100 },
    ]);
    const [old, fresh] = [items.slice(0, 40), items.slice(40)];
    const numbered = (folder: string, count: number) =>
      Array.from({ length: count }, (_, i) => `${folder}/f${String(i).padStart(2, "0")}.jpg`);
    const freshNamed = _named(fresh, numbered("new", 60));
    await withMirror({ items: _named(old, numbered("Cam", 40)), datasets: [] }, async (m) => {
      await m.pass({ delete: true });
      // The platform now spells the folder in lower case and lists new files; the listing fails
      // after its first page (a network cut), once some new files were placed.
      m.platform.replaceDataset({
        items: [..._named(old, numbered("cam", 40)), ...freshNamed],
        datasets: [],
      });
      m.platform.setFaults({ maxPageItems: 80, failListingAfterPage: 1 });
      await m.pass({ delete: true }, { attempts: { page: 1, file: 1 } }).catch(() => {});
      const kept = Deno.readTextFileSync(join(root, ".data-mirror", "held-deletes")).trim();
      assert.equal(kept, "40", "max_delete's kept count: the 40 files the mirror held");
      // The next listing lacks the 40 old files (a filter changed by mistake): 40 of the 40 the
      // mirror held is over max_delete's default 50%: held back, nothing deleted.
      m.platform.replaceDataset({ items: freshNamed, datasets: [] });
      m.platform.setFaults({});
      await m.pass({ delete: true });
      assert.equal([...Deno.readDirSync(join(root, "Cam"))].length, 40, "max_delete let them go");
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: with delete, a stale file Dir where dir/sub.png is listed is deleted and the item placed in the same pass",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 3, sizeBytes: 2000 }]);
    const [stale, nested, keep] = _named(items, ["Dir", "dir/sub.png", "keep.jpg"]);
    await withMirror({ items: [stale, keep], datasets: [] }, async ({ pass, platform }) => {
      await pass({ delete: true });
      platform.replaceDataset({ items: [nested, keep], datasets: [] });
      const second = await pass({ delete: true });
      assert.deepEqual([second.summary.deleted, second.summary.failed], [1, 0]);
      assert.equal(second.summary.downloaded, 1);
      assert.equal(Deno.lstatSync(join(root, "dir", "sub.png")).size, 2000);
    }, { home });
  },
);

/** A dry run of `config` through the real remote, as `sync --dry-run` makes it. */
function _dryRun(config: MirrorConfig, logger: Logger): Promise<DryRunReport> {
  const { appUrl, apiKeyId, apiKey } = config;
  return dryRunPass(config, new ViamRemote({ appUrl, apiKeyId, apiKey }), { logger });
}

testOnExfatFuse(
  "exfat-fuse: a dry run counts a twin the disk keeps as skipped, as its pass does",
  _ON_EXFAT,
  async (root, home) => {
    const { items } = describeDataset([{ name: "x", count: 3, sizeBytes: 2000 }]);
    const dataset = { items: _named(items, ["A.jpg", "a.jpg", "b.jpg"]), datasets: [] };
    await withMirror(dataset, async ({ pass, config, logger }) => {
      await pass({ delete: true });
      const report = await _dryRun(config({ delete: true }), logger);
      const second = await pass({ delete: true });
      assert.equal(second.summary.downloaded, 0, "the twin is fetched and kept, not placed");
      assert.equal(second.summary.skipped, 3);
      assert.deepEqual(report.downloads, []);
      assert.deepEqual([report.downloadCount, report.downloadBytes, report.skipped], [0, 0, 3]);
      assert.equal([...Deno.readDirSync(root)].filter((e) => e.isFile).length, 2);
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: a dry run counts twins both new as one download, as their pass places one",
  _ON_EXFAT,
  async (_root, home) => {
    const { items } = describeDataset([{ name: "x", count: 3, sizeBytes: 2000 }]);
    const [b, upper, lower] = _named(items, ["b.jpg", "A.jpg", "a.jpg"]);
    await withMirror({ items: [b], datasets: [] }, async ({ pass, config, logger, platform }) => {
      await pass({ delete: true });
      platform.replaceDataset({ items: [b, upper, lower], datasets: [] });
      const report = await _dryRun(config({ delete: true }), logger);
      const second = await pass({ delete: true });
      assert.deepEqual([second.summary.downloaded, second.summary.skipped], [1, 2]);
      assert.deepEqual([report.downloadCount, report.downloadBytes, report.skipped], [1, 2000, 2]);
      assert.equal(report.downloads.length, 1);
    }, { home });
  },
);

testOnExfatFuse(
  "exfat-fuse: the mirror's folder replaced by another folder during a pass: nothing deleted or written in that one",
  { name: "home", prefix: "data-mirror-swap-" },
  async (home) => {
    // As on ext4 (run_pass_test): another mirror of the same items renamed into the mirror's
    // place while a pass runs. A FUSE disk numbers its folders too, for as long as they are used.
    const cams = describeDataset([{ name: "cam", count: 30, folder: "cams", sizeBytes: 300 }]);
    await withMirror(cams, async ({ config, logger, pass, platform, root }) => {
      await pass();
      await pass({ mirror_path: "other" });
      platform.replaceDataset(describeDataset([{ name: "n", count: 1, folder: "new" }]));
      let swapped = false;
      const cfg = config({ delete: true, max_delete: "100%" });
      const real = new ViamRemote({
        appUrl: cfg.appUrl,
        apiKeyId: cfg.apiKeyId,
        apiKey: cfg.apiKey,
      });
      const remote = wrappedRemote(real, (r) => ({
        fetchInline: (ids, options) => {
          if (!swapped) {
            swapped = true;
            Deno.renameSync(root, `${root}.moved`);
            Deno.renameSync(join(home, "other"), root);
          }
          return r.fetchInline(ids, options);
        },
      }));
      const result = await runPass(cfg, remote, { logger, minRetryDelayMs: 1 });
      assert.ok(swapped);
      assert.equal(result.summary.deleted, 0, logger.text());
      const inPlace = await readTree(root);
      assert.equal([...inPlace.keys()].filter((path) => path.startsWith("cams/")).length, 30);
      assert.equal(inPlace.has("new/n-000000.jpeg"), false, "written in the folder moved in");
    }, { home });
  },
);
