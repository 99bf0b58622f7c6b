// Tests of the transfer stage (src/sync/transfer_files.ts) against the local data platform over real
// HTTP, with a real program standing in for `sync`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { SpaceBudget } from "../../src/fs/space_budget.ts";
import {
  INLINE_MAX_BYTES,
  streamsAtOnce,
  Transfer,
  type TransferResult,
} from "../../src/sync/transfer_files.ts";
import type { RemoteItem } from "../../src/remote/remote_item.ts";
import type { ViamRemote } from "../../src/remote/viam_remote.ts";
import { describeDataset, type Platform, startPlatform } from "../support/platform/mod.ts";
import { withTempDir } from "../fs/_helpers.ts";
import { RecordingLogger } from "./_harness.ts";
import { remoteOf } from "../remote/_remote_of.ts";
import { pollUntil } from "../_poll.ts";

/** What a test of one listed group gets. */
interface _Listed {
  platform: Platform;
  mirror: MirrorDir;
  remote: ViamRemote;
  items: RemoteItem[];
}

/** A group of items of the platform, all tagged `t`. */
interface _Group {
  name?: string;
  count: number;
  sizeBytes: number;
}

/**
 * A platform serving `groups` (tag `t`, in listing order), a mirror in a temp Viam home, and every
 * item listed.
 */
function _withListed(
  groups: _Group | _Group[],
  fn: (listed: _Listed) => Promise<void>,
  options: { inlineLimitBytes?: number } = {},
): Promise<void> {
  return withTempDir(async (dir) => {
    await using platform = await startPlatform({
      dataset: describeDataset([groups].flat().map((group) => ({ ...group, tags: ["t"] }))),
      inlineLimitBytes: options.inlineLimitBytes,
    });
    await using mirror = await MirrorDir.open({ viamHome: join(dir, "home"), mirrorPath: "m" });
    const remote = remoteOf(platform);
    await fn({ platform, mirror, remote, items: await _listAll(remote) });
  });
}

/** Every item the platform lists with the tag `t`, page after page. */
async function _listAll(remote: ViamRemote): Promise<RemoteItem[]> {
  const items: RemoteItem[] = [];
  for (let last = "";;) {
    const page = await remote.listPage({ tags: ["t"], labels: [] }, last);
    if (page.items.length === 0) return items;
    items.push(...page.items);
    last = page.last;
  }
}

/**
 * Waits for `event`, or `ms` at most: an ordered wait that goes on, for its test to fail, when the
 * event never comes. Its timer goes with it.
 */
