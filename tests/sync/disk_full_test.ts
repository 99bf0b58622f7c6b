/**
 * The free-space reserve and a full disk, on a real small file system: a 20 MiB tmpfs mounted for
 * the test (the suite runs as root, as CI does). Downloads at the default concurrency must never
 * eat into the reserve, and deletes must still run when the disk is 100% full.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { inCliTerms } from "../../src/cli/attribute_flags.ts";
import { describeDataset, type PlatformDataset } from "../support/platform/mod.ts";
import { PassCancelledError } from "../../src/remote/errors.ts";
import { readTree, RecordingLogger, withMirror } from "./_harness.ts";

const _MIB = 1024 * 1024;

/** Runs `fn` with a fresh 20 MiB tmpfs mounted at a temporary folder (the Viam home). */
async function withTmpfs(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "data-mirror-tmpfs-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=20m", "tmpfs", home],
    stderr: "piped",
  }).output();
  assert.ok(
    mount.success,
    `mounting a tmpfs needs root: ${new TextDecoder().decode(mount.stderr)}`,
  );
  try {
    await fn(home);
  } finally {
    await new Deno.Command("umount", { args: [home] }).output();
    await Deno.remove(home, { recursive: true });
  }
}

async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

/** Runs `work` while free space at `path` is polled; resolves to its result and the lowest seen. */
async function lowestFreeDuring<T>(
  path: string,
  work: () => Promise<T>,
): Promise<{ result: T; lowest: number }> {
  let lowest = Infinity;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      lowest = Math.min(lowest, await freeBytes(path));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  try {
    return { result: await work(), lowest };
  } finally {
    polling = false;
    await poller;
  }
}

/** The platform serving `dataset` and a mirror in the tmpfs home. */
function withMirrorOnTmpfs(
  dataset: PlatformDataset,
  fn: Parameters<typeof withMirror>[1],
  options: { inlineLimitBytes?: number } = {},
): Promise<void> {
  return withTmpfs((home) => withMirror(dataset, fn, { home, ...options }));
}

Deno.test("at the default concurrency, downloads stop at the reserve and never fill the disk", async () => {
  const dataset = describeDataset([{ count: 10, sizeBytes: 3 * _MIB, folder: "big" }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, root, home, platform }) => {
    const { result, lowest } = await lowestFreeDuring(
      home,
      () => pass({ free_space_reserve_percent: 5 }),
    );
    const reserve = 0.05 * 20 * _MIB;
    assert.ok(lowest >= reserve, `free space fell to ${lowest} bytes, below ${reserve}`);
    assert.match(
      result.guard ?? "",
      /^free-space reserve of 5% reached \(\d+ of 20971520 bytes free, \d+ of them booked by downloads in flight, \d+ wanted by the next\): downloads paused until space is freed or free_space_reserve_percent lowered$/,
    );
    // The CLI's `held back:` line names its flag.
    assert.match(inCliTerms(result.guard ?? ""), /or --free-space-reserve lowered$/);
    assert.equal(result.summary.failed, 0, "held back, not failed");
    assert.ok(result.summary.downloaded >= 5, `${result.summary.downloaded} downloaded`);
    const tree = await readTree(root);
    assert.equal(tree.size, result.summary.downloaded);
    for (const [path, bytes] of tree) {
      const item = platform.items().find((i) => path.endsWith(i.fileId + ".jpeg"));
      assert.equal(bytes.length, 3 * _MIB, `${path} is whole`);
      assert.ok(item);
    }
  });
});

Deno.test("two mirrors of one process on one disk keep the reserve together, not each on its own", async () => {
  // A module's two resources on the robot's card: each booked up to the reserve on its own, and
  // together they ran the disk out of space (a reviewer's run: ENOSPC, 1.2 of 3 MiB left).
  const dataset = describeDataset([{ count: 12, sizeBytes: 1_500_000, folder: "big" }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, home }) => {
    const reservePercent = 15;
    const { result, lowest } = await lowestFreeDuring(
      home,
      () =>
        Promise.all(
          ["m1", "m2"].map((mirror) =>
            pass({ mirror_path: mirror, free_space_reserve_percent: reservePercent })
          ),
        ),
    );
    const reserve = reservePercent / 100 * 20 * _MIB;
    assert.ok(lowest >= reserve, `free space fell to ${lowest} bytes, below ${reserve}`);
    for (const { summary, guard } of result) {
      assert.equal(summary.failed, 0, "held back, not failed");
      assert.match(guard ?? "", /^free-space reserve of 15% reached/);
    }
    const placed = result.reduce((sum, { summary }) => sum + summary.downloaded, 0);
    assert.ok(placed >= 8, `${placed} downloaded by the two`);
  });
});

