/**
 * The mirror's manifest (`.data-mirror/manifest.jsonl`) written by real passes against the local
 * data platform through the real SDK: its lines, its atomic replacement, what it keeps after a
 * failed listing, a failed download or a delete pass, planted symlinks, the opt-out and dry runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listLocalFiles } from "../../src/fs/local_files.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import {
  MANIFEST_PATH,
  type ManifestLine,
  ManifestWriter,
} from "../../src/sync/manifest_writer.ts";
import { dryRunPass } from "../../src/sync/run_pass.ts";
import { describeDataset, type ItemRecord, type Platform } from "../support/platform/mod.ts";
import { withMirror, writePlaced } from "./_harness.ts";
import { peakMemoryBytes } from "../_peak_memory.ts";

/** The manifest's lines (each must parse on its own), or undefined when there is no manifest. */
async function readManifest(root: string): Promise<ManifestLine[] | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, MANIFEST_PATH));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return _parse(text);
}

function _parse(text: string): ManifestLine[] {
  if (text === "") return [];
  assert.ok(text.endsWith("\n"), "the manifest ends with a whole line");
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line) as ManifestLine);
}

/** path -> binary_data_id of the manifest's lines, checking that no path comes twice. */
function pathsOf(lines: readonly ManifestLine[]): Map<string, string> {
  const paths = new Map(lines.map((line) => [line.path, line.binary_data_id]));
  assert.equal(paths.size, lines.length, "one line per path");
  return paths;
}

/** The line the platform's item should have at `path`, as the platform serves its fields. */
function expectedLine(path: string, item: ItemRecord): ManifestLine {
  return {
    path,
    binary_data_id: item.binaryDataId,
    size: item.sizeBytes,
    mime_type: item.mimeType,
    tags: [...item.tags],
    bboxes: item.bboxLabels.map((label, k) => ({
      label,
      x_min: (10 + k) / 100,
      y_min: (20 + k) / 100,
      x_max: 0.7,
      y_max: 0.8,
      ...(item.bboxConfidence === undefined ? {} : { confidence: item.bboxConfidence }),
    })),
    dataset_ids: [...item.datasetIds],
    time_requested: new Date(item.timeRequestedMs).toISOString(),
  };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Checks that every file of the mirror has its line, with the platform's metadata, and no more. */
function assertDescribesMirror(
  lines: readonly ManifestLine[],
  tree: Map<string, Uint8Array>,
  platform: Platform,
): void {
  assert.deepEqual([...pathsOf(lines).keys()].sort(), [...tree.keys()].sort());
  for (const line of lines) {
    const item = platform.item(line.binary_data_id);
    assert.deepEqual(line, expectedLine(line.path, item));
    assert.ok(sameBytes(tree.get(line.path), platform.contentOf(item.binaryDataId)), line.path);
  }
}

Deno.test("after a pass each mirrored file has one line: path, id, size, type, tags, boxes, datasets, time", async () => {
  const dataset = describeDataset([
    {
      name: "boxed",
      count: 4,
      folder: "cams/front",
      tags: (i) => (i % 2 ? ["face", "night"] : ["face"]),
      bboxLabels: (i) => (i === 0 ? [] : ["person", "car"].slice(0, i)),
      bboxConfidence: (i) => (i === 2 ? 0.875 : undefined),
      datasetIds: (i) => (i === 3 ? ["ds-a", "ds-b"] : []),
    },
    { name: "png", count: 2, naming: "unnamed", mimeType: "image/png", tags: ["face"] },
    // Two items on one path: the smaller id wins, and only its line is written.
    { name: "b-dup", count: 1, fileName: "same.jpg", fileExt: ".jpg", tags: ["face"] },
    { name: "a-dup", count: 1, fileName: "same.jpg", fileExt: ".jpg", tags: ["face"] },
    { name: "other", count: 3, tags: ["elsewhere"] },
  ]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    const result = await pass({ tags: ["face"] });
    assert.equal(result.summary.downloaded, 7);
    assert.equal(result.summary.duplicate, 1);
    const lines = (await readManifest(root))!;
    assert.equal(lines.length, 7);
    assertDescribesMirror(lines, await files(), platform);
    const paths = pathsOf(lines);
    const winner = platform.items().find((item) => item.fileId === "a-dup-000000")!;
    assert.equal(paths.get("same.jpg"), winner.binaryDataId);
    // The fields spelled out once, so the format is visible here and cannot drift unnoticed.
    const boxed = lines.find((line) => line.path === "cams/front/boxed-000002.jpeg")!;
    assert.deepEqual(boxed, {
      path: "cams/front/boxed-000002.jpeg",
      binary_data_id: platform.item(boxed.binary_data_id).binaryDataId,
      size: platform.item(boxed.binary_data_id).sizeBytes,
      mime_type: "image/jpeg",
      tags: ["face"],
      bboxes: [
        { label: "person", x_min: 0.1, y_min: 0.2, x_max: 0.7, y_max: 0.8, confidence: 0.875 },
        { label: "car", x_min: 0.11, y_min: 0.21, x_max: 0.7, y_max: 0.8, confidence: 0.875 },
      ],
      dataset_ids: [],
      time_requested: "2025-01-01T00:00:02.000Z",
    });
    const withoutConfidence = lines.find((line) => line.path === "cams/front/boxed-000001.jpeg")!;
    assert.equal("confidence" in withoutConfidence.bboxes[0], false, "absent, not 0");
    const inDatasets = lines.find((line) => line.path === "cams/front/boxed-000003.jpeg")!;
    assert.deepEqual(inDatasets.dataset_ids, ["ds-a", "ds-b"]);
    // Of the manifest's files only it and its digest stay (no pending file, no temporary one).
    const state = await Array.fromAsync(Deno.readDir(join(root, ".data-mirror")));
    assert.deepEqual(
      state.map((e) => e.name).filter((name) => name.includes("manifest")).sort(),
      ["manifest.digest", "manifest.jsonl"],
    );
  });
});