async function _untilOr(event: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([event, new Promise<void>((wake) => timer = setTimeout(wake, ms))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Transfers `items` to `f/<index>.bin`, `concurrency` inline calls at a time (default one): all are
 * handed over before it returns.
 */
function _transferAll(
  deps: { remote: ViamRemote; mirror: MirrorDir },
  items: RemoteItem[],
  concurrency = 1,
): Promise<TransferResult> {
  const transfer = new Transfer(deps, {
    concurrency,
    reservePercent: 0,
    logger: new RecordingLogger(),
  });
  transfer.add(items.map((item, i) => ({ path: `f/${i}.bin`, item })));
  return transfer.finish();
}

Deno.test("an inline call's slot is free while its files wait for their sync: the next call goes out meanwhile", async () => {
  await withTempDir(async (dir) => {
    // 150 small files: two inline calls (100 files at most each), made one at a time.
    await using platform = await startPlatform({
      dataset: describeDataset([{ count: 150, sizeBytes: 1024, tags: ["t"] }]),
    });
    const syncLog = join(dir, "sync.log");
    const slowSync = join(dir, "slow-sync");
    // The sync holds until the second call has gone out (ordered, not timed: a fixed 0.5 s let a
    // loaded machine start the call after it). It gives up after some 10 s, so a second call that
    // waits for it starts late and fails the check below rather than hanging.
    const secondCall = join(dir, "second-call");
    await Deno.writeTextFile(
      slowSync,
      `#!/bin/sh\necho "start $(date +%s%3N)" >> '${syncLog}'\n` +
        `i=0; while [ ! -e '${secondCall}' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n` +
        `echo "end $(date +%s%3N)" >> '${syncLog}'\n`,
      { mode: 0o755 },
    );
    await using mirror = await MirrorDir.open({
      viamHome: join(dir, "home"),
      mirrorPath: "mirror",
      syncPrograms: [slowSync],
    });
    const real = remoteOf(platform);
    const callStarts: number[] = [];
    const remote: typeof real = Object.assign(Object.create(real), {
      fetchInline: (...args: Parameters<typeof real.fetchInline>) => {
        callStarts.push(Date.now());
        if (callStarts.length === 2) Deno.writeTextFileSync(secondCall, "");
        return real.fetchInline(...args);
      },
    });
    const items = await _listAll(real);
    assert.equal(items.length, 150);
    const result = await _transferAll({ remote, mirror }, items);

    assert.equal(result.downloaded, 150);
    assert.equal(result.failures.length, 0);
    assert.equal((await Array.fromAsync(Deno.readDir(join(mirror.root, "f")))).length, 150);
    const syncs = (await Deno.readTextFile(syncLog)).trim().split("\n").map((line) => {
      const [what, ms] = line.split(" ");
      return { what, ms: Number(ms) };
    });
    const firstSyncEnd = syncs.find((entry) => entry.what === "end")!.ms;
    assert.equal(callStarts.length, 2);
    assert.ok(
      callStarts[1] < firstSyncEnd,
      `the second call started ${callStarts[1] - firstSyncEnd} ms after the first sync ended`,
    );
    assert.equal(syncs.filter((entry) => entry.what === "start").length, 2);
  });
});

Deno.test("a download by uri goes out beside the inline calls, not behind them", async () => {
  await _withListed(
    [
      { name: "small", count: 150, sizeBytes: 1024 },
      { name: "large", count: 1, sizeBytes: INLINE_MAX_BYTES + 1 },
    ],
    async ({ mirror, remote: real, items }) => {
      // 150 small files (two inline calls, one at a time) listed before a large one: queued behind
      // the calls, the large file streamed only once both had ended, its share of the link idle.
      const streamed = Promise.withResolvers<void>();
      const events: string[] = [];
      const remote: typeof real = Object.assign(Object.create(real), {
        download: (...args: Parameters<typeof real.download>) => {
          events.push("download");
          streamed.resolve();
          return real.download(...args);
        },
        fetchInline: async (...args: Parameters<typeof real.fetchInline>) => {
          events.push("inline call");
          // The first call's answer waits for the stream to go out (ordered, not timed); queued
          // behind the calls it never would, and after some 10 s the call goes on to fail the check.
          if (events.length === 1) {
            await _untilOr(streamed.promise, 10_000);
          }
          const batch = await real.fetchInline(...args);
          events.push("inline answer");
          return batch;
        },
      });
      assert.equal(items.at(-1)?.sizeBytes, INLINE_MAX_BYTES + 1, "the large file is listed last");
      const result = await _transferAll({ remote, mirror }, items);

      assert.equal(result.downloaded, 151);
      assert.equal(result.failures.length, 0);
      assert.deepEqual(events.slice(0, 3), ["inline call", "download", "inline answer"]);
    },
  );
});

Deno.test("streamsAtOnce: the slots the inline calls leave, at least half the concurrency and one", () => {
  // A full lane of calls.
  assert.deepEqual([1, 2, 3, 4, 5, 8, 64].map((c) => streamsAtOnce(c, c)), [1, 1, 1, 2, 2, 4, 32]);
  // None running: as many streams as the concurrency.
  assert.deepEqual([1, 4, 64].map((c) => streamsAtOnce(c, 0)), [1, 4, 64]);
  // Some running.
  assert.deepEqual([0, 1, 2, 3, 4].map((running) => streamsAtOnce(4, running)), [4, 3, 2, 2, 2]);
});

Deno.test("with no inline call to make, large files stream `concurrency` at once", async () => {
  await _withListed(
    [
      { name: "large", count: 6, sizeBytes: INLINE_MAX_BYTES + 1 },
    ],
    async ({ mirror, remote: real, items }) => {
      const fourStarted = Promise.withResolvers<void>();
      let started = 0;
      let startedWhenReleased: number | undefined;
      const remote: typeof real = Object.assign(Object.create(real), {
        download: async (...args: Parameters<typeof real.download>) => {
          if (++started === 4) fourStarted.resolve();
          // Each waits until four have gone out (ordered, not timed); a lane of two never gets
          // there, and after some 10 s the downloads go on to fail the check below.
          await _untilOr(fourStarted.promise, 10_000);
          startedWhenReleased ??= started;
          return real.download(...args);
        },
      });
      const result = await _transferAll({ remote, mirror }, items, 4);

      assert.equal(result.downloaded, 6);
      assert.equal(result.failures.length, 0);
      assert.equal(startedWhenReleased, 4);
    },
  );
});

Deno.test("beside a full lane of inline calls two large files stream at concurrency 4, and four once the calls end", async () => {
  await _withListed(
    [
      { name: "small", count: 400, sizeBytes: 1024 },
      { name: "large", count: 6, sizeBytes: INLINE_MAX_BYTES + 1 },
    ],
    async ({ mirror, remote: real, items }) => {
      // 400 small files (four calls of 100) listed before 6 large ones; the calls and the downloads
      // are held by the test, so what runs at each step is what the lanes allowed.
      const callsGo = Promise.withResolvers<void>();
      const downloadsGo = Promise.withResolvers<void>();
      let calls = 0;
      let downloads = 0;
      const remote: typeof real = Object.assign(Object.create(real), {
        fetchInline: async (...args: Parameters<typeof real.fetchInline>) => {
          calls++;
          await callsGo.promise;
          return real.fetchInline(...args);
        },
        download: async (...args: Parameters<typeof real.download>) => {
          downloads++;
          await downloadsGo.promise;
          return real.download(...args);
        },
      });
      const finished = _transferAll({ remote, mirror }, items, 4);
      try {
        await pollUntil(
          "four calls and two downloads went out",
          () => calls === 4 && downloads >= 2,
        );
        // Everything started is held: nothing settles, so nothing more may start.
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(downloads, 2, "half the concurrency beside a full lane of calls");
        callsGo.resolve();
        // Still held, the downloads cannot end: only the calls' settling can start the next two.
        await pollUntil("four downloads went out", () => downloads === 4, { limitMs: 10_000 });
      } finally {
        callsGo.resolve();
        downloadsGo.resolve();
      }
      const result = await finished;

      assert.equal(result.downloaded, 406);
      assert.equal(result.failures.length, 0);
      assert.equal(downloads, 6);
    },
  );
});

for (const via of ["inline", "by uri"]) {
  Deno.test(`the journal is told of a file ${via} before it has its name, of a replacement before and after, and of a name refused`, async () => {
    // Told once the name was made, a SIGKILL in between left a file placed and unrecorded, kept as a
    // user's for good against a newer version of its item (tests/sync/crash_resume_test.ts kills
    // the real program there).
    await _withListed({ count: 4, sizeBytes: 4000 }, async ({ mirror, remote, items }) => {
      const paths = items.map((_, i) => `f/${i}.bin`);
      const exists = (path: string) => {
        try {
          return Deno.lstatSync(join(mirror.root, path)).isFile;
        } catch {
          return false;
        }
      };
      // f/2.bin is already there, unlisted in the plan (a user's file appeared meanwhile); f/3.bin
      // holds an older version marked to be replaced.
      await Deno.mkdir(join(mirror.root, "f"));
      await Deno.writeTextFile(join(mirror.root, "f/2.bin"), "a user's");
      await Deno.writeTextFile(join(mirror.root, "f/3.bin"), "an older version");
      mirror.replaceOnPlace("f/3.bin");
      const told: string[] = [];
      const transfer = new Transfer({ remote, mirror }, {
        concurrency: 1,
        reservePercent: 0,
        logger: new RecordingLogger(),
        journal: {
          naming: (files) => {
            for (const [download, size] of files) {
              told.push(
                `naming ${download.path} ${size} ${exists(download.path) ? "there" : "free"}`,
              );
            }
            return Promise.resolve();
          },
          replacing: (files) => {
            for (const [download, size] of files) {
              const held = Deno.lstatSync(join(mirror.root, download.path)).size;
              told.push(`replacing ${download.path} ${size} over ${held} bytes`);
            }
            return Promise.resolve();
          },
          notNamed: (downloads) => told.push(...downloads.map((d) => `not named ${d.path}`)),
          replaced: (download, size) =>
            told.push(`replaced ${download.path} ${size} ${exists(download.path)}`),
        },
      });
      transfer.add(items.map((item, i) => ({ path: paths[i], item })));
      const result = await transfer.finish();
      assert.equal(result.downloaded, 3);
      assert.equal(result.skipped, 1);
      // f/2.bin: told ahead (the name looked free when the pass planned it), then withdrawn.
      assert.deepEqual(told.toSorted(), [
        "naming f/0.bin 4000 free",
        "naming f/1.bin 4000 free",
        "naming f/2.bin 4000 there",
        "not named f/2.bin",
        "replaced f/3.bin 4000 true",
        "replacing f/3.bin 4000 over 16 bytes",
      ]);
      assert.ok(told.indexOf("naming f/2.bin 4000 there") < told.indexOf("not named f/2.bin"));
      // A replacement is told ahead of its rename too (as tentative), and confirmed right after.
      assert.ok(
        told.indexOf("replacing f/3.bin 4000 over 16 bytes") <
          told.indexOf("replaced f/3.bin 4000 true"),
      );
      assert.equal(await Deno.readTextFile(join(mirror.root, "f/2.bin")), "a user's");
      assert.equal((await Deno.stat(join(mirror.root, "f/3.bin"))).size, 4000);
    }, { inlineLimitBytes: via === "inline" ? undefined : 1024 });
  });
}

Deno.test("an answer that declared no length and ended short is checked before a resume appends to it", async () => {
  // A proxy's chunked error page, 49 bytes, taken for the file's first bytes: the resume appended
  // the rest with Range, and a file of the listed size placed held the page at its head.
  await _withListed(
    { count: 1, sizeBytes: _BY_URI },
    async ({ platform, mirror, remote: real, items }) => {
      let calls = 0;
      const remote: typeof real = Object.assign(Object.create(real), {
        download: (...args: Parameters<typeof real.download>) => {
          if (calls++ > 0) return real.download(...args);
          const page = new TextEncoder().encode(
            "<html><body>503 Service Unavailable</body></html>",
          );
          return Promise.resolve({ body: new Blob([page]).stream(), start: 0 });
        },
      });
      const logger = new RecordingLogger();
      const transfer = new Transfer({ remote, mirror }, {
        concurrency: 1,
        reservePercent: 0,
        logger,
        minRetryDelayMs: 1,
      });
      transfer.add(items.map((item) => ({ path: "f.jpg", item })));
      const result = await transfer.finish();
      assert.deepEqual(result.failures, []);
      assert.deepEqual(
        await Deno.readFile(join(mirror.root, "f.jpg")),
        platform.contentOf(items[0].binaryDataId),
      );
      assert.ok(
        logger.entries.some(({ message }) =>
          /does not end as the platform.s file does/.test(message)
        ),
      );
    },
  );
});

Deno.test("a resume answered from byte 0 with a length not the file's keeps the partial", async () => {
  // A 200 error page of declared length, Range ignored: taken for the file's restart, it had the
  // partial truncated before its length was found wrong, and the next pass began at byte 0.
  await _withListed(
    { count: 1, sizeBytes: _BY_URI },
    async ({ platform, mirror, remote: real, items }) => {
      const offsets: number[] = [];
      const content = platform.contentOf(items[0].binaryDataId);
      const remote: typeof real = Object.assign(Object.create(real), {
        download: (...args: Parameters<typeof real.download>) => {
          offsets.push(args[1]?.offset ?? 0);
          if (offsets.length === 1) {
            // The first 200,000 bytes, then the connection drops.
            let pulls = 0;
            const body = new ReadableStream<Uint8Array>({
              pull(controller) {
                if (pulls++ === 0) controller.enqueue(content.slice(0, 200_000));
                else controller.error(new TypeError("connection reset"));
              },
            });
            return Promise.resolve({ body, start: 0, totalSize: content.length });
          }
          if (offsets.length === 2) {
            const page = new TextEncoder().encode("<html>503 Service Unavailable</html>");
            return Promise.resolve({ body: new Blob([page]).stream(), start: 0, totalSize: 36 });
          }
          return real.download(...args);
        },
      });
      const pass = async () => {
        const transfer = new Transfer({ remote, mirror }, {
          concurrency: 1,
          reservePercent: 0,
          logger: new RecordingLogger(),
          minRetryDelayMs: 1,
        });
        transfer.add(items.map((item) => ({ path: "f.jpg", item })));
        return (await transfer.finish()).failures.map(({ error }) => error);
      };
      assert.deepEqual(await pass(), [
        "download not written: f.jpg: its download declares 36 bytes where the platform lists " +
        `${_BY_URI} (changed since it was listed?)`,
      ]);
      assert.deepEqual(await pass(), []);
      assert.deepEqual(await Deno.readFile(join(mirror.root, "f.jpg")), content);
      assert.equal(offsets.length, 3, `asked from ${offsets.join(", ")}`);
      // Resumed: each resume asks for the partial's end again (to compare) and the rest: in the
      // pass, its last 4 KiB; in the next, what a power cut may have damaged, its last 64 KiB.
      assert.deepEqual(offsets, [0, 200_000 - 4096, 200_000 - 65_536]);
    },
  );
});

Deno.test("an item larger than the file system fails alone; the downloads after it go", async () => {
  // Booked as any other, it paused every download after it "until space returns", which it never
  // would: pass after pass, nothing after it was fetched.
  await _withListed({ count: 3, sizeBytes: 300_000 }, async ({ mirror, remote, items }) => {
    // A 1 GB file system, half free.
    const space = new SpaceBudget(
      () => Promise.resolve({ availableBytes: 500e6, totalBytes: 1e9, blockBytes: 4096 }),
      5,
    );
    const huge = { ...items[0], binaryDataId: "o/l/huge", fileId: "huge", sizeBytes: 64e9 };
    const transfer = new Transfer({ remote, mirror, space }, {
      concurrency: 1,
      reservePercent: 5,
      logger: new RecordingLogger(),
    });
    transfer.add([huge, ...items].map((item, i) => ({ path: `f/${i}.bin`, item })));
    const result = await transfer.finish();
    assert.equal(result.spaceGuard, undefined, `downloads paused: ${result.spaceGuard}`);
    assert.equal(result.downloaded, 3);
    assert.deepEqual(result.failures.map(({ path, error }) => [path, error]), [[
      "f/0.bin",
      "it is listed at 64000000000 bytes, more than the file system can ever hold (1000000000 " +
      "bytes, 5% kept free)",
    ]]);
  });
});

/** What a fake remote's download answers. */
type _Answer = { body: ReadableStream<Uint8Array>; start: number; totalSize: number };

/** How a fake server answers the `n`-th download, asked from `start`, of a file of `content`. */
type _Answering = (content: Uint8Array, start: number, n: number) => _Answer;

/** A body of `bytes`, then the connection reset (unless `whole`). */
function _cutBody(bytes: Uint8Array, whole = false): ReadableStream<Uint8Array> {
  let pulls = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(bytes);
      else if (whole) controller.close();
      else controller.error(new TypeError("connection reset"));
    },
  });
}