Deno.test("a mirror whose files find no room while another mirror's download holds its booking waits for it, not the next pass", async () => {
  // The other's bytes on the disk are counted twice (written and booked) until its file is placed;
  // a mirror holding nothing itself gave up for the pass (held back an hour at the module's rate).
  const dataset = describeDataset([
    { name: "big", count: 1, tags: ["b"], sizeBytes: 14 * _MIB, folder: "big" },
    { name: "small", count: 10, tags: ["a"], sizeBytes: 4000, folder: "small" },
  ]);
  await withMirrorOnTmpfs(dataset, async ({ pass, home, platform }) => {
    platform.setFaults({ bodyBytesPerSecond: 8 * _MIB });
    const partial = join(home, "mb", ".data-mirror", "partial");
    const staged = async () => {
      let bytes = 0;
      try {
        for await (const entry of Deno.readDir(partial)) {
          bytes += (await Deno.stat(join(partial, entry.name))).size;
        }
      } catch { /* not made yet, or placed meanwhile */ }
      return bytes;
    };
    const big = pass({ mirror_path: "mb", tags: ["b"], free_space_reserve_percent: 5 });
    try {
      while ((await staged()) < 8 * _MIB) await new Promise((resolve) => setTimeout(resolve, 20));
      const small = await pass({ mirror_path: "ma", tags: ["a"], free_space_reserve_percent: 5 });
      assert.equal(small.guard, undefined, "held back for the pass");
      assert.equal(small.summary.downloaded, 10);
    } finally {
      assert.equal((await big).summary.downloaded, 1); // before the tmpfs goes
    }
  }, { inlineLimitBytes: 16 * 1024 });
});

Deno.test("on a 100% full disk, what the platform no longer has is still deleted", async () => {
  const dataset = describeDataset([{ count: 10, sizeBytes: 100_000, tags: ["t"] }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, root, home, platform }) => {
    const first = await pass({ tags: ["t"], delete: true });
    assert.equal(first.summary.downloaded, 10);
    // Fill the file system to the last block with a file outside the mirror.
    const filler = await Deno.open(join(home, "filler"), { write: true, create: true });
    const chunk = new Uint8Array(256 * 1024);
    try {
      for (;;) await filler.write(chunk);
    } catch (error) {
      assert.match(String(error), /No space left/);
    } finally {
      filler.close();
    }
    assert.equal(await freeBytes(home), 0);
    platform.replaceDataset(describeDataset([{ count: 4, sizeBytes: 100_000, tags: ["t"] }]));
    const full = await pass({ tags: ["t"], delete: true });
    assert.equal(full.error, undefined);
    assert.equal(full.summary.deleted, 6);
    assert.equal((await readTree(root)).size, 4);
    // space came back: a later pass downloads again
    await Deno.remove(join(home, "filler"));
    platform.replaceDataset(describeDataset([{ count: 7, sizeBytes: 100_000, tags: ["t"] }]));
    const later = await pass({ tags: ["t"], delete: true });
    assert.equal(later.summary.downloaded, 3);
    assert.equal((await readTree(root)).size, 7);
  });
});