Deno.test("items dated past what a Date holds are mirrored and listed whole; their time is null", async () => {
  // A Timestamp's seconds reach far past the ±8.64e15 ms of a JavaScript Date (some 275,000
  // years), and nothing makes a platform check its dates. Such a time must stop neither the
  // sharded listing (it is the span's edge) nor the manifest.
  const base = describeDataset([{ count: 250, sizeBytes: 100 }]);
  const t0 = Date.UTC(2025, 0, 1);
  const far = 1e18;
  const dataset = {
    ...base,
    items: base.items.map((item, i) => ({
      ...item,
      timeRequestedMs: i === 0 ? -far : i === 1 ? far : t0 + i * 1000,
    })),
  };
  await withMirror(dataset, async ({ pass, root, logger }) => {
    const result = await pass({ delete: true });
    assert.equal(result.error, undefined, logger.text());
    assert.equal(result.listingComplete, true);
    assert.equal(result.summary.downloaded, 250);
    const lines = await readManifest(root);
    assert.equal(lines?.length, 250, logger.text());
    const timeOf = new Map(lines!.map((line) => [line.binary_data_id, line.time_requested]));
    assert.equal(timeOf.get(dataset.items[0].binaryDataId), null);
    assert.equal(timeOf.get(dataset.items[1].binaryDataId), null);
    assert.equal(timeOf.get(dataset.items[2].binaryDataId), new Date(t0 + 2000).toISOString());
    const again = await pass({ delete: true });
    assert.equal(again.error, undefined);
    assert.equal(again.summary.downloaded + again.summary.deleted, 0);
  });
});

Deno.test("a large listing (shards, overlapping pages) gives exactly one line per file", async () => {
  const dataset = describeDataset([{ count: 1200, tags: ["t"], datasetIds: ["ds"] }]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    platform.setFaults({ maxPageItems: 37 });
    const result = await pass({ tags: ["t"] });
    assert.equal(result.summary.downloaded, 1200);
    assertDescribesMirror((await readManifest(root))!, await files(), platform);
  });
});

Deno.test("lines cut by the 256 KiB reads and a line longer than them are copied whole", async () => {
  // About 3 MiB of pending lines, so reads cut lines; one item's line is 1.6 MB (30,000 tags).
  const longTags = Array.from({ length: 30_000 }, (_, i) => `tag-${i}-${"x".repeat(45)}`);
  const dataset = describeDataset([
    { name: "many", count: 3000, tags: (i) => (i === 1500 ? ["t", ...longTags] : ["t"]) },
  ]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    const result = await pass({ tags: ["t"] });
    assert.equal(result.summary.downloaded, 3000);
    const lines = (await readManifest(root))!;
    assertDescribesMirror(lines, await files(), platform);
    const long = lines.find((line) => platform.item(line.binary_data_id).fileId === "many-001500")!;
    assert.equal(long.tags.length, 30_001);
    assert.equal(long.tags.at(-1), longTags.at(-1));
  });
});

