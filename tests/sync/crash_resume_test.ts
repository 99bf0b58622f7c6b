/**
 * Crash safety, end to end: the real program (`main.ts` under the production permission flags) is
 * SIGKILLed in the middle of a pass. No partial file may carry a final name, the next run must
 * finish and resume the interrupted downloads with `Range`, and the mirror lock must pass from a
 * killed holder to the next run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  describeDataset,
  type ItemGroup,
  type ItemRecord,
  type Platform,
  startPlatform,
} from "../support/platform/mod.ts";
import { pollUntil } from "../_poll.ts";
import { lastJsonLine, type RunningProgram, spawnProgram } from "../_program.ts";
import { readTree } from "./_harness.ts";
import { killTracee, straceWrapper } from "../support/strace.ts";
import { sha256Hex } from "../../src/sha256_hex.ts";

const TAG = "crash";

interface Crash {
  platform: Platform;
  /** The mirror, `<VIAM_HOME>/data_mirror`. */
  root: string;
  /** The staging dir of partial downloads. */
  partialDir: string;
  /** Starts `sync --tags crash --json` against the platform (under `wrapper`, if given). */
  start(wrapper?: readonly string[]): RunningProgram;
}

/** The data set served and the pace of its download bodies. */
interface CrashSetup {
  groups: ItemGroup[];
  bodyBytesPerSecond: number;
  /** Items above this size are refused inline (fetched by uri); the platform's default if unset. */
  inlineLimitBytes?: number;
}