Deno.test("a partial is booked for the bytes it lacks; one the disk had no room for is removed", async () => {
  const { MirrorDir } = await import("../../src/fs/mirror_dir.ts");
  const size = 9 * _MIB;
  const dataset = describeDataset([
    { count: 1, sizeBytes: size, fileName: "model.bin", fileExt: ".bin" },
  ]);
  await withMirrorOnTmpfs(dataset, async ({ pass, root, home, platform }) => {
    const [item] = platform.items();
    const key = { binaryDataId: item.binaryDataId, expectedSize: size };
    {
      await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "data_mirror" });
      const staged = await mirror.staging.begin(key);
      await staged.write(platform.contentOf(item.binaryDataId).subarray(0, 5 * _MIB));
      await staged.close();
    }
    // 7 MiB free: the 4 MiB the partial lacks fit above the 1 MiB reserve, the whole 9 MiB not.
    const filler = join(home, "filler");
    await Deno.writeFile(filler, new Uint8Array((await freeBytes(home)) - 7 * _MIB));
    const resumed = await pass({ free_space_reserve_percent: 5 });
    assert.equal(resumed.guard, undefined);
    assert.equal(resumed.summary.downloaded, 1);
    const placed = await Deno.readFile(join(root, "model.bin"));
    assert.ok(Buffer.from(placed).equals(platform.contentOf(item.binaryDataId)), "whole");

    // With no size listed, nothing is booked: the download runs into a full disk, fails, and its
    // partial goes, so the disk does not stay full.
    await Deno.remove(join(root, "model.bin"));
    await Deno.writeFile(filler, new Uint8Array((await freeBytes(home)) + 7 * _MIB - 4 * _MIB));
    const before = await freeBytes(home);
    platform.setFaults({ unlistedSizes: true });
    const full = await pass({ free_space_reserve_percent: 0 });
    assert.equal(full.summary.failed, 1);
    assert.match(full.failures[0].error, /No space left/);
    assert.deepEqual([...Deno.readDirSync(join(root, ".data-mirror", "partial"))], []);
    const after = await freeBytes(home);
    assert.ok(after >= before, `${after} bytes free after the pass, ${before} before`);
  });
});

Deno.test("small files are booked by the blocks they take: held back at the reserve, not failed", async () => {
  // 6,000 files of 200 bytes: 1.2 MB of bytes, but each takes a 4 KiB page of the tmpfs (24 MB).
  const dataset = describeDataset([{ count: 6000, sizeBytes: 200, folder: "tiny" }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, root, home }) => {
    const result = await pass({ free_space_reserve_percent: 10 });
    assert.equal(result.summary.failed, 0, JSON.stringify(result.failures.slice(0, 3)));
    assert.match(result.guard ?? "", /free-space reserve of 10% reached/);
    assert.ok(await freeBytes(home) >= 0.09 * 20 * _MIB, "the reserve stays free");
    const tree = await readTree(root);
    assert.equal(tree.size, result.summary.downloaded);
    // 18 MiB above the reserve hold 4,608 such files; the bytes in flight count twice (on disk
    // and booked) until their batch is placed, so the pass stops somewhat short of that.
    assert.ok(tree.size >= 2000, `${tree.size} placed`);
    for (const [path, bytes] of tree) assert.equal(bytes.length, 200, `${path} is whole`);
  });
});

Deno.test("a download longer than its listed size is refused; its excess never reaches the disk", async () => {
  const size = 2 * _MIB;
  const dataset = describeDataset([
    { count: 1, sizeBytes: size, fileName: "model.bin", fileExt: ".bin" },
  ]);
  await withMirrorOnTmpfs(dataset, async ({ pass, root, home, platform }) => {
    // 100 MiB more than listed, on a 20 MiB disk: once with its length declared, once without.
    for (const undeclared of [false, true]) {
      platform.setFaults({ downloadExtraBytes: 100 * _MIB, undeclaredDownloadLength: undeclared });
      const { result, lowest } = await lowestFreeDuring(
        home,
        () => pass({ free_space_reserve_percent: 5 }),
      );
      assert.equal(result.summary.failed, 1, `undeclared: ${undeclared}`);
      assert.match(
        result.failures[0].error,
        undeclared
          ? /model\.bin: its download went on past the 2097152 bytes it has/
          : /model\.bin: its download declares 106954752 bytes where the platform lists 2097152/,
      );
      assert.ok(lowest >= 17 * _MIB, `free space fell to ${lowest} bytes`);
      assert.equal(await Deno.lstat(join(root, "model.bin")).then(() => true, () => false), false);
      assert.deepEqual([...Deno.readDirSync(join(root, ".data-mirror", "partial"))], []);
    }
  }, { inlineLimitBytes: 1024 * 1024 });
});