/**
 * Transfers the one listed item of a 1-item `_withListed` into `f.bin`, its downloads answered by
 * `answering` from `content` (the bytes that server sends). `partial`: the staging area first holds
 * that many of them (`damaged`: the last 4 KiB zeroed, as a power cut leaves them). `limit`: the
 * answer after that many is refused (a test's bound on a loop). The offsets asked come back.
 */
async function _transferAnswered(
  { mirror, remote: real, items }: _Listed,
  content: Uint8Array,
  answering: _Answering,
  options: { partial?: number; damaged?: boolean; limit?: number; minRetryDelayMs?: number } = {},
): Promise<{ result: TransferResult; offsets: number[]; logger: RecordingLogger }> {
  const partial = options.partial ?? 0;
  if (partial > 0) {
    const staged = await mirror.staging.begin({
      binaryDataId: items[0].binaryDataId,
      expectedSize: content.length,
    });
    const held = content.slice(0, partial);
    if (options.damaged) held.fill(0, partial - 4096); // its last writes lost
    await staged.write(held);
    await staged.close();
  }
  const offsets: number[] = [];
  const remote: typeof real = Object.assign(Object.create(real), {
    download: (_item: unknown, asked: { offset?: number } = {}) => {
      offsets.push(asked.offset ?? 0);
      if (offsets.length > (options.limit ?? Infinity)) {
        return Promise.reject(new Error(`${offsets.length} answers`));
      }
      return Promise.resolve(answering(content, asked.offset ?? 0, offsets.length));
    },
  });
  const logger = new RecordingLogger();
  const transfer = new Transfer({ remote, mirror }, {
    concurrency: 1,
    reservePercent: 0,
    logger,
    minRetryDelayMs: options.minRetryDelayMs ?? 1,
  });
  transfer.add(items.map((item) => ({ path: "f.bin", item })));
  return { result: await transfer.finish(), offsets, logger };
}