Deno.test("paths JSON must escape, or past 256 bytes, or not ASCII, get their lines, read back the same", async () => {
  const long = `${"d".repeat(120)}/${"é".repeat(100)}.jpg`;
  const dataset = describeDataset([
    { name: "quoted", count: 1, fileName: 'say "cheese".jpg', fileExt: ".jpg", tags: ["t"] },
    { name: "unicode", count: 1, fileName: "caméras/ünï 😀.jpg", fileExt: ".jpg", tags: ["t"] },
    { name: "long", count: 1, fileName: long, fileExt: ".jpg", tags: ["t"] },
    { name: "plain", count: 2, tags: ["t"] },
  ]);
  await withMirror(dataset, async ({ pass, root, files, platform }) => {
    assert.equal((await pass()).summary.downloaded, 5);
    const lines = (await readManifest(root))!;
    assertDescribesMirror(lines, await files(), platform);
    assert.deepEqual(
      lines.map((line) => line.path).filter((path) => !path.startsWith("plain")).sort(),
      [long, "caméras/ünï 😀.jpg", 'say "cheese".jpg'].sort(),
    );
    // Read back the same: the next pass finds the same lines and leaves the file alone.
    const before = await Deno.stat(join(root, MANIFEST_PATH));
    await pass();
    assert.equal((await Deno.stat(join(root, MANIFEST_PATH))).ino, before.ino);
  });
});

Deno.test("a file that failed to download is not in the manifest; one already there stays", async () => {
  const dataset = describeDataset([
    { name: "good", count: 2, sizeBytes: 100 },
    { name: "big", count: 1, sizeBytes: 50_000, fileName: "big.bin", fileExt: ".bin" },
  ]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    platform.setFaults({ dropBodyAfterBytes: 1000 });
    const failed = await pass({}, { attempts: { file: 1 } });
    assert.equal(failed.summary.failed, 1);
    let lines = (await readManifest(root))!;
    assert.deepEqual([...pathsOf(lines).keys()].sort(), [
      "good/good-000000.jpeg",
      "good/good-000001.jpeg",
    ]);
    assertDescribesMirror(lines, await files(), platform);
    // The next pass fetches it; the files from the first pass, not downloaded again, stay listed.
    platform.setFaults({});
    platform.resetCalls();
    const second = await pass();
    assert.equal(second.summary.downloaded, 1);
    assert.equal(second.summary.skipped, 2);
    lines = (await readManifest(root))!;
    assert.equal(lines.length, 3);
    assertDescribesMirror(lines, await files(), platform);
  }, { inlineLimitBytes: 1024 });
});

Deno.test("a failed listing keeps the previous manifest byte for byte; none is made without one", async () => {
  const dataset = describeDataset([{ name: "first", count: 250 }]);
  await withMirror(dataset, async ({ pass, root, platform }) => {
    platform.setFaults({ failListingAfterPage: 1 });
    const never = await pass({}, { attempts: { page: 1 }, parallelPages: 1 });
    assert.equal(never.listingComplete, false);
    assert.ok(never.summary.downloaded > 0, "what was listed was downloaded");
    assert.equal(await readManifest(root), undefined, "no manifest from an incomplete listing");

    platform.setFaults({});
    await pass();
    const before = await Deno.readFile(join(root, MANIFEST_PATH));
    assert.equal(_parse(new TextDecoder().decode(before)).length, 250);

    platform.replaceDataset(describeDataset([{ name: "first", count: 250 }, { count: 150 }]));
    platform.setFaults({ failListingAfterPage: 1 });
    const cut = await pass({}, { attempts: { page: 1 }, parallelPages: 1 });
    assert.equal(cut.listingComplete, false);
    assert.deepEqual(await Deno.readFile(join(root, MANIFEST_PATH)), before);
  });
});