async function withCrash(
  { groups, bodyBytesPerSecond, inlineLimitBytes }: CrashSetup,
  fn: (crash: Crash) => Promise<void>,
): Promise<void> {
  await using platform = await startPlatform({
    dataset: describeDataset(groups),
    faults: { bodyBytesPerSecond },
    inlineLimitBytes,
  });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-crash-" });
  const root = join(home, "data_mirror");
  try {
    await fn({
      platform,
      root,
      partialDir: join(root, ".data-mirror", "partial"),
      start: (wrapper) =>
        spawnProgram(["sync", "--app-url", platform.url, "--tags", TAG, "--json"], {
          viamHome: home,
          env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
          wrapper,
        }),
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Polls `condition` until it holds; fails with the program's output if the program ends first. */
async function until(program: RunningProgram, condition: () => Promise<boolean>): Promise<void> {
  await pollUntil("the program reached the awaited point", async () => {
    if (program.exited) {
      const output = await program.done;
      assert.fail(`the program ended (code ${output.code}) too early:\n${output.stderr}`);
    }
    return await condition();
  });
}

/**
 * The partial downloads in staging: binary data id -> bytes held. A partial is named by the
 * SHA-256 of its id and the size expected (`<hash>-<size>.part`).
 */
async function partials(partialDir: string, platform: Platform): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(partialDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return held;
    throw error;
  }
  const ids = new Map<string, string>();
  for (const item of platform.items()) {
    ids.set(await sha256Hex(item.binaryDataId), item.binaryDataId);
  }
  for (const entry of entries) {
    const hash = /^([0-9a-f]{64})-(\d+|u)\.part$/.exec(entry.name)?.[1];
    if (hash === undefined) continue;
    // While the program runs, a finished download's partial vanishes between the listing and here.
    const part = await _ifPresent(Deno.stat(join(partialDir, entry.name)));
    const id = ids.get(hash);
    assert.ok(id, `a partial of no listed item: ${entry.name}`);
    if (part !== undefined) held.set(id, part.size);
  }
  return held;
}

async function _ifPresent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Every file under the mirror (state dir aside) is a platform item with exactly its bytes. */
async function assertOnlyCompleteFiles(root: string, platform: Platform): Promise<Set<string>> {
  const byPath = new Map(platform.items().map((item) => [item.fileName, item]));
  const present = new Set<string>();
  for (const [path, bytes] of await readTree(root)) {
    const item = byPath.get(path);
    assert.ok(item, `unexpected file ${path}`);
    assert.deepEqual(bytes, platform.contentOf(item.binaryDataId), `${path} is incomplete`);
    present.add(item.binaryDataId);
  }
  return present;
}

Deno.test("kill -9 mid-pass leaves no partial file under a final name; the next run resumes with Range and completes", async () => {
  // Large files stream from their uri at 100 kB/s each (4 s a file); small ones travel inline.
  await withCrash(
    {
      groups: [
        { name: "small", count: 4, tags: [TAG] },
        { name: "large", count: 3, sizeBytes: (i) => 400_000 + i, tags: [TAG] },
      ],
      bodyBytesPerSecond: 100_000,
    },
    async ({ platform, root, partialDir, start }) => {
      {
        await using first = start();
        await until(first, async () => {
          const sizes = [...(await partials(partialDir, platform)).values()];
          return platform.calls.download > 0 && sizes.some((size) => size >= 100_000);
        });
        first.kill("SIGKILL");
        assert.equal((await first.done).signal, "SIGKILL");
      }

      const present = await assertOnlyCompleteFiles(root, platform);
      const held = await partials(partialDir, platform);
      // Only large files stream by uri with Range; a small one cut mid-write restarts inline.
      const interrupted = [...held].filter(([id, size]) =>
        platform.item(id).fileId.startsWith("large") && size > 0 &&
        size < platform.item(id).sizeBytes
      );
      assert.ok(interrupted.length > 0, `no interrupted download in ${JSON.stringify([...held])}`);
      for (const [id] of interrupted) {
        assert.ok(!present.has(id), `${id} is both partial and final`);
      }
      // A power cut on a file system that keeps a file's length without its last writes: the
      // longest partial ends in zeros. The check before the resume must see it.
      const [cutId, cutSize] = interrupted.reduce((a, b) => (b[1] > a[1] ? b : a));
      const cutPart = join(
        partialDir,
        `${await sha256Hex(cutId)}-${platform.item(cutId).sizeBytes}.part`,
      );
      {
        using file = await Deno.open(cutPart, { write: true });
        await file.seek(cutSize - 2000, Deno.SeekMode.Start);
        await file.write(new Uint8Array(2000));
      }

      platform.setFaults({});
      platform.resetCalls();
      const second = await start().done;
      assert.equal(second.code, 0, second.stderr);
      const summary = lastJsonLine(second.stdout);
      assert.equal(summary.failed, 0);
      assert.equal(summary.downloaded, platform.items().length - present.size);
      assert.equal(summary.skipped, present.size);
      assert.equal(
        (await assertOnlyCompleteFiles(root, platform)).size,
        platform.items().length,
        "every file is in place",
      );
      // Each interrupted file was asked for from 64 KiB before its partial's end (the bytes
      // compared before appending; a partial shorter than that is compared whole, asked for
      // without Range), not from byte 0; the zeroed one was then downloaded again from byte 0.
      const check = 64 * 1024;
      for (const [id, size] of interrupted) {
        const ranges = platform.ranges.filter((record) => record.binaryDataId === id);
        const expected = size > check ? [`bytes=${size - check}-`] : [];
        assert.deepEqual(ranges.map((record) => record.range), expected, id);
      }
      assert.match(second.stdout + second.stderr, /does not end as the platform's file does/);
      assert.deepEqual(
        [...(await partials(partialDir, platform)).keys()],
        [],
        "staging is emptied",
      );
    },
  );
});

/** `count` models `m/<i>.bin` of `sizeBytes` each, one version of them (`version`). */
function _models(version: string, sizeBytes: number, count: number): ItemGroup {
  return {
    name: version,
    count,
    sizeBytes,
    fileName: (i: number) => `m/${i}.bin`,
    fileExt: ".bin",
    tags: [TAG],
  };
}

/**
 * Six models `m/<i>.bin` of 4,000 bytes, fetched inline or by uri (`via`); `stagedOf` names where
 * an item's download is staged (the first inline batch's first file is `staged-0`).
 */
function _withSixModels(
  via: string,
  fn: (crash: Crash, stagedOf: (item: ItemRecord) => Promise<string>) => Promise<void>,
): Promise<void> {
  const byUri = via === "its uri";
  return withCrash(
    {
      groups: [_models("v1", 4000, 6)],
      bodyBytesPerSecond: 1_000_000,
      inlineLimitBytes: byUri ? 1024 : undefined,
    },
    (crash) =>
      fn(
        crash,
        async (item) =>
          byUri
            ? join(crash.partialDir, `${await sha256Hex(item.binaryDataId)}-${item.sizeBytes}.part`)
            : join(crash.root, ".data-mirror", "staged-0"),
      ),
  );
}

/** A new version of the `count` models (`version`, of `sizeBytes`): a pass must then place all, as listed. */
async function _assertNewVersionPlaced(
  { platform, root, start }: Crash,
  count = 6,
  version = "v2",
  sizeBytes = 5000,
): Promise<void> {
  platform.replaceDataset(describeDataset([_models(version, sizeBytes, count)]));
  platform.setFaults({});
  const next = await start().done;
  assert.equal(next.code, 0, next.stderr);
  assert.equal(lastJsonLine(next.stdout).downloaded, count, next.stdout);
  const tree = await readTree(root);
  for (const item of platform.items()) {
    assert.deepEqual(tree.get(item.fileName!), platform.contentOf(item.binaryDataId));
  }
}

Deno.test("files placed by a pass killed with -9 are recorded: a new version of another size replaces them", async () => {
  // By uri (the inline limit is below their size), 2 s a file, eight at a time.
  await withCrash(
    { groups: [_models("v1", 4000, 20)], bodyBytesPerSecond: 2000, inlineLimitBytes: 1024 },
    async (crash) => {
      const { root, start } = crash;
      const placed = async () =>
        (await Array.fromAsync(Deno.readDir(join(root, "m"))).catch(() => [])).length;
      {
        await using first = start();
        await until(first, async () => (await placed()) >= 3);
        first.kill("SIGKILL");
        assert.equal((await first.done).signal, "SIGKILL");
      }
      const placedByKilled = await placed();
      assert.ok(placedByKilled >= 3 && placedByKilled < 20, `${placedByKilled} placed`);
      // The next listing has a new version of every file, of another size: unrecorded, the killed
      // pass's files would look like a user's and be kept for good.
      await _assertNewVersionPlaced(crash, 20);
    },
  );
});

for (const via of ["an inline batch", "its uri"]) {
  Deno.test(`a pass killed right after it named a file from ${via} leaves that file recorded`, async () => {
    // Logged after the name was made, such a file was unrecorded: the next version of its item,
    // of another size, then found a user's file there and kept it for good.
    await _withSixModels(via, async (crash, stagedOf) => {
      const { platform, root, start } = crash;
      const named = async () =>
        (await Array.fromAsync(Deno.readDir(join(root, "m"))).catch(() => [])).length;
      {
        await using traced = start(straceWrapper({
          calls: "link,linkat",
          tamper: "delay_exit=60000000",
          path: await stagedOf(platform.items()[0]),
        }));
        await until(traced, async () => (await named()) >= 1);
        await killTracee(traced);
      }
      assert.equal(await named(), 1, "the kill came right after the first name");
      await _assertNewVersionPlaced(crash);
    });
  });
}

for (const via of ["an inline batch", "its uri"]) {
  Deno.test(`a pass killed right before it replaced a file from ${via} leaves the old version to be replaced`, async () => {
    // Were a replacement logged ahead, as a file taking a free name is, the record would take the
    // old version left there for the new one, and keep it for good.
    await _withSixModels(via, async (crash, stagedOf) => {
      const { platform, root, start } = crash;
      const placed = await start().done;
      assert.equal(placed.code, 0, placed.stderr);
      platform.replaceDataset(describeDataset([_models("v2", 5000, 6)]));
      // SIGKILL as the rename over the old version is entered: it never runs.
      const killed = await start(
        straceWrapper({
          calls: "rename,renameat,renameat2",
          tamper: "signal=KILL",
          path: await stagedOf(platform.items()[0]),
        }),
      ).done;
      assert.notEqual(killed.code, 0, killed.stderr);
      const sizes = [...(await readTree(root)).values()].map((bytes) => bytes.length);
      assert.deepEqual(sizes, Array(6).fill(4000), "killed before the first replacement");
      await _assertNewVersionPlaced(crash);
    });
  });
}

for (const via of ["an inline batch", "its uri"]) {
  Deno.test(`a pass killed right after it replaced a file from ${via} leaves the new version recorded`, async () => {
    // Logged only after its rename, such a replacement was unrecorded: the record still named the
    // old version, of another size, so the file read as a user's edit and was kept against every
    // later version.
    await _withSixModels(via, async (crash, stagedOf) => {
      const { platform, root, start } = crash;
      const placed = await start().done;
      assert.equal(placed.code, 0, placed.stderr);
      platform.replaceDataset(describeDataset([_models("v2", 5000, 6)]));
      const sizes = async () =>
        [...(await readTree(root)).values()].map((bytes) => bytes.length).sort();
      {
        await using traced = start(
          straceWrapper({
            calls: "rename,renameat,renameat2",
            tamper: "delay_exit=60000000",
            path: await stagedOf(platform.items()[0]),
          }),
        );
        await until(traced, async () => (await sizes()).includes(5000));
        await killTracee(traced);
      }
      assert.deepEqual(
        await sizes(),
        [...Array(5).fill(4000), 5000],
        "the kill came right after the first replacement",
      );
      const second = await start().done;
      assert.equal(second.code, 0, second.stderr);
      assert.equal(lastJsonLine(second.stdout).downloaded, 5, second.stdout);
      await _assertNewVersionPlaced(crash, 6, "v3", 6000);
    });
  });
}

Deno.test("a file its pass could not name, then placed by a later pass, both killed with -9: the next version replaces it", async () => {
  // The first pass withdraws the entry it logged ahead for the file it could not name; the second
  // folds that log into the record before it logs the file it places there. Were the withdrawal
  // folded in as two paths sharing a slot, no later entry could name the file again: it was kept
  // as a user's for good, against every later version of its item.
  // One large file streamed at 1 kB/s holds each killed pass open until it is killed.
  const slow: ItemGroup = { name: "slow", count: 1, sizeBytes: 2_000_000, tags: [TAG] };
  await withCrash(
    { groups: [_models("v1", 4000, 6), slow], bodyBytesPerSecond: 1000 },
    async ({ platform, root, start }) => {
      const log = join(root, ".data-mirror", "placed.log");
      const named = async () =>
        (await Array.fromAsync(Deno.readDir(join(root, "m"))).catch(() => [])).length;
      const logBytes = async () => (await Deno.stat(log).catch(() => undefined))?.size ?? 0;
      {
        // The first inline batch's first file cannot be named (a full disk); the others are.
        await using traced = start(straceWrapper({
          calls: "link,linkat",
          tamper: "error=ENOSPC",
          path: join(root, ".data-mirror", "staged-0"),
        }));
        // Six entries logged ahead and the withdrawal: a header and seven entries of eight bytes.
        await until(traced, async () => (await named()) === 5 && (await logBytes()) >= 64);
        await killTracee(traced);
      }
      assert.equal(await named(), 5, "one file of the batch was not named");
      {
        await using second = start();
        await until(second, async () => (await named()) === 6);
        second.kill("SIGKILL");
        assert.equal((await second.done).signal, "SIGKILL");
      }
      platform.replaceDataset(describeDataset([_models("v2", 5000, 6)]));
      platform.setFaults({});
      const last = await start().done;
      assert.equal(last.code, 0, last.stderr);
      const tree = await readTree(root);
      for (const item of platform.items()) {
        assert.deepEqual(
          tree.get(item.fileName!)?.length,
          platform.contentOf(item.binaryDataId).length,
          `${item.fileName} is the new version`,
        );
      }
    },
  );
});

Deno.test("a run while another holds the mirror lock fails naming the holder; after kill -9 the next run takes over", async () => {
  // One large file at 50 kB/s: the first run holds the lock for 8 s unless killed.
  await withCrash(
    {
      groups: [{ name: "large", count: 1, sizeBytes: 400_000, tags: [TAG] }],
      bodyBytesPerSecond: 50_000,
    },
    async ({ platform, root, start }) => {
      {
        await using holder = start();
        await until(holder, () => Promise.resolve(platform.calls.download > 0));

        const refused = await start().done;
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /mirror is busy/);
        assert.match(refused.stderr, new RegExp(`held by pid ${holder.pid}\\b.*\\(cli\\)`));
        assert.equal(lastJsonLine(refused.stdout).downloaded, 0);

        holder.kill("SIGKILL");
        assert.equal((await holder.done).signal, "SIGKILL");
      }
      assert.deepEqual([...(await readTree(root)).keys()], [], "nothing final after the kill");

      platform.setFaults({});
      const next = await start().done;
      assert.equal(next.code, 0, next.stderr);
      assert.equal(lastJsonLine(next.stdout).downloaded, 1);
      assert.equal((await assertOnlyCompleteFiles(root, platform)).size, 1);
    },
  );
});