/** The first `n` bytes from `start` (to the file's end at most), then a reset unless `whole`. */
function _upTo(c: Uint8Array, start: number, n: number, whole: boolean): _Answer {
  const part = c.slice(start, Math.min(c.length, start + n));
  return {
    body: _cutBody(part, whole || start + part.length === c.length),
    start,
    totalSize: c.length,
  };
}

/** A range labelled from `start` holding the bytes from one before it, to the file's length. */
function _oneByteEarly(c: Uint8Array, start: number): _Answer {
  const from = Math.max(0, start - 1);
  return {
    body: _cutBody(c.slice(from, from + c.length - start), true),
    start,
    totalSize: c.length,
  };
}

const _MIB = 1024 * 1024;
/** A file's size that goes by uri, where a download answers (and resumes): just above inline's. */
const _BY_URI = INLINE_MAX_BYTES + 100_000;

Deno.test("a resume within the pass compares the partial's end: a range server one byte off places no damaged file", async () => {
  // The first answer cut at 1 MiB, then each 206 labelled from the offset asked but holding the
  // bytes from one further: appended unchecked, the file of the right size was placed damaged,
  // and kept for good (its size was the listed one).
  await _withListed({ count: 1, sizeBytes: 3 * _MIB }, async (listed) => {
    const content = listed.platform.contentOf(listed.items[0].binaryDataId);
    const { result, offsets, logger } = await _transferAnswered(listed, content, (c, start, n) => {
      if (n === 1) return _upTo(c, 0, _MIB, false);
      if (start === 0) return _upTo(c, 0, c.length, true);
      const shifted = new Uint8Array(c.length - start);
      shifted.set(c.subarray(start + 1));
      return { body: _cutBody(shifted, true), start, totalSize: c.length };
    });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(await Deno.readFile(join(listed.mirror.root, "f.bin")), content);
    // The resume asked for the last 4 KiB again, found them other, and began again.
    assert.deepEqual(offsets, [0, _MIB - 4096, 0]);
    assert.match(logger.text(), /does not end as the platform.s file does/);
  });
});