Deno.test("a delete pass drops the removed files' lines; the manifest is never listed nor deleted", async () => {
  const dataset = describeDataset([{ name: "keep", count: 3 }, { name: "gone", count: 2 }]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    await pass({ delete: true });
    assert.equal((await readManifest(root))!.length, 5);
    assert.ok(!(await listLocalFiles(root)).has(MANIFEST_PATH), "not a mirrored file");

    platform.replaceDataset(describeDataset([{ name: "keep", count: 3 }]));
    const result = await pass({ delete: true });
    assert.equal(result.summary.deleted, 2);
    const lines = (await readManifest(root))!;
    assert.equal(lines.length, 3);
    assertDescribesMirror(lines, await files(), platform);

    // Everything goes: the manifest stays, empty, since it is the program's own.
    platform.replaceDataset(describeDataset([]));
    const all = await pass({ delete: true, allow_delete_all: true });
    assert.equal(all.summary.deleted, 3);
    assert.deepEqual(await readManifest(root), []);
  });
});

Deno.test("deletes of files the manifest never held leave it alone, pass after pass", async () => {
  // A stale file the manifest does not name (the pass that placed it was killed before its
  // manifest was written): the lines stay the same, so the manifest (41 MB at 100,000 items) is not
  // written again.
  const dataset = describeDataset([{ name: "keep", count: 3 }]);
  await withMirror(dataset, async ({ pass, root }) => {
    const path = join(root, MANIFEST_PATH);
    await pass({ delete: true });
    const first = await Deno.stat(path);
    for (const stray of ["stray-1.txt", "stray-2.txt"]) {
      await new Promise((resolve) => setTimeout(resolve, 20)); // a rewrite would show a later mtime
      await writePlaced(root, stray, "not from the cloud");
      const result = await pass({ delete: true });
      assert.equal(result.summary.deleted, 1);
      const now = await Deno.stat(path);
      assert.equal(now.ino, first.ino, stray);
      assert.equal(now.mtime?.getTime(), first.mtime?.getTime(), stray);
    }
    assert.equal((await readManifest(root))!.length, 3);
  });
});

Deno.test("an item named like the manifest is refused and cannot overwrite it", async () => {
  const dataset = describeDataset([
    { name: "ok", count: 1 },
    { name: "evil", count: 1, fileName: ".data-mirror/manifest.jsonl", fileExt: ".jsonl" },
    { name: "evil-case", count: 1, fileName: "x/.DATA-MIRROR/manifest.jsonl", fileExt: ".jsonl" },
  ]);
  await withMirror(dataset, async ({ pass, files, root, platform }) => {
    const result = await pass();
    assert.equal(result.summary.rejected, 2);
    const lines = (await readManifest(root))!;
    assert.deepEqual([...pathsOf(lines).keys()], ["ok/ok-000000.jpeg"]);
    assertDescribesMirror(lines, await files(), platform);
  });
});