Deno.test("a file larger than the disk fails at once: it holds no download slot waiting for room", async () => {
  // 4 files, then one of 30 MiB (more than the 20 MiB disk holds), then 12 more, paced so that
  // the downloads in flight hold their bookings a while. The large one can never be booked:
  // waiting for a booking to be given back held one of the 4 slots until the pass's end.
  const dataset = describeDataset([
    { name: "first", count: 4, sizeBytes: _MIB, folder: "first" },
    { name: "huge", count: 1, sizeBytes: 30 * _MIB, folder: "huge" },
    { name: "rest", count: 12, sizeBytes: _MIB, folder: "rest" },
  ]);
  await withMirrorOnTmpfs(dataset, async ({ pass, platform, logger }) => {
    platform.setFaults({ bodyBytesPerSecond: 2 * _MIB });
    let writtenWhenFailed: number | undefined;
    const error = logger.error.bind(logger);
    logger.error = (message, fields) => {
      if (message.startsWith("failed to download huge/")) {
        writtenWhenFailed = logger.entries.filter((e) => e.message.startsWith("wrote ")).length;
      }
      error(message, fields);
    };
    const result = await pass({ free_space_reserve_percent: 5, concurrency: 4 });
    assert.equal(result.summary.downloaded, 16);
    assert.equal(result.summary.failed, 1);
    assert.match(result.failures[0].error, /more than the file system can ever hold/);
    assert.ok(
      writtenWhenFailed !== undefined && writtenWhenFailed < 8,
      `failed once ${writtenWhenFailed} of the 16 other files were written`,
    );
  });
});

Deno.test("a download waiting for room when the pass is cut off ends with it, saying no reserve was reached", async () => {
  // 4 downloads of 3 MiB in flight on a 20 MiB disk, paced: the 5th is refused (what those wrote
  // counts twice) and waits for one of them. Cut off then, it gives up at once; it was not held
  // back by the reserve, and no warning says so.
  const dataset = describeDataset([{ count: 10, sizeBytes: 3 * _MIB, folder: "big" }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, platform }) => {
    platform.setFaults({ bodyBytesPerSecond: 2 * _MIB });
    const stop = new AbortController();
    const logger = new RecordingLogger();
    const debug = logger.debug.bind(logger);
    logger.debug = (message, fields) => {
      debug(message, fields);
      if (message.includes(" waits for room: ")) stop.abort(new Error("stopped"));
    };
    const cut = await pass({ free_space_reserve_percent: 5, concurrency: 4 }, {
      logger,
      signal: stop.signal,
    }).then(() => undefined, (error) => error);
    assert.ok(cut instanceof PassCancelledError, String(cut));
    assert.ok(logger.entries.some((e) => e.message.includes(" waits for room: ")), "one waited");
    const reserve = logger.entries.filter((e) => e.message.includes("free-space reserve"));
    assert.deepEqual(reserve, []);
  });
});

Deno.test("the manifest is given up for the pass, the old one kept, rather than written into the reserve", async () => {
  // 600 items whose manifest lines take some 3 MiB (100 tags each), mirrored on a 20 MiB disk
  // then filled to half a MiB above a 50% reserve: the next pass's pending copy of the lines
  // passes the reserve within its first MiB, and is given up there, not written on.
  const tags = ["t", ...Array.from({ length: 100 }, (_, i) => `tag-${i}-${"x".repeat(40)}`)];
  const dataset = describeDataset([{ name: "m", count: 600, sizeBytes: 10, tags }]);
  await withMirrorOnTmpfs(dataset, async ({ pass, home, root, logger }) => {
    await pass({ free_space_reserve_percent: 0 });
    const manifest = await Deno.readFile(join(root, ".data-mirror/manifest.jsonl"));
    assert.ok(manifest.length > 2.9 * _MIB, `a manifest of ${manifest.length} bytes`);
    const reserve = 10 * _MIB;
    const over = (await freeBytes(home)) - reserve - _MIB / 2;
    assert.ok(over > 0);
    await Deno.writeFile(join(home, "ballast"), new Uint8Array(over));
    const { result, lowest } = await lowestFreeDuring(
      home,
      () => pass({ free_space_reserve_percent: 50, tags: ["t"] }),
    );
    assert.equal(result.summary.failed, 0);
    assert.ok(lowest > reserve - 1.5 * _MIB, `free space fell to ${lowest} bytes`);
    assert.ok(
      logger.entries.some((e) =>
        /manifest not updated .*free-space reserve \(50% kept free\)/.test(e.message)
      ),
      logger.text(),
    );
    assert.deepEqual(await Deno.readFile(join(root, ".data-mirror/manifest.jsonl")), manifest);
    const pending = [...Deno.readDirSync(join(root, ".data-mirror"))].filter((entry) =>
      entry.name.includes("pending")
    );
    assert.deepEqual(pending, []);
  });
});