Deno.test("a link that drops every MiB: an answer that brought a good part starts the tries again", async () => {
  // 8 tries for the whole file: a 20 MiB file over a link dropping each connection after 1 MiB
  // failed for the pass, pass after pass (days for a large model at a minute a pass, backed off).
  const size = 20 * _MIB;
  await _withListed({ count: 1, sizeBytes: size }, async (listed) => {
    const content = listed.platform.contentOf(listed.items[0].binaryDataId);
    const { result, offsets } = await _transferAnswered(
      listed,
      content,
      (c, start) => _upTo(c, start, _MIB, false),
      { minRetryDelayMs: 60_000 }, // a retry's delay (4 s at most) would show
    );
    assert.deepEqual(result.failures, []);
    // Each answer after the first brings 1 MiB less the 4 KiB compared again.
    assert.equal(offsets.length, 1 + Math.ceil((size - _MIB) / (_MIB - 4096)));
    assert.deepEqual(await Deno.readFile(join(listed.mirror.root, "f.bin")), content);
  });
});

Deno.test("answers cut off that start over, or disagree with each other, end the file's tries: no endless pass, no damaged file", async () => {
  // A re-reviewer's cases: a server that ignores Range, cutting each answer at 200 or 300 KB by
  // turns, counted as progress each time it cut further on (the pass downloaded for ever); the
  // same with resumes answered from one byte on; and honest 1 MiB caps answered from one byte on,
  // which were appended unchecked (a damaged file of the listed size placed).
  const size = 4 * _MIB;
  const oneOn = (c: Uint8Array, start: number) => start === 0 ? c : c.subarray(start + 1);
  const cases: Record<string, _Answering> = {
    "Range ignored, cuts varying": (c, _start, n) => _upTo(c, 0, n % 2 ? 200_000 : 300_000, false),
    "resumes one byte off, cuts varying": (c, start, n) => ({
      body: _cutBody(oneOn(c, start).slice(0, n % 2 ? 200_000 : 300_000)),
      start,
      totalSize: size,
    }),
    "capped answers, resumes one byte off": (c, start) => ({
      body: _cutBody(oneOn(c, start).slice(0, _MIB), true),
      start,
      totalSize: size,
    }),
    // Answers ignoring Range by turns with answers honouring it, each cut just past the furthest
    // byte sent: each resent the file so far while the others began the tries again (bytes
    // growing with the square of the file's size: a fourth re-reviewer).
    "Range ignored by turns, cuts just past the furthest byte sent": (() => {
      let sent = 0;
      return (c: Uint8Array, start: number, n: number) => {
        if (n % 2 === 0) {
          sent = Math.min(size - 1, sent + 1000);
          return { body: _cutBody(c.slice(0, sent)), start: 0, totalSize: size };
        }
        sent = Math.min(size - 1, Math.max(start, sent) + 1500);
        return { body: _cutBody(c.slice(start, sent)), start, totalSize: size };
      };
    })(),
    // Capped answers, every third one from byte 0 (Range ignored) and cut: each cycle began the
    // tries again (a second re-reviewer).
    "capped answers, every third ignoring Range": (c, start, n) =>
      n % 3 === 0 ? _upTo(c, 0, _MIB, false) : _upTo(c, start, _MIB, true),
  };
  for (const [name, answering] of Object.entries(cases)) {
    await _withListed({ count: 1, sizeBytes: size }, async (listed) => {
      const content = listed.platform.contentOf(listed.items[0].binaryDataId);
      const { result, offsets } = await _transferAnswered(listed, content, answering, {
        limit: 40,
      });
      assert.equal(result.failures.length, 1, name);
      assert.doesNotMatch(result.failures[0].error, /answers$/, name);
      assert.ok(offsets.length <= 16, `${name}: ${offsets.length} answers`);
      assert.equal(
        await Deno.lstat(join(listed.mirror.root, "f.bin")).catch(() => undefined),
        undefined,
      );
    });
  }
});