Deno.test("the manifest is replaced by rename: readers see a whole old or new file, never part of one", async () => {
  const dataset = describeDataset([{ name: "a", count: 400, tags: ["t"] }]);
  await withMirror(dataset, async ({ pass, root, platform }) => {
    const path = join(root, MANIFEST_PATH);
    await pass();
    const first = await Deno.stat(path);
    platform.replaceDataset(
      describeDataset([{ name: "a", count: 400, tags: ["t"] }, { name: "b", count: 300 }]),
    );
    // A reader polling all through the pass: every read is a whole manifest of 400 or 700 lines.
    let reading = true;
    const seen = new Set<number>();
    const reader = (async () => {
      while (reading) {
        seen.add(_parse(await Deno.readTextFile(path)).length);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    })();
    try {
      await pass();
    } finally {
      reading = false;
      await reader;
    }
    seen.add(_parse(await Deno.readTextFile(path)).length);
    assert.deepEqual([...seen].filter((n) => n !== 400 && n !== 700), []);
    assert.ok(seen.has(700));
    const second = await Deno.stat(path);
    assert.notEqual(second.ino, first.ino, "a new file renamed into place, not rewritten in place");
    const leftovers = [...Deno.readDirSync(join(root, ".data-mirror"))]
      .filter((e) => e.name.endsWith(".tmp") || e.name.includes("pending"));
    assert.deepEqual(leftovers, []);
  });
});

Deno.test("a pass over unchanged data leaves the manifest alone; a changed tag rewrites it", async () => {
  const groups = (
    tag: string,
  ) => [{ name: "a", count: 300, tags: (i: number) => (i === 7 ? [tag] : ["t"]) }];
  await withMirror(describeDataset(groups("t")), async ({ pass, root, files, platform }) => {
    const path = join(root, MANIFEST_PATH);
    await pass();
    const first = await Deno.stat(path);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a rewrite would show a later mtime
    const same = await pass();
    assert.equal(same.summary.skipped, 300);
    const second = await Deno.stat(path);
    assert.equal(second.ino, first.ino);
    assert.equal(second.mtime?.getTime(), first.mtime?.getTime());
    // Only the metadata changes (no file does): the manifest must follow it.
    platform.replaceDataset(describeDataset(groups("relabelled")));
    await pass();
    const third = await Deno.stat(path);
    assert.notEqual(third.ino, first.ino);
    const lines = (await readManifest(root))!;
    assert.deepEqual(lines.find((line) => line.path === "a/a-000007.jpeg")?.tags, ["relabelled"]);
    assertDescribesMirror(lines, await files(), platform);
    // Changed behind the program's back (same inode, other bytes): the next pass rewrites it.
    await Deno.writeTextFile(path, "garbage\n", { append: true });
    await pass();
    assertDescribesMirror((await readManifest(root))!, await files(), platform);
  });
});

Deno.test("a digest file of 1 GiB is not read: the manifest is rewritten, in little memory", async () => {
  await withMirror(describeDataset([{ count: 3 }]), async ({ pass, root, files, platform }) => {
    await pass();
    // Sparse (no disk taken): read whole, it made every pass peak at 1.1 GB.
    using digest = await Deno.open(join(root, ".data-mirror", "manifest.digest"), { write: true });
    await digest.truncate(1024 ** 3);
    const before = peakMemoryBytes();
    await pass();
    const grown = peakMemoryBytes() - before;
    assert.ok(grown < 256 * 1024 * 1024, `the peak grew by ${grown} bytes`);
    assertDescribesMirror((await readManifest(root))!, await files(), platform);
    assert.ok((await Deno.stat(join(root, ".data-mirror", "manifest.digest"))).size < 1000);
  });
});

Deno.test("symlinks planted at the manifest's names are replaced, never written through", async () => {
  const dataset = describeDataset([{ count: 3 }]);
  await withMirror(dataset, async ({ pass, root, home, files, platform }) => {
    await pass();
    const outside = join(home, "outside.txt");
    await Deno.writeTextFile(outside, "precious\n");
    const state = join(root, ".data-mirror");
    await Deno.remove(join(state, "manifest.jsonl"));
    await Deno.symlink(outside, join(state, "manifest.jsonl"));
    await Deno.symlink(outside, join(state, "manifest.pending"));
    await pass();
    assert.equal(await Deno.readTextFile(outside), "precious\n", "the file outside is unchanged");
    assert.ok((await Deno.lstat(join(state, "manifest.jsonl"))).isFile, "a plain file now");
    assertDescribesMirror((await readManifest(root))!, await files(), platform);
    await assert.rejects(Deno.lstat(join(state, "manifest.pending")), Deno.errors.NotFound);
  });
});

Deno.test("a killed pass's leftovers (pending file, half a manifest) are cleared by the next pass", async () => {
  await withMirror(describeDataset([{ count: 3 }]), async ({ pass, root, files, platform }) => {
    await pass();
    const state = join(root, ".data-mirror");
    const half = `.manifest.jsonl.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(join(state, half), '{"path":"g0/g0-0000');
    await Deno.writeTextFile(join(state, "manifest.pending"), "stale\n");
    await Deno.writeTextFile(join(state, "manifest.jsonlx"), "not ours to remove");
    await pass();
    const names = [...Deno.readDirSync(state)].map((entry) => entry.name).sort();
    assert.deepEqual(names.filter((name) => name.includes("manifest")), [
      "manifest.digest",
      "manifest.jsonl",
      "manifest.jsonlx",
    ]);
    assertDescribesMirror((await readManifest(root))!, await files(), platform);
  });
});

Deno.test("a symlinked state folder is refused: nothing is written where it leads", async () => {
  await withMirror(describeDataset([{ count: 2 }]), async ({ pass, root, home }) => {
    const elsewhere = join(home, "elsewhere");
    await Deno.mkdir(elsewhere);
    await Deno.mkdir(root, { recursive: true });
    await Deno.symlink(elsewhere, join(root, ".data-mirror"));
    await assert.rejects(pass(), /state dir .* must be a plain directory/);
    assert.deepEqual([...Deno.readDirSync(elsewhere)], []);
  });
});

Deno.test("manifest: false clears the pending copy a killed pass with the manifest on left", async () => {
  await withMirror(describeDataset([{ count: 2 }]), async ({ pass, root }) => {
    await pass();
    // What a pass killed while it wrote its lines leaves (up to 41 MB at 100,000 items).
    const pending = join(root, ".data-mirror", "manifest.pending");
    await Deno.writeTextFile(pending, "x".repeat(100_000));
    await pass({ manifest: false });
    await assert.rejects(Deno.lstat(pending), Deno.errors.NotFound);
  });
});

Deno.test("manifest: false writes none, and --dry-run writes none", async () => {
  await withMirror(describeDataset([{ count: 3 }]), async ({ pass, root, config, logger }) => {
    const result = await pass({ manifest: false });
    assert.equal(result.summary.downloaded, 3);
    await assert.rejects(Deno.lstat(join(root, MANIFEST_PATH)), Deno.errors.NotFound);
    const names = [...Deno.readDirSync(join(root, ".data-mirror"))].map((e) => e.name);
    assert.deepEqual(names.filter((name) => name.includes("manifest")), []);

    const cfg = config();
    const remote = new ViamRemote({
      appUrl: cfg.appUrl,
      apiKeyId: cfg.apiKeyId,
      apiKey: cfg.apiKey,
    });
    const report = await dryRunPass(cfg, remote, { logger });
    assert.equal(report.listed, 3);
    await assert.rejects(Deno.lstat(join(root, MANIFEST_PATH)), Deno.errors.NotFound);
  });
});

Deno.test("a state folder swapped for a symlink during the pass: another mirror's manifest is not replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "manifest-swap-" });
  try {
    const root = join(dir, "mirror");
    const state = join(root, ".data-mirror");
    await Deno.mkdir(state, { recursive: true });
    const other = join(dir, "other", ".data-mirror");
    await Deno.mkdir(other, { recursive: true });
    await Deno.writeTextFile(join(other, "manifest.jsonl"), "theirs\n");
    const warnings: string[] = [];
    const writer = await ManifestWriter.open(root, { warn: (m) => warnings.push(m) });
    // The state folder, a plain one when the pass began its manifest, swapped for a link since.
    await Deno.rename(state, join(dir, "moved"));
    await Deno.symlink(other, state);
    assert.equal(await writer.finish(new Map(), () => true, { changed: true }), undefined);
    await writer.close();
    assert.match(warnings.join("\n"), /became a symlink/);
    assert.equal(await Deno.readTextFile(join(other, "manifest.jsonl")), "theirs\n");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(other), (e) => e.name), ["manifest.jsonl"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the mirror swapped for a link to another mirror before its manifest opens: nothing of the other mirror's state is removed or made", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data_mirror_manifest_swap_" });
  try {
    const root = join(dir, "mirror");
    const other = join(dir, "other");
    await Deno.mkdir(join(root, ".data-mirror"), { recursive: true });
    await Deno.mkdir(join(other, ".data-mirror"), { recursive: true });
    // The other mirror's pass is writing its pending manifest and a new manifest.
    await Deno.writeTextFile(join(other, ".data-mirror", "manifest.pending"), "theirs");
    const theirs = await Array.fromAsync(Deno.readDir(join(other, ".data-mirror")), (e) => e.name);
    // This mirror, resolved real by the pass, swapped for a link to the other since.
    await Deno.rename(root, `${root}.moved`);
    await Deno.symlink(other, root);
    const writer = await ManifestWriter.open(root);
    await writer.close();
    await ManifestWriter.discardPending(root, { warn: () => {} });
    const now = await Array.fromAsync(Deno.readDir(join(other, ".data-mirror")), (e) => e.name);
    assert.deepEqual(now.sort(), theirs.sort());
    assert.equal(
      await Deno.readTextFile(join(other, ".data-mirror", "manifest.pending")),
      "theirs",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