Deno.test("files a flaky link or a capping server should deliver arrive in one pass, intact, whatever answers end short", async () => {
  // Re-reviewers' cases, each failed or damaged before its fix. A partial of an earlier run a power
  // cut damaged, begun again: its length, reached before, made every cut answer after it a failed
  // try. An answer begun again and cut short of where the pass had been left its end unchecked. A
  // link dropping every 4-64 KiB failed a fresh file (an answer had to gain 64 KiB); caps of 4-8 KiB
  // never got past an earlier run's 64 KiB compare. An answer ending where its compare ended, or a
  // partial of one byte, left the next answer unchecked; so did a compare inside a run of zeros, or
  // of two like bytes at a file's start ("II" of a TIFF): one byte early, it was appended. One
  // answer of a backend ignoring Range midway failed the file.
  const kib = 1024;
  const cases: {
    name: string;
    size?: number;
    partial?: number;
    damaged?: boolean;
    shape?: (c: Uint8Array) => void;
    answering: _Answering;
  }[] = [
    {
      name: "power cut, then drops every MiB",
      size: 20 * _MIB,
      partial: 16 * _MIB,
      damaged: true,
      answering: (c, start) => _upTo(c, start, _MIB, false),
    },
    {
      name: "begun again, cut, then a range one byte early",
      size: 3 * _MIB,
      answering: (c, start, n) =>
        n <= 2 ? _upTo(c, 0, (3 - n) * _MIB, false) : _oneByteEarly(c, start),
    },
    { name: "drops every 4 KiB", answering: (c, start) => _upTo(c, start, 4 * kib, false) },
    { name: "drops every 16 KiB", answering: (c, start) => _upTo(c, start, 16 * kib, false) },
    {
      name: "caps of 4 KiB after a partial of 1 MiB",
      partial: _MIB,
      answering: (c, start) => _upTo(c, start, 4 * kib, true),
    },
    {
      name: "drops every 8 KiB after a partial of 1 MiB",
      partial: _MIB,
      answering: (c, start) => _upTo(c, start, 8 * kib, false),
    },
    {
      name: "drops every 16 KiB, the 60th answer ignoring Range",
      answering: (c, start, n) => _upTo(c, n === 60 ? 0 : start, 16 * kib, false),
    },
    {
      name: "an answer cut after one byte, then ranges one byte early",
      answering: (c, start, n) => n === 1 ? _upTo(c, 0, 1, false) : _oneByteEarly(c, start),
    },
    {
      name: "an answer ending where its compare ends, then one a byte off",
      answering: (c, start, n) =>
        n === 1
          ? _upTo(c, 0, _MIB, false)
          : n === 2
          ? _upTo(c, start, _MIB - start, false)
          : _oneByteEarly(c, start),
    },
    {
      name: "zeros where the answer was cut, then ranges one byte early",
      shape: (c) => c.fill(0, 100_000, 140_000),
      answering: (c, start, n) => n === 1 ? _upTo(c, 0, 122_900, false) : _oneByteEarly(c, start),
    },
    {
      name: "two like bytes at the start, cut after them, then ranges one byte early",
      shape: (c) => c.fill(0x49, 0, 2),
      answering: (c, start, n) => n === 1 ? _upTo(c, 0, 2, false) : _oneByteEarly(c, start),
    },
  ];
  for (const { name, size, partial, damaged, shape, answering } of cases) {
    await _withListed({ count: 1, sizeBytes: size ?? _BY_URI }, async (listed) => {
      const content = listed.platform.contentOf(listed.items[0].binaryDataId).slice();
      shape?.(content); // the bytes this case's server sends
      const { result } = await _transferAnswered(listed, content, answering, {
        partial,
        damaged,
        minRetryDelayMs: 60_000, // a retry's delay (4 s at most) would show
      });
      assert.deepEqual(result.failures, [], name);
      assert.deepEqual(await Deno.readFile(join(listed.mirror.root, "f.bin")), content, name);
    });
  }
});

for (const cap of [100_000, 16_384]) {
  Deno.test(`a file served in ranges capped at ${cap} bytes arrives in one pass, without a retry's delay`, async () => {
    // Each answer an honest 206 of at most `cap` bytes (an object store or a CDN capping a range):
    // each counted as a failed try, a 2 MB file failed after 8 of them, pass after pass (and
    // below 64 KiB, after the first fix, still).
    const size = _BY_URI;
    await _withListed(
      { count: 1, sizeBytes: size },
      async ({ platform, mirror, remote: real, items }) => {
        const content = platform.contentOf(items[0].binaryDataId);
        let answers = 0;
        const remote: typeof real = Object.assign(Object.create(real), {
          download: (_item: unknown, options: { offset?: number } = {}) => {
            answers++;
            const start = options.offset ?? 0;
            const part = content.slice(start, Math.min(size, start + cap));
            return Promise.resolve({ body: new Blob([part]).stream(), start, totalSize: size });
          },
        });
        const transfer = new Transfer({ remote, mirror }, {
          concurrency: 1,
          reservePercent: 0,
          logger: new RecordingLogger(),
          minRetryDelayMs: 60_000, // a retry's delay would outlast the test
        });
        transfer.add(items.map((item) => ({ path: "f.bin", item })));
        const result = await transfer.finish();
        assert.deepEqual(result.failures, []);
        // Each answer after the first compares the last 4 KiB of the one before it.
        assert.equal(answers, 1 + Math.ceil((size - cap) / (cap - 4096)));
        assert.deepEqual(await Deno.readFile(join(mirror.root, "f.bin")), content);
      },
    );
  });
}

Deno.test("a batch named while the pass stops counts every file it named, a refused one beside them", async () => {
  await withTempDir(async (dir) => {
    await using platform = await startPlatform({
      dataset: describeDataset([{ count: 3, sizeBytes: 100, tags: ["t"] }]),
    });
    // The batch's sync holds until the test has stopped the pass.
    const syncing = join(dir, "syncing");
    const release = join(dir, "release");
    const slowSync = join(dir, "slow-sync");
    await Deno.writeTextFile(
      slowSync,
      `#!/bin/sh\ntouch '${syncing}'\n` +
        `i=0; while [ ! -e '${release}' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n`,
      { mode: 0o755 },
    );
    await using mirror = await MirrorDir.open({
      viamHome: join(dir, "home"),
      mirrorPath: "mirror",
      syncPrograms: [slowSync],
    });
    // A file already at the first one's path: its naming is refused (AlreadyExists).
    await Deno.mkdir(join(mirror.root, "f"));
    await Deno.writeTextFile(join(mirror.root, "f/0.bin"), "the user's");
    const remote = remoteOf(platform);
    const items = await _listAll(remote);
    const stop = new AbortController();
    const transfer = new Transfer({ remote, mirror }, {
      concurrency: 1,
      reservePercent: 0,
      logger: new RecordingLogger(),
      signal: stop.signal,
    });
    transfer.add(items.map((item, i) => ({ path: `f/${i}.bin`, item })));
    await pollUntil(
      "the batch waits for its sync",
      async () => (await Deno.lstat(syncing).catch(() => undefined)) !== undefined,
    );
    stop.abort();
    await Deno.writeTextFile(release, "");
    await assert.rejects(transfer.finish());
    // Both files named are counted as placed (and so recorded): left out, they were the mirror's
    // files unrecorded, never replaced by a later version.
    assert.deepEqual([...transfer.result.placed.keys()].sort(), ["f/1.bin", "f/2.bin"]);
    for (const path of ["f/1.bin", "f/2.bin"]) await Deno.lstat(join(mirror.root, path));
  });
});
