import assert from "node:assert/strict";
import type { LogFields } from "../../src/logger.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseConfig, type PushConfig } from "../../src/config.ts";
import { acquireMirrorLock, LockedError } from "../../src/fs/mirror_lock.ts";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import {
  PUSH_JOURNAL_LOG_NAME,
  PUSH_JOURNAL_NAME,
  PushJournal,
} from "../../src/push/push_journal.ts";
import { pushDestination } from "../../src/push/push_destination.ts";
import {
  partialPushOf,
  type PushProgress,
  type PushResult,
  runPushPass,
} from "../../src/push/run_push_pass.ts";
import { FileUploader } from "../../src/remote/file_upload.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { runPass } from "../../src/sync/run_pass.ts";
import { readTree, RecordingLogger } from "../sync/_harness.ts";
import { pollUntil } from "../_poll.ts";
import type { Platform } from "../support/platform/mod.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";
import { withTmpfsAt } from "../fs/_helpers.ts";
import {
  foldedJournal,
  PART_ID,
  plantFile,
  pushConfig,
  type PushFixture,
  randomBytes,
  withPush,
  withStateDirSeenLate,
} from "./_harness.ts";

/**
 * Waits until a file changed now gets a change time in a later second than `time` (Deno gives it
 * in whole seconds), with a margin: the kernel stamps files from a clock a tick behind Date.now().
 */
async function _pastTheSecondOf(time: Date): Promise<void> {
  const next = (Math.floor(time.getTime() / 1000) + 1) * 1000 + 100;
  while (Date.now() < next) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Rewrites `path` in place with `text` (of its size), once past the second of its last change, and
 * puts its modification time back: only the change time tells the versions apart.
 */
async function _rewriteSameSize(path: string, text: string): Promise<void> {
  const { mtime, ctime } = await Deno.stat(path);
  await _pastTheSecondOf(ctime!);
  const file = await Deno.open(path, { write: true });
  await file.write(new TextEncoder().encode(text));
  file.close();
  await Deno.utime(path, mtime!, mtime!);
}

/** `promise`, or a failure saying `what` once `ms` have passed without it settling. */
async function _within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return await Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Starts a pass over `a.bin` (slow to upload) and `z.bin`, one upload at a time, and once the first
 * is under way removes `z.bin` and lets `replace` put something in its place: z.bin is opened only
 * after that. Resolves to the pass under way (wrapped: awaited, a promise would be waited out).
 */
async function _passWithZSwapped(
  { platform, root, pass, write }: Pick<PushFixture, "platform" | "root" | "pass" | "write">,
  replace: (path: string) => Promise<void>,
): Promise<{ passing: Promise<PushResult> }> {
  await write("a.bin", randomBytes(100_000));
  await write("z.bin", randomBytes(1000));
  platform.setFaults({ uploadBytesPerSecond: 100_000 });
  const passing = pass({}, { concurrency: 1 });
  await pollUntil("the first upload is under way", () => platform.calls.FileUpload > 0);
  await Deno.remove(join(root, "z.bin"));
  await replace(join(root, "z.bin"));
  return { passing };
}

/** The text of every file the platform holds, sorted. */
function _storedTexts(platform: Platform): string[] {
  return platform.items().map((i) => new TextDecoder().decode(platform.contentOf(i.binaryDataId)))
    .sort();
}

async function _exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/**
 * Makes the journal of the push folder at `root` say what a run killed after the platform stored
 * `file` leaves: that version in flight, its id never known (the sent version it recorded, or the
 * in-flight one again).
 */
async function _plantInFlight(root: string, file: string): Promise<void> {
  const journal = await foldedJournal(root);
  // The change time too, as a run records it when the upload begins.
  const { ino, size, mtimeMs, ctimeMs } = journal.files[file].sent ?? journal.files[file].inFlight;
  journal.files[file] = { inFlight: { ino, size, mtimeMs, ctimeMs, startedMs: Date.now() } };
  await Deno.writeTextFile(join(root, ".data-mirror", PUSH_JOURNAL_NAME), JSON.stringify(journal));
}

/**
 * Writes `path` in the push folder, sends it (with keep), then leaves the journal as a run killed
 * after the platform stored it does ({@linkcode _plantInFlight}).
 */
async function _storedThenCut(
  { root, pass, write }: Pick<PushFixture, "root" | "pass" | "write">,
  path: string,
  bytes: Uint8Array | string,
): Promise<void> {
  await write(path, bytes);
  assert.equal((await pass({ keep: true })).uploaded, 1);
  await _plantInFlight(root, path);
}

Deno.test("round trip: a pushed tree is mirrored by sync into another VIAM_HOME at the same paths", async () => {
  await withPush(async ({ platform, root, pass }) => {
    const tree = new Map<string, Uint8Array>([
      ["models/detector.tflite", randomBytes(300_000)],
      ["models/labels.txt", new TextEncoder().encode("cat\ndog\n")],
      ["a/b/c/deep.jpg", randomBytes(70_000)],
      ["README", randomBytes(10)],
      ["archive.tar.gz", randomBytes(1000)],
    ]);
    for (const [path, bytes] of tree) await plantFile(join(root, path), bytes);
    await plantFile(join(root, "empty.bin"), new Uint8Array(0)); // kept, not sent
    const result = await pass();
    assert.equal(result.found, tree.size + 1);
    assert.equal(result.uploaded, tree.size);
    assert.equal(result.deleted, tree.size);
    assert.equal(result.failed, 0);
    assert.equal(result.bytes, [...tree.values()].reduce((n, b) => n + b.length, 0));
    assert.deepEqual([...(await readTree(root)).keys()], ["empty.bin"], "every sent file deleted");
    assert.ok(await _exists(root), "the push folder itself stays");
    const stored = platform.items();
    assert.deepEqual(stored.map((i) => i.fileName).sort(), [...tree.keys()].sort());
    const model = stored.find((i) => i.fileName === "models/detector.tflite")!;
    assert.equal(model.fileExt, ".tflite");
    assert.equal(model.partId, PART_ID);
    assert.deepEqual(model.tags, ["fleet"]);
    assert.equal(stored.find((i) => i.fileName === "README")!.fileExt, "");
    assert.equal(stored.find((i) => i.fileName === "archive.tar.gz")!.fileExt, ".gz");

    // Another machine mirrors tag "fleet" and gets the same tree.
    await _withPeer(platform, {}, async (sync) => assert.deepEqual(await sync(), tree));
  });
});

/**
 * Another machine mirroring tag "fleet" (its own Viam home) for `fn`: `sync` runs one pass there
 * (failing on any file's failure) and resolves to its mirror's files.
 */
async function _withPeer(
  platform: Platform,
  attributes: Record<string, unknown>,
  fn: (sync: () => Promise<Map<string, Uint8Array>>) => Promise<void>,
): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "data-mirror-peer-" });
  try {
    const { config } = parseConfig({
      app_api_key_id: platform.apiKeyId,
      app_api_key: platform.apiKey,
      app_url: platform.url,
      tags: ["fleet"],
      ...attributes,
    }, { env: (name) => (name === "VIAM_HOME" ? home : undefined) });
    const remote = new ViamRemote({
      appUrl: config.appUrl,
      apiKeyId: config.apiKeyId,
      apiKey: config.apiKey,
    });
    await fn(async () => {
      const synced = await runPass(config, remote, {
        logger: new RecordingLogger(),
        minRetryDelayMs: 1,
      });
      assert.equal(synced.failures.length, 0, JSON.stringify(synced.failures));
      return await readTree(config.mirrorRoot);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("a file pushed again under its name replaces the old version on a machine that mirrors it", async () => {
  await withPush(async ({ platform, root, pass }) => {
    await _withPeer(platform, { delete: true }, async (sync) => {
      // Two versions of the same size (a model retrained with the same architecture), whatever
      // ids the platform gives them: the later push wins on the machine that holds the first.
      for (const version of [randomBytes(50_000), randomBytes(50_000), randomBytes(50_000)]) {
        await plantFile(join(root, "models/detector.tflite"), version);
        assert.equal((await pass()).uploaded, 1);
        assert.deepEqual(await sync(), new Map([["models/detector.tflite", version]]));
      }
      assert.equal(platform.items().length, 3, "the platform holds every version");
    });
  });
});

Deno.test("keep: an unchanged file goes once; a changed one goes again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("a.txt", "first");
    await write("b.txt", "other");
    const first = await pass({ keep: true });
    assert.equal(first.uploaded, 2);
    assert.equal(first.deleted, 0);
    assert.equal(await Deno.readTextFile(join(root, "a.txt")), "first");
    const second = await pass({ keep: true });
    assert.equal(second.uploaded, 0);
    assert.deepEqual(second.skippedBy, { unchanged: 2 });
    assert.equal(platform.calls.FileUpload, 2);
    await write("a.txt", "second version", 30);
    const third = await pass({ keep: true });
    assert.equal(third.uploaded, 1);
    assert.deepEqual(third.skippedBy, { unchanged: 1 });
    const versions = platform.items().filter((i) => i.fileName === "a.txt");
    assert.deepEqual(
      versions.map((i) => new TextDecoder().decode(platform.contentOf(i.binaryDataId))),
      ["first", "second version"],
    );
    // Without keep, files kept since their upload go once more (the platform may have dropped
    // them since), then are deleted.
    const fourth = await pass();
    assert.equal(fourth.deleted, 2);
    assert.equal(fourth.uploaded, 2);
    assert.equal(platform.calls.FileUpload, 5);
    assert.deepEqual(await readTree(root), new Map());
  });
});

Deno.test("a push pass's line is info when it sent or deleted, debug when it changed nothing", async () => {
  await withPush(async ({ logger, pass, write }) => {
    const lines = () =>
      logger.entries.filter((entry) => entry.message.startsWith("push of ")).map((entry) =>
        entry.level
      );
    await pass(); // an empty folder
    await write("a.jpg", "a");
    await pass(); // sends and deletes it
    await pass();
    assert.deepEqual(lines(), ["debug", "info", "debug"]);
  });
});

Deno.test("keep: a folder moved away for a pass and back is not sent again", async () => {
  await withPush(async ({ platform, root, home, pass, write }) => {
    await write("cam/a.jpg", "a");
    await write("cam/b.jpg", "b");
    assert.equal((await pass({ keep: true })).uploaded, 2);
    // Taken away for a pass (a stick unmounted, a folder moved), then back as it was: the whole
    // walk without it forgot the versions sent, and both went again (a reviewer's case).
    await Deno.rename(join(root, "cam"), join(home, "away"));
    assert.equal((await pass({ keep: true })).found, 0);
    await Deno.rename(join(home, "away"), join(root, "cam"));
    const back = await pass({ keep: true });
    assert.equal(back.uploaded, 0, "sent again on its return");
    assert.deepEqual(back.skippedBy, { unchanged: 2 });
    assert.equal(platform.calls.FileUpload, 2);
    // Changed while away: a new version, which goes.
    await Deno.rename(join(root, "cam"), join(home, "away"));
    await pass({ keep: true });
    await Deno.writeTextFile(join(home, "away", "a.jpg"), "a, edited");
    await Deno.utime(join(home, "away", "a.jpg"), 1, 1); // settled long ago
    await Deno.rename(join(home, "away"), join(root, "cam"));
    const edited = await pass({ keep: true });
    assert.equal(edited.uploaded, 1);
    assert.deepEqual(edited.skippedBy, { unchanged: 1 });
    // Away for more than 30 days: forgotten (a kept folder emptied by another program would
    // otherwise grow the journal for good), and sent again should it come back.
    await Deno.rename(join(root, "cam"), join(home, "away"));
    const day = 24 * 3600_000;
    await pass({ keep: true });
    await pass({ keep: true }, { now: () => Date.now() + 31 * day });
    await Deno.rename(join(home, "away"), join(root, "cam"));
    assert.equal((await pass({ keep: true }, { now: () => Date.now() + 31 * day })).uploaded, 2);
  });
});

Deno.test("a file kept after its upload is deleted only once its current destination has it", async () => {
  await withPush(async ({ platform, root, pass, write, config, logger }) => {
    await write("model.bin", "weights");
    assert.equal((await pass({ keep: true, tags: ["trial"] })).uploaded, 1);
    // Another platform, down: the journal's "sent" was said of the first one, so nothing is deleted.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${closed.addr.port}`;
    closed.close();
    {
      await using elsewhere = new FileUploader({
        env: () => undefined, // http:// on loopback: never through a proxy
        appUrl: deadUrl,
        apiKeyId: platform.apiKeyId,
        apiKey: platform.apiKey,
      });
      const away = await runPushPass(
        config({ tags: ["trial"] }),
        { uploader: elsewhere, partId: PART_ID, appUrl: deadUrl },
        { logger, minRetryDelayMs: 1, attempts: 1 },
      );
      assert.deepEqual([away.uploaded, away.deleted, away.failed], [0, 0, 1]);
    }
    assert.equal(await Deno.readTextFile(join(root, "model.bin")), "weights");
    // The same platform under other tags: sent again with them, then deleted.
    const retagged = await pass({ tags: ["fleet"] });
    assert.deepEqual([retagged.uploaded, retagged.deleted], [1, 1]);
    assert.deepEqual(
      platform.items().map((i) => [i.fileName, [...i.tags]]),
      [["model.bin", ["trial"]], ["model.bin", ["fleet"]]],
    );
    assert.equal(await _exists(join(root, "model.bin")), false);
  });
});

Deno.test("a file cut off on its way to other datasets is sent again, not taken for stored", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("a.txt", "payload");
    assert.equal((await pass({ keep: true, datasetIds: ["ds-old"] })).uploaded, 1);
    // As a kill right after the platform stored it leaves the journal: in flight, nothing recorded.
    const stateDir = join(root, ".data-mirror");
    const journal = await PushJournal.open(stateDir);
    const { sent } = journal.get("a.txt")!;
    journal.update("a.txt", () => ({ inFlight: { ...sent!, startedMs: sent!.sentMs - 10 } }));
    await journal.compact();
    await journal.close();
    const next = await pass({ datasetIds: ["ds-new"] });
    assert.deepEqual([next.uploaded, next.recovered, next.deleted], [1, 0, 1]);
    assert.deepEqual(platform.items().map((i) => [...i.datasetIds]), [["ds-old"], ["ds-new"]]);
  });
});

Deno.test("a refusal holds for its destination: after a change of tags the file is tried again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("bad.bin", "refused");
    platform.setFaults({ refuseUploadFileNames: ["bad.bin"] });
    const refused = await pass({ tags: ["typo"] });
    assert.equal(refused.failures[0]?.permanent, true);
    platform.setFaults({});
    assert.equal((await pass({ tags: ["typo"] }, { retryFailedNow: true })).failed, 1);
    const fixed = await pass({ tags: ["fleet"] });
    assert.deepEqual([fixed.uploaded, fixed.failed, fixed.deleted], [1, 0, 1]);
    assert.equal(await _exists(join(root, "bad.bin")), false);
  });
});

Deno.test("the progress counts a refused file as failed, not only as done", async () => {
  await withPush(async ({ platform, pass, write }) => {
    await write("bad.bin", "refused");
    await write("good.bin", "taken");
    platform.setFaults({ refuseUploadFileNames: ["bad.bin"] });
    const seen: PushProgress[] = [];
    await pass(undefined, { onProgress: (progress) => seen.push(progress) });
    assert.deepEqual(
      seen.at(-1),
      { filesTotal: 2, filesDone: 2, filesFailed: 1, bytesTotal: 12, bytesSent: 5 },
    );
  });
});

Deno.test("a backlog larger than one pass's share goes over several passes; files not walked keep their journal entries", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    for (const name of ["a", "b", "c", "d", "e"]) await write(`${name}.txt`, name);
    const first = await pass({ keep: true }, { maxUploads: 2 });
    assert.equal(first.uploaded, 2);
    assert.equal(first.backlog, true);
    const second = await pass({ keep: true }, { maxUploads: 2 });
    assert.equal(second.uploaded, 2);
    assert.deepEqual(second.skippedBy, { unchanged: 2 });
    const third = await pass({ keep: true }, { maxUploads: 2 });
    assert.equal(third.uploaded, 1);
    assert.equal(third.backlog, undefined);
    // a and b change: they fill the next pass's share, and the walk stops before c, d and e, whose
    // uploads must be remembered all the same (forgotten, they would go a second time).
    await write("a.txt", "a2", 30);
    await write("b.txt", "b2", 30);
    const fourth = await pass({ keep: true }, { maxUploads: 2 });
    assert.equal(fourth.uploaded, 2);
    assert.equal(fourth.backlog, true);
    const fifth = await pass({ keep: true }, { maxUploads: 2 });
    assert.equal(fifth.uploaded, 0);
    assert.deepEqual(fifth.skippedBy, { unchanged: 5 });
    const sent = platform.items().map((i) => i.fileName).sort();
    assert.deepEqual(sent, ["a.txt", "a.txt", "b.txt", "b.txt", "c.txt", "d.txt", "e.txt"]);
    // Without keep, a pass deletes what it sent; the rest of the backlog stays for the next. The
    // five kept since their upload go once more first (the platform may have dropped them).
    await write("f.txt", "f");
    await write("g.txt", "g");
    await write("h.txt", "h");
    const sixth = await pass({}, { maxUploads: 2 });
    assert.equal(sixth.uploaded, 2);
    assert.equal(sixth.deleted, 2);
    assert.equal(sixth.backlog, true);
    let passes = 0;
    for (let more = true; more; passes++) {
      more = (await pass({}, { maxUploads: 2 })).backlog === true;
    }
    assert.equal(passes, 3);
    assert.deepEqual(await readTree(root), new Map());
    assert.equal(platform.calls.FileUpload, 15);
  });
});

Deno.test("settle time: a file modified lately waits; once settled it goes", async () => {
  await withPush(async ({ platform, pass, write }) => {
    // Change times are fresh in a test (utime sets them): the pass's clock runs 11 s ahead, and
    // the file still being written is modified "5 s from now" (1 s before that clock's now - 5).
    await write("fresh.bin", "still being written", -5);
    await write("old.bin", "done", 60);
    const first = await pass({ minAgeSeconds: 10 }, { now: () => Date.now() + 11_000 });
    assert.equal(first.uploaded, 1);
    assert.deepEqual(first.skippedBy, { settling: 1 });
    assert.deepEqual(platform.items().map((i) => i.fileName), ["old.bin"]);
    // Its change time settles too (its modification time alone could have been put back).
    const second = await pass({ minAgeSeconds: 10 }, { now: () => Date.now() + 16_000 });
    assert.equal(second.uploaded, 1);
  });
});

Deno.test("the journal's copies and folder probes a killed pass left are cleared by the next pass, not by a dry run", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("a.txt", "a", 60);
    await pass();
    const state = join(root, ".data-mirror");
    const leftover = join(state, `.push-journal.json.${crypto.randomUUID()}.tmp`);
    await Deno.writeTextFile(leftover, "{}");
    await Deno.writeTextFile(join(state, "push-journal.json.notes"), "someone's"); // not one
    // A pass killed while it asked the folder who this user is left its probe file.
    const probe = join(state, `.probe-${crypto.randomUUID()}`);
    await Deno.writeTextFile(probe, "");
    await Deno.writeTextFile(join(state, ".probe-notes"), "someone's"); // not one either
    await pass({}, { dryRun: true });
    assert.ok(await _exists(leftover), "a dry run changes nothing");
    assert.ok(await _exists(probe), "a dry run changes nothing");
    await pass();
    assert.equal(await _exists(leftover), false);
    assert.equal(await _exists(probe), false);
    assert.ok(await _exists(join(state, "push-journal.json.notes")));
    assert.ok(await _exists(join(state, ".probe-notes")));
  });
});

Deno.test("a copy whose modification time was put back waits for its change time to settle", async () => {
  // `cp -p`, `rsync -t`, `shutil.copy2` under a temporary name renamed a moment later: sent under
  // that name and deleted, the producer's rename failed and the file was never pushed as itself.
  await withPush(async ({ platform, pass, write }) => {
    await write(".report.csv.tmp", "a copy, its time kept", 3600);
    const result = await pass({ minAgeSeconds: 10 });
    assert.deepEqual([result.uploaded, result.skippedBy], [0, { settling: 1 }]);
    assert.equal(platform.items().length, 0);
    const later = await pass({ minAgeSeconds: 10 }, { now: () => Date.now() + 12_000 });
    assert.equal(later.uploaded, 1, "once its change time is as old as the settle time");
  });
});

Deno.test("a file whose modification time is past what a date holds (tmpfs keeps it) is sent", async () => {
  // Such a time came as NaN, equal to nothing: the file never settled and never matched its walk.
  await withPush(async ({ platform, root, pass, write }) => {
    await withTmpfsAt(root, async () => {
      await write("far.bin", "dated past the year 275760");
      const touch = await new Deno.Command("touch", {
        args: ["-d", "@9000000000000", join(root, "far.bin")],
      }).output();
      assert.ok(touch.success);
      const result = await pass({ minAgeSeconds: 10 }, { now: () => Date.now() + 11_000 });
      assert.deepEqual([result.uploaded, result.skipped], [1, 0]);
      assert.deepEqual(platform.items().map((i) => i.fileName), ["far.bin"]);
    });
  });
});

Deno.test("a file whose modification and change times both lie ahead of the clock settles from when it was first seen", async () => {
  await withPush(async ({ platform, pass, write }) => {
    // This machine's clock a day behind the file's times (on FAT or exFAT a camera's clock sets
    // both; here the clock is put back instead): neither time can say when it last changed.
    let wall = Date.now() - 86_400_000;
    await write("cam.jpg", "img", 0);
    const first = await pass({ minAgeSeconds: 10 }, { now: () => wall });
    assert.deepEqual([first.uploaded, first.skippedBy.settling], [0, 1]);
    wall += 11_000;
    const later = await pass({ minAgeSeconds: 10 }, { now: () => wall });
    assert.equal(later.uploaded, 1, "unchanged for the settle time since first seen");
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a file whose times lie ahead settles from its first sight even when the disk numbers it anew (exfat-fuse after the kernel evicts its inode)", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("IMG_0001.JPG", "photo bytes", 0);
    // This clock a day behind the file's times (a camera's clock on an exFAT card).
    const behind = Date.now() - 86_400_000;
    const first = await pass({ minAgeSeconds: 2 }, { now: () => behind });
    assert.deepEqual(first.skippedBy, { settling: 1 });
    // The driver numbered the file anew since (a FUSE node id, forgotten and looked up again).
    const journal = await foldedJournal(root);
    journal.files["IMG_0001.JPG"].seen.ino += 1000;
    await Deno.writeTextFile(
      join(root, ".data-mirror", PUSH_JOURNAL_NAME),
      JSON.stringify(journal),
    );
    const later = await pass({ minAgeSeconds: 2 }, { now: () => behind + 3_000 });
    assert.equal(later.uploaded, 1, `never settles: ${JSON.stringify(later.skippedBy)}`);
  });
});

Deno.test("a file whose times lie ahead leaves no first-sight record once sent and deleted, even when the walk is not whole", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("a.jpg", "photo a", 0);
    await write("b.jpg", "photo b", 0);
    const behind = Date.now() - 86_400_000; // this clock a day behind the files' times
    await pass({ minAgeSeconds: 1 }, { now: () => behind });
    // One file a pass: the walk stops at the next, so it is not whole.
    const r = await pass({ minAgeSeconds: 1 }, { now: () => behind + 2_000, maxUploads: 1 });
    assert.equal(r.deleted, 1);
    const journal = await foldedJournal(root);
    const gone = ["a.jpg", "b.jpg"].find((p) => journal.files[p]?.sent === undefined)!;
    assert.equal(journal.files[gone]?.seen, undefined, JSON.stringify(journal.files[gone]));
  });
});

Deno.test("min age 0: a file whose times lie a day ahead goes at its first pass, on a clock that ticks", async () => {
  await withPush(async ({ pass, write }) => {
    await write("IMG.JPG", "photo", 0);
    // A day behind, and moving on by 1 ms at each read (a real clock between two reads).
    let wall = Date.now() - 86_400_000;
    const r = await pass({ minAgeSeconds: 0 }, { now: () => (wall += 1) });
    assert.equal(r.uploaded, 1, JSON.stringify(r.skippedBy));
  });
});

Deno.test("an empty file is kept, not sent: written later, it goes with what its writer wrote", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("opened.log", "", 60);
    await write("full.log", "a line", 60);
    const settled = { now: () => Date.now() + 11_000 }; // their change times are fresh
    const first = await pass({ minAgeSeconds: 10 }, settled);
    assert.deepEqual([first.uploaded, first.skippedBy], [1, { empty: 1 }]);
    assert.deepEqual([...(await readTree(root)).keys()], ["opened.log"]);
    await write("opened.log", "its first line", 60);
    assert.equal((await pass({ minAgeSeconds: 10 }, settled)).uploaded, 1);
    assert.deepEqual(platform.items().map((i) => i.fileName).sort(), ["full.log", "opened.log"]);
    assert.deepEqual(platform.items().map((i) => i.sizeBytes).sort((a, b) => a - b), [6, 14]);
  });
});

Deno.test("a file whose modification time lies in the future settles by its change time, not in 2099", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("future.txt", "from a machine whose clock ran ahead");
    const future = new Date("2099-01-01T00:00:00Z");
    await Deno.utime(join(root, "future.txt"), future, future);
    const result = await pass();
    assert.equal(result.uploaded, 1);
    assert.deepEqual(platform.items().map((i) => i.fileName), ["future.txt"]);
  });
});

Deno.test("a stream cut mid-file is retried within the pass and stored once", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    const bytes = randomBytes(400_000);
    await write("big.bin", bytes);
    platform.setFaults({ uploadUnavailableAfterBytes: 200_000, uploadUnavailableTimes: 2 });
    const progress: number[] = [];
    const result = await pass({}, { onProgress: (p) => progress.push(p.bytesSent) });
    assert.equal(result.uploaded, 1);
    assert.equal(result.failed, 0);
    // The file's bytes, once: not the cut attempts' too (they read 300% in the progress).
    assert.equal(result.bytes, 400_000);
    assert.ok(progress.every((n) => n >= 0 && n <= 400_000), `progress ${progress.join(" ")}`);
    assert.equal(progress.at(-1), 400_000);
    assert.equal(platform.uploads.cut, 2);
    assert.equal(platform.uploads.completed, 1);
    assert.deepEqual(platform.contentOf(platform.items()[0].binaryDataId), bytes);
    assert.equal(await _exists(join(root, "big.bin")), false);
  });
});

Deno.test("a CANCELED the platform answers mid-file is retried, not taken for the pass stopped", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("big.bin", randomBytes(400_000));
    await write("small.bin", "payload");
    platform.setFaults({
      uploadUnavailableAfterBytes: 200_000,
      uploadUnavailableTimes: 1,
      uploadCutCode: "canceled",
    });
    const result = await pass();
    assert.equal(result.error, undefined);
    assert.equal(result.uploaded, 2);
    assert.equal(result.failed, 0);
    assert.equal(platform.uploads.cut, 1);
    assert.equal(await _exists(join(root, "big.bin")), false);
  });
});

Deno.test("an upload answered without a binary_data_id is not taken as stored: deleted only once the platform's listing shows it", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("unstored.bin", "precious bytes");
    platform.setFaults({ uploadAnswerWithoutId: "unstored" });
    const kept = await pass({}, { attempts: 1 });
    assert.equal(kept.uploaded, 0);
    assert.equal(kept.failed, 1);
    assert.equal(kept.deleted, 0);
    assert.equal(
      await _exists(join(root, "unstored.bin")),
      true,
      "deleted on an answer with no id",
    );
    assert.deepEqual(platform.items(), []);

    // Stored, and answered without its id: found by the lookup after a lost answer, with its id.
    // (The first file waits out its backoff.)
    await write("stored.bin", "more bytes");
    platform.setFaults({ uploadAnswerWithoutId: "stored" });
    const found = await pass({}, { attempts: 1 });
    assert.equal(found.uploaded, 1);
    assert.equal(found.recovered, 1);
    assert.equal(found.deleted, 1);
    assert.deepEqual(platform.items().map((item) => item.fileName), ["stored.bin"]);
    assert.equal(await _exists(join(root, "stored.bin")), false);
    assert.equal(await _exists(join(root, "unstored.bin")), true);
  });
});

Deno.test("transient failures back off across passes; the file is never touched", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("x.bin", "payload");
    platform.setFaults({ uploadUnavailableAfterBytes: 0 });
    // The first two passes on one instant: the back-off is 0.5 to 1 s of the pass's clock, which a
    // loaded machine could let pass before the second pass looked.
    const clock = Date.now();
    const first = await pass({}, { attempts: 2, now: () => clock });
    assert.equal(first.failed, 1);
    assert.match(first.failures[0].error, /unavailable/);
    assert.equal(first.failures[0].permanent, false);
    assert.equal(platform.uploads.cut, 2);
    assert.equal(await Deno.readTextFile(join(root, "x.bin")), "payload");
    // The next pass respects the file's back-off (persisted in the journal): no call.
    const journal = await foldedJournal(root);
    assert.equal(journal.files["x.bin"].failure.count, 1);
    assert.equal(journal.files["x.bin"].inFlight, undefined);
    const second = await pass({}, { attempts: 2, now: () => clock });
    assert.deepEqual(second.skippedBy, { "backing off": 1 });
    assert.equal(platform.calls.FileUpload, 2);
    // Past its back-off a pass tries it again (it is never given up), and once the platform is
    // back it goes; the file was never touched meanwhile.
    const later = Date.now() + 61 * 60_000;
    const failing = await pass({}, { attempts: 1, now: () => later });
    assert.equal(failing.failures[0].permanent, false);
    assert.equal(platform.calls.FileUpload, 3);
    assert.equal(await Deno.readTextFile(join(root, "x.bin")), "payload");
    platform.setFaults({});
    const recovered = await pass({}, { now: () => later + 61 * 60_000 });
    assert.equal(recovered.uploaded, 1);
    assert.equal(platform.uploads.completed, 1);
  });
});

Deno.test("a file's back-off does not outlast a clock stepped back", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("x.bin", "payload");
    platform.setFaults({ uploadUnavailableAfterBytes: 0 });
    // The clock ran a year ahead when the upload failed; NTP has put it right since.
    const ahead = Date.now() + 365 * 86_400_000;
    const first = await pass({}, { attempts: 1, now: () => ahead });
    assert.equal(first.failed, 1);
    platform.setFaults({});
    const next = await pass({});
    assert.equal(next.uploaded, 1, JSON.stringify(next.skippedBy));
    assert.equal(await _exists(join(root, "x.bin")), false);
  });
});

Deno.test("a pass with nothing new rewrites no journal; the last uploads' ids outlive the clock", async () => {
  await withPush(async ({ root, pass, write }) => {
    const snapshot = join(root, ".data-mirror", PUSH_JOURNAL_NAME);
    await write("kept.bin", "stays, remembered");
    await pass({ keep: true });
    const written = await Deno.stat(snapshot);
    const idle = await pass({ keep: true });
    assert.deepEqual(idle.skippedBy, { unchanged: 1 });
    const after = await Deno.stat(snapshot);
    assert.deepEqual([after.ino, after.mtime?.getTime()], [written.ino, written.mtime?.getTime()]);
    const journal = () => foldedJournal(root);
    const ids = async (path = "kept.bin") => (await journal()).files[path]?.uploads?.length ?? 0;
    assert.equal(await ids(), 1);
    assert.equal((await journal()).files["kept.bin"].uploads[0].seq, 1, "numbered in sequence");
    // Half an hour later by the clock (or a clock set forward): the id stays, being among the
    // folder's last uploads.
    await pass({ keep: true }, { now: () => Date.now() + 31 * 60_000 });
    assert.equal(await ids(), 1, "kept by count, whatever the clock");
    // Once 4,000 uploads came after it, the clock decides again.
    const planted = await journal();
    for (let i = 0; i < 4000; i++) {
      planted.files[`gone/${i}.bin`] = {
        uploads: [{ binaryDataId: `id-${i}`, ms: Date.now(), seq: 2 + i }],
      };
    }
    await Deno.writeTextFile(snapshot, JSON.stringify(planted));
    await pass({ keep: true }, { now: () => Date.now() + 31 * 60_000 });
    assert.equal(await ids(), 0, "the id went; the sent version stays");
    assert.ok((await journal()).files["kept.bin"].sent !== undefined);
    assert.equal(await ids("gone/0.bin"), 1);
  });
});

Deno.test("a clock stepped forward after an upload never lets a new file of its name and size be taken for it", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    // The first version is sent while the robot's clock runs 40 minutes behind, then deleted.
    await write("status.bin", "status-v1-aaaa");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await Deno.utime(join(root, "status.bin"), twoHoursAgo, twoHoursAgo);
    const behind = () => Date.now() - 40 * 60_000;
    assert.equal((await pass({}, { now: behind })).deleted, 1);
    // NTP steps the clock forward; a camera then sends 5,000 files (planted: their uploads, by
    // the corrected clock, come after the first version's in sequence, more than the ids kept by
    // count); a pass finds nothing and forgets the first version's id.
    const path = join(root, ".data-mirror", PUSH_JOURNAL_NAME);
    const before = await foldedJournal(root);
    const seq = before.files["status.bin"].uploads[0].seq;
    for (let i = 0; i < 5000; i++) {
      before.files[`cam/${i}.jpg`] = {
        uploads: [{ binaryDataId: `cam-${i}`, ms: Date.now(), seq: seq + 1 + i }],
      };
    }
    await Deno.writeTextFile(path, JSON.stringify(before));
    await pass();
    const forgotten = (await foldedJournal(root)).files["status.bin"];
    assert.equal(forgotten, undefined, "the journal no longer knows the first upload");
    // A new version, same name and size, cut off in flight before the platform stored it.
    await write("status.bin", "status-v2-BBBB");
    const info = await Deno.lstat(join(root, "status.bin"));
    const journal = await foldedJournal(root);
    journal.files["status.bin"] = {
      ...journal.files["status.bin"],
      inFlight: {
        ino: info.ino,
        size: info.size,
        mtimeMs: info.mtime!.getTime(),
        startedMs: Date.now(),
      },
    };
    await Deno.writeTextFile(path, JSON.stringify(journal));
    // The platform holds an upload of that name and size, not one of the journal's: only its
    // bytes tell it from the cut one.
    const result = await pass();
    assert.equal(result.recovered, 0, "the first version is not taken for the second");
    assert.equal(result.uploaded, 1);
    assert.deepEqual(_storedTexts(platform), ["status-v1-aaaa", "status-v2-BBBB"]);
  });
});

Deno.test("30% of uploads refused at random: one pass on the default schedule uploads every file", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    for (let i = 0; i < 100; i++) await write(`f${i}.bin`, `payload ${i}`);
    platform.setFaults({ unavailableRate: 0.3, unavailableCalls: ["FileUpload"] });
    // With 3 tries a file failed one time in 37: some of the 100 nearly every time.
    const result = await pass();
    assert.deepEqual(result.failures, []);
    assert.equal(result.uploaded, 100);
    assert.equal(platform.uploads.completed, 100);
    assert.ok(platform.calls.FileUpload > 100, "some uploads were refused and sent again");
    for (let i = 0; i < 100; i++) assert.equal(await _exists(join(root, `f${i}.bin`)), false);
  });
});

Deno.test("30% of uploads and of listings refused at random: the look for a lost answer is retried, and one pass uploads every file", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    for (let i = 0; i < 100; i++) await write(`f${i}.bin`, `payload ${i}`);
    platform.setFaults({
      unavailableRate: 0.3,
      unavailableCalls: ["FileUpload", "BinaryDataByFilter"],
      unavailableSeed: 7,
    });
    // A small file is sent whole before its refusal comes: whether it was stored is looked up, and
    // that look was tried once (a reviewer: every pass failed, 43 of 200 files left after six).
    const result = await pass();
    assert.deepEqual(result.failures, []);
    assert.equal(result.uploaded, 100);
    assert.equal(platform.items().length, 100, "no second copy");
    for (let i = 0; i < 100; i++) assert.equal(await _exists(join(root, `f${i}.bin`)), false);
  });
});

Deno.test("a platform out of reach stops the pass after three files in a row are given up; every file stays", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    for (let i = 0; i < 40; i++) await write(`f${i}.bin`, `payload ${i}`);
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["FileUpload"] });
    // Both passes on one instant: a file given up backs off for 0.5 to 1 s of the pass's clock, and
    // a loaded machine took longer than that from the first give-up to the next pass.
    const clock = Date.now();
    const result = await pass({}, { concurrency: 2, now: () => clock });
    // Three given up, and the one beside the third; none of the other 36 tried.
    assert.ok(result.failed >= 3 && result.failed <= 4, `failed ${result.failed}`);
    assert.equal(result.uploaded, 0);
    assert.match(
      result.error ?? "",
      /out of reach: 3 files in a row were given up after their tries/,
    );
    assert.ok(platform.calls.FileUpload <= 4 * 8, `calls ${platform.calls.FileUpload}`);
    for (let i = 0; i < 40; i++) assert.equal(await _exists(join(root, `f${i}.bin`)), true);
    // Reachable again: the next pass sends the files not given up at once.
    platform.setFaults({});
    const next = await pass({}, { concurrency: 2, now: () => clock });
    assert.equal(next.error, undefined);
    assert.equal(next.uploaded, 40 - result.failed);
    assert.deepEqual(next.skippedBy, { "backing off": result.failed });
  });
});

Deno.test("transient failures are never given up: retried at most an hour apart, at once by hand", async () => {
  await withPush(async ({ platform, pass, write }) => {
    await write("f.bin", "payload");
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["FileUpload"] });
    const clock = Date.now();
    const at = (minutes: number) => ({ now: () => clock + minutes * 60_000, attempts: 1 });
    // A platform out of reach for a day: the file is tried again and again, never given up.
    let minutes = 0;
    for (let failed = 0; failed < 12; failed++) {
      const calls = platform.calls.FileUpload ?? 0;
      const result = await pass({}, at(minutes));
      assert.equal(platform.calls.FileUpload, calls + 1, `tried at minute ${minutes}`);
      assert.equal(result.failures[0].permanent, false);
      minutes += 61; // past any back-off: at most an hour apart
    }
    const calls = platform.calls.FileUpload;
    const soon = await pass({}, at(minutes - 60)); // a minute after the last failure
    assert.equal(platform.calls.FileUpload, calls, "backing off");
    assert.deepEqual(soon.skippedBy, { "backing off": 1 });
    platform.setFaults({});
    const byHand = await pass({}, { ...at(minutes - 59), retryFailedNow: true });
    assert.equal(byHand.uploaded, 1);
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a file an earlier version gave up after an hour of transient failures is retried", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("f.bin", "payload");
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["FileUpload"] });
    await pass({}, { attempts: 1 });
    platform.setFaults({});
    // The journal as that version left it: permanent, not refused, due long ago.
    const journal = join(root, ".data-mirror", PUSH_JOURNAL_NAME);
    const state = await foldedJournal(root);
    const failure = state.files["f.bin"].failure;
    Object.assign(failure, { permanent: true, refused: false, retryAtMs: 0 });
    failure.error = `gave up after retrying for an hour: ${failure.error}`;
    await Deno.writeTextFile(journal, JSON.stringify(state));
    await Deno.remove(join(root, ".data-mirror", PUSH_JOURNAL_LOG_NAME)).catch(() => {});
    const result = await pass();
    assert.equal(result.uploaded, 1, JSON.stringify(result.failures));
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a permanent refusal is reported with the platform's message and not retried", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("bad.bin", "refused");
    await write("good.bin", "fine");
    platform.setFaults({ refuseUploadFileNames: ["bad.bin"] });
    const first = await pass();
    assert.equal(first.uploaded, 1);
    assert.equal(first.failed, 1);
    assert.match(first.failures[0].error, /file_name "bad\.bin" refused \(injected fault\)/);
    assert.equal(first.failures[0].permanent, true);
    const calls = platform.calls.FileUpload;
    const second = await pass({}, { retryFailedNow: true });
    assert.equal(second.failed, 1);
    assert.equal(platform.calls.FileUpload, calls, "a refusal waits for the file to change");
    assert.equal(await Deno.readTextFile(join(root, "bad.bin")), "refused");
  });
});

Deno.test("symlinks are never followed, uploaded or deleted; a push folder that is a link is refused", async () => {
  await withPush(async ({ platform, home, root, pass, write, config, uploader, logger }) => {
    const outside = await Deno.makeTempDir({ prefix: "data-mirror-outside-" });
    try {
      await Deno.writeTextFile(join(outside, "secret.key"), "do not upload");
      await Deno.mkdir(join(outside, "dir"));
      await Deno.writeTextFile(join(outside, "dir", "inner.txt"), "nor this");
      await Deno.symlink(join(outside, "secret.key"), join(root, "key-link"));
      await Deno.symlink(join(outside, "dir"), join(root, "dir-link"));
      await write("real.txt", "ok");
      const result = await pass();
      assert.equal(result.uploaded, 1);
      assert.deepEqual(result.skippedBy, { symlink: 2 });
      assert.deepEqual(platform.items().map((i) => i.fileName), ["real.txt"]);
      assert.equal((await Deno.lstat(join(root, "key-link"))).isSymlink, true);
      assert.equal(await Deno.readTextFile(join(outside, "secret.key")), "do not upload");
      assert.equal(await Deno.readTextFile(join(outside, "dir", "inner.txt")), "nor this");

      // A push folder that is itself a link out of .viam.
      const linked = join(home, "linked-outbox");
      await Deno.symlink(outside, linked);
      const { runPushPass } = await import("../../src/push/run_push_pass.ts");
      await assert.rejects(
        runPushPass(config({ pushPath: "linked-outbox", pushRoot: linked }), {
          uploader,
          partId: PART_ID,
          appUrl: platform.url,
        }, { logger }),
        /push folder linked-outbox .* is a symlink/,
      );
      assert.equal(await Deno.readTextFile(join(outside, "secret.key")), "do not upload");
      assert.equal(await _exists(join(outside, ".data-mirror")), false);
      assert.equal(platform.items().length, 1);
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("an upload stored that the journal cannot record fails the pass counted as sent, and is not sent again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("first.bin", "first");
    assert.equal((await pass()).uploaded, 1); // the journal and its log exist
    await write("j.bin", randomBytes(256 * 1024));
    const state = join(root, ".data-mirror");
    const immutable = (on: boolean) =>
      new Deno.Command("chattr", {
        args: [on ? "+i" : "-i", join(state, PUSH_JOURNAL_LOG_NAME), state],
      }).output();
    // The journal's disk refusing writes while the file goes out (a disk turned read-only would).
    let chunks = 0;
    try {
      const failed = await pass(undefined, {
        beforeChunk: async () => {
          if (++chunks === 2) assert.ok((await immutable(true)).success, "chattr +i");
        },
      }).then(() => undefined, (error) => error);
      assert.match(String(failed), /could not record an upload the platform stored as /);
      const partial = partialPushOf(failed);
      assert.equal(partial?.uploaded, 1, "counted as sent: the platform holds it");
      assert.equal(partial?.bytes, 256 * 1024);
    } finally {
      await immutable(false);
    }
    assert.equal(platform.items().filter((i) => i.fileName === "j.bin").length, 1);
    const next = await pass();
    assert.equal(next.recovered, 1, "found stored, not sent again");
    assert.equal(platform.items().filter((i) => i.fileName === "j.bin").length, 1);
  });
});

Deno.test("a file changed while it is sent is not stored and not deleted; it goes next pass", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("growing.log", randomBytes(256 * 1024));
    // Appended to while its second chunk goes out (ordered by the stream, not timed).
    let chunks = 0;
    const result = await pass(undefined, {
      beforeChunk: async () => {
        if (++chunks !== 2) return;
        const file = await Deno.open(join(root, "growing.log"), { append: true });
        await file.write(new TextEncoder().encode("more"));
        file.close();
      },
    });
    assert.ok(chunks >= 2, `${chunks} chunk(s)`);
    assert.deepEqual(result.skippedBy, { "changed while sent": 1 });
    assert.equal(result.uploaded, 0);
    assert.equal(platform.uploads.completed, 0);
    assert.equal((await Deno.stat(join(root, "growing.log"))).size, 256 * 1024 + 4);
    const next = await pass();
    assert.equal(next.uploaded, 1);
    assert.equal(platform.items()[0].sizeBytes, 256 * 1024 + 4);
  });
});

/**
 * A file rewritten in place while its second chunk goes out, at the same size, its modification
 * time put back (`touch -r`, as a tool would): not stored, not deleted.
 */
async function _rewrittenWhileSent({ platform, root, pass, write }: PushFixture): Promise<void> {
  {
    const path = join(root, "model.bin");
    await write("model.bin", randomBytes(256 * 1024));
    const { mtime, ctime } = await Deno.stat(path);
    // Deno gives the change time in whole seconds: the rewrite comes in a later one.
    await _pastTheSecondOf(ctime!);
    // Rewritten in place while its second chunk goes out (no truncate: same inode, same size),
    // then `touch -r` as a tool would.
    const rewritten = randomBytes(256 * 1024);
    let chunks = 0;
    const result = await pass(undefined, {
      beforeChunk: async () => {
        if (++chunks !== 2) return;
        const file = await Deno.open(path, { write: true });
        await file.write(rewritten);
        file.close();
        await Deno.utime(path, mtime!, mtime!);
      },
    });
    assert.ok(chunks >= 2, `${chunks} chunk(s)`);
    assert.deepEqual(result.skippedBy, { "changed while sent": 1 });
    assert.equal(platform.uploads.completed, 0, "a mix of the two versions was stored");
    assert.deepEqual(await Deno.readFile(path), rewritten);
  }
}

Deno.test("a same-size rewrite while it is sent, its modification time put back, is caught: not stored, not deleted", () =>
  withPush(_rewrittenWhileSent));

Deno.test({
  // Where the change time is the modification time: only the bytes, hashed again, tell.
  name:
    "on exfat-fuse too, a same-size rewrite while it is sent, its mtime put back, is not stored",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush((fixture) => withExfatFuseAt(fixture.root, () => _rewrittenWhileSent(fixture))),
});

/**
 * Writes `original` at `path` (old enough to go), then runs a pass whose answer the platform holds
 * back while the file is rewritten in place with `rewrite` (from byte 0), its modification time put
 * back; resolves to that pass's result.
 */
async function _rewriteDuringTheAnswer(
  { platform, pass }: PushFixture,
  path: string,
  original: Uint8Array,
  rewrite: Uint8Array,
): Promise<PushResult> {
  await Deno.writeFile(path, original);
  // In whole seconds (exFAT keeps no finer) and older than the pass's minimum age.
  const old = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  await Deno.utime(path, old, old);
  const { mtime, ctime } = await Deno.stat(path);
  await _pastTheSecondOf(ctime!);
  platform.setFaults({ uploadReplyDelayMs: 1500 });
  const passing = pass();
  await pollUntil("the platform stored it", () => platform.uploads.completed === 1);
  const file = await Deno.open(path, { write: true });
  await file.write(rewrite);
  file.close();
  await Deno.utime(path, mtime!, mtime!);
  return await passing;
}

/**
 * The platform holds its answer back while the file sent is rewritten in place, at the same size,
 * its modification time put back: it goes again, never deleted as the version sent.
 */
async function _rewrittenDuringTheAnswer(fixture: PushFixture, folder = ""): Promise<void> {
  const { platform, root, pass } = fixture;
  const name = folder === "" ? "log.txt" : `${folder}/log.txt`;
  const path = join(root, name);
  const text = new TextEncoder();
  const first = await _rewriteDuringTheAnswer(
    fixture,
    path,
    text.encode("VERSION-1 important\n"),
    text.encode("VERSION-2 critical!\n"),
  );
  assert.equal(first.uploaded, 1);
  assert.equal(first.deleted, 0, "VERSION-2 was deleted, never sent");
  assert.equal(await Deno.readTextFile(path), "VERSION-2 critical!\n");
  // The journal no longer names a version the platform holds for this file.
  const journal = await foldedJournal(root);
  assert.equal(journal.files[name].sent, undefined);
  platform.setFaults({});
  const second = await pass();
  assert.equal(second.uploaded, 1, "the rewrite is sent");
  assert.deepEqual(_storedTexts(platform), ["VERSION-1 important\n", "VERSION-2 critical!\n"]);
  assert.equal(await _exists(path), false, "deleted once the platform holds it");
}

Deno.test("a same-size rewrite after its upload, its modification time put back, goes again: never deleted as sent", () =>
  withPush(_rewrittenDuringTheAnswer));

Deno.test({
  // exfat-fuse reports the modification time as the change time: put back, it is no guard there.
  name: "on exfat-fuse too, a same-size rewrite after its upload, its mtime put back, goes again",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush((fixture) => withExfatFuseAt(fixture.root, () => _rewrittenDuringTheAnswer(fixture))),
});

Deno.test({
  name: "on exfat-fuse mounted in a folder of the push folder, the same: its files compared too",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(async (fixture) => {
      await Deno.mkdir(join(fixture.root, "usb"));
      await withExfatFuseAt(
        join(fixture.root, "usb"),
        () => _rewrittenDuringTheAnswer(fixture, "usb"),
      );
    }),
});

Deno.test({
  name:
    "on exfat-fuse, a file sent and unchanged is deleted (its bytes compared), nothing left aside",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(({ root, pass }) =>
      withExfatFuseAt(root, async () => {
        const path = join(root, "a", "big.bin");
        await Deno.mkdir(join(root, "a"));
        await Deno.writeFile(path, new Uint8Array(300_000).map((_, i) => i * 7));
        const old = new Date(Date.now() - 60_000);
        await Deno.utime(path, old, old);
        // exfat-fuse keeps whole seconds, and every user may write its folders: a folder above a
        // file changed in the second (two) a change now would get is waited for (a flip in it
        // would leave its times as they were), and the step either side (the clock known to a step).
        let result = await pass();
        for (let passes = 1; result.uploaded === 0; passes++) {
          assert.equal(result.skippedBy["folder changing"], 1);
          assert.ok(passes < 12, "sent once the folder's steps are over (some 4 s)");
          await new Promise((resolve) => setTimeout(resolve, 500));
          result = await pass();
        }
        assert.equal(result.uploaded, 1);
        assert.equal(result.deleted, 1);
        assert.equal(await _exists(path), false);
        assert.deepEqual([...Deno.readDirSync(join(root, ".data-mirror", "deleting"))], []);
      })
    ),
});

Deno.test("keep: a same-size rewrite, its modification time put back, goes again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("log.txt", "VERSION-1 important\n");
    assert.equal((await pass({ keep: true })).uploaded, 1);
    await _rewriteSameSize(join(root, "log.txt"), "VERSION-2 critical!\n");
    assert.equal((await pass({ keep: true })).uploaded, 1, "the rewrite is sent");
    assert.deepEqual(_storedTexts(platform), ["VERSION-1 important\n", "VERSION-2 critical!\n"]);
    assert.equal((await pass({ keep: true })).uploaded, 0, "and only once");
  });
});

Deno.test("a file sent, its deletion cut off, then rewritten at its size with its mtime put back, is sent again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("cfg.bin", "VERSION-1");
    // Sent and recorded, not deleted: as a kill between the two leaves it (keep stands in).
    assert.equal((await pass({ keep: true })).uploaded, 1);
    await _rewriteSameSize(join(root, "cfg.bin"), "VERSION-2");
    const result = await pass();
    assert.equal(result.uploaded, 1, "the rewrite is sent");
    assert.equal(result.deleted, 1);
    assert.deepEqual(_storedTexts(platform), ["VERSION-1", "VERSION-2"]);
  });
});

Deno.test("a file whose name no mirror would write back under it is kept, not sent", async () => {
  await withPush(async ({ platform, root, pass, write, logger }) => {
    await write("ok.txt", "goes");
    await write("line\nbreak.txt", "no mirror writes a control character");
    await write("back\\slash.txt", "a mirror would write back/slash.txt");
    const result = await pass();
    assert.equal(result.uploaded, 1);
    assert.deepEqual(result.skippedBy, { "name not mirrored": 2 });
    assert.deepEqual(platform.items().map((i) => i.fileName), ["ok.txt"]);
    assert.equal(await _exists(join(root, "line\nbreak.txt")), true);
    assert.equal(await _exists(join(root, "back\\slash.txt")), true);
    assert.match(
      logger.text(),
      /keeping "back\\\\slash.txt": a mirror would write it as "back\/slash.txt"/,
    );
  });
});

Deno.test("a push folder that is a mirror, or lies in one, is refused before anything is sent", async () => {
  await withPush(async ({ platform, home, root, pass, write }) => {
    await write("a.jpg", "downloaded by a mirror");
    await Deno.mkdir(join(root, ".data-mirror", "partial"), { recursive: true });
    await assert.rejects(
      pass(),
      /push folder outbox \(.*\) is a mirror \(.*partial is its state\)/,
    );
    await Deno.remove(join(root, ".data-mirror"), { recursive: true });
    await Deno.mkdir(join(home, ".data-mirror", "partial"), { recursive: true }); // not a mirror: the home
    await Deno.mkdir(join(root, "cam"));
    await Deno.mkdir(join(root, ".data-mirror", "partial"), { recursive: true });
    await assert.rejects(
      pass({ pushPath: "outbox/cam", pushRoot: join(root, "cam") }),
      /lies inside .*outbox, which is a mirror/,
    );
    assert.equal(platform.calls.FileUpload ?? 0, 0);
    assert.equal(await _exists(join(root, "a.jpg")), true);
  });
});

Deno.test("a push folder inside another push folder is refused: the outer one's pushes send its files", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("top.txt", "t");
    await write("sub/inner.txt", "i");
    assert.equal((await pass({ keep: true })).uploaded, 2);
    await assert.rejects(
      pass({ pushPath: "outbox/sub", pushRoot: join(root, "sub") }),
      /push folder outbox\/sub \(.*\) lies inside .*outbox, which is a push folder/,
    );
    assert.equal(platform.items().length, 2);
    assert.equal(await _exists(join(root, "sub", ".data-mirror")), false, "nothing made");
  });
});

Deno.test("a mirror emptied of its partial folder is still known as one; a push folder is no mirror", async () => {
  await withPush(async ({ platform, home, root, pass, write }) => {
    await write("x.bin", "pushed, then mirrored");
    assert.equal((await pass({ keep: true })).uploaded, 1);
    const sync = (mirrorPath: string) => {
      const { config } = parseConfig({
        app_api_key_id: platform.apiKeyId,
        app_api_key: platform.apiKey,
        app_url: platform.url,
        tags: ["fleet"],
        mirror_path: mirrorPath,
        delete: true,
      }, { env: (name) => (name === "VIAM_HOME" ? home : undefined) });
      const remote = new ViamRemote(config);
      return runPass(config, remote, { logger: new RecordingLogger(), minRetryDelayMs: 1 });
    };
    // A real mirror, then a cleanup that sweeps empty folders (`find -empty -delete`): its record
    // still says it is a mirror.
    assert.equal((await sync("mirrored")).summary.downloaded, 1);
    await Deno.remove(join(home, "mirrored", ".data-mirror", "partial"));
    await assert.rejects(
      pass({ pushPath: "mirrored", pushRoot: join(home, "mirrored") }),
      /push folder mirrored \(.*\) is a mirror \(.*placed is its state\)/,
    );
    // The other way: a sync with delete into the push folder would delete what waits to go.
    await write("waiting.bin", "not sent yet");
    await assert.rejects(sync("outbox"), /mirror_path outbox \(.*\) is a push folder/);
    assert.equal(await Deno.readTextFile(join(root, "waiting.bin")), "not sent yet");
    assert.equal(await Deno.readTextFile(join(root, "x.bin")), "pushed, then mirrored");
    // Also a push folder that never uploaded anything (its files still settling).
    const fresh = join(home, "fresh");
    await Deno.mkdir(fresh);
    await Deno.writeTextFile(join(fresh, "capture.bin"), "settling");
    const settling = await pass({ pushPath: "fresh", pushRoot: fresh, minAgeSeconds: 3600 });
    assert.deepEqual([settling.uploaded, settling.skippedBy], [0, { settling: 1 }]);
    await assert.rejects(sync("fresh"), /mirror_path fresh \(.*\) is a push folder/);
    assert.equal(await Deno.readTextFile(join(fresh, "capture.bin")), "settling");
  });
});

Deno.test("an answer lost after the platform stored the file is found, not sent again", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("ack.bin", "stored, answer lost");
    platform.setFaults({ uploadReplyDelayMs: 60_000 });
    const result = await pass();
    assert.equal(result.uploaded, 1);
    assert.equal(result.recovered, 1);
    assert.equal(platform.uploads.completed, 1);
    assert.equal(platform.items().length, 1);
    assert.equal(await _exists(join(root, "ack.bin")), false);
  }, { callTimeoutMs: 3_000 });
});

Deno.test("keep: a file found stored after a kill counts as uploaded, not as skipped too", async () => {
  await withPush(async (fixture) => {
    const { platform, pass } = fixture;
    // As a run killed after the platform stored it leaves the journal: in flight, no id known.
    await _storedThenCut(fixture, "k.bin", "stored before the kill");
    const result = await pass({ keep: true });
    assert.deepEqual(
      [result.found, result.uploaded, result.recovered, result.skipped],
      [1, 1, 1, 0],
    );
    assert.equal(result.bytes, "stored before the kill".length, "its bytes are on the platform");
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a file stored before a kill is found by its bytes where the platform lists no sizes", async () => {
  await withPush(async (fixture) => {
    const { platform, root, pass } = fixture;
    await _storedThenCut(fixture, "k.bin", "stored before the kill");
    // A listing without file_size_bytes (0): the copy was passed over as of another size, and the
    // file sent again (a fault tester: 1 to 15 copies over 45 of 130 kill points).
    platform.setFaults({ unlistedSizes: true });
    const result = await pass();
    assert.deepEqual([result.uploaded, result.recovered, result.deleted], [1, 1, 1]);
    assert.equal(result.bytes, "stored before the kill".length, "its bytes, not the listed 0");
    assert.equal(platform.items().length, 1, "not sent again");
    assert.equal(await _exists(join(root, "k.bin")), false);
  });
});

Deno.test("a file found stored after a kill and rewritten before the walk goes as a new version, counted once", async () => {
  await withPush(async (fixture) => {
    const { platform, root, pass, logger } = fixture;
    await _storedThenCut(fixture, "w.bin", "stored before the kill");
    // Rewritten right after its bytes were found stored (told in the log), before the walk.
    const hooked = Object.create(logger);
    hooked.info = (message: string, fields?: LogFields) => {
      if (message.includes("not sent again")) {
        Deno.writeTextFileSync(join(root, "w.bin"), "a new version of it");
        const old = new Date(Date.now() - 60_000);
        Deno.utimeSync(join(root, "w.bin"), old, old);
      }
      logger.info(message, fields);
    };
    const result = await pass(undefined, { logger: hooked });
    assert.deepEqual([result.uploaded, result.recovered], [1, 0], "the new version's upload only");
    assert.deepEqual(_storedTexts(platform), ["a new version of it", "stored before the kill"]);
    assert.equal(await _exists(join(root, "w.bin")), false);
  });
});

Deno.test("a file found stored after a kill is not sent again for a chmod or a copy since", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("mode.bin", "stored before the kill");
    await write("copied.bin", "stored before the kill too");
    assert.equal((await pass({ keep: true })).uploaded, 2);
    // As a run killed after the platform stored them leaves the journal.
    await _plantInFlight(root, "mode.bin");
    await _plantInFlight(root, "copied.bin");
    // Then, before the next run, one file's mode changed, and the other was copied back over.
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a change time of another second
    await Deno.chmod(join(root, "mode.bin"), 0o600);
    await Deno.copyFile(join(root, "copied.bin"), join(root, "copied.new"));
    await Deno.rename(join(root, "copied.new"), join(root, "copied.bin"));
    const result = await pass();
    // Their bytes, compared, are those stored: a reviewer's case sent each again (a second copy).
    assert.deepEqual([result.recovered, result.uploaded, result.deleted], [2, 2, 2]);
    assert.equal(platform.items().length, 2);
    assert.equal(await _exists(join(root, "mode.bin")), false);
    assert.equal(await _exists(join(root, "copied.bin")), false);
  });
});

Deno.test({
  name:
    "on exfat-fuse, a file found stored after a kill is deleted by the bytes compared, not sent again",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush((fixture) =>
      withExfatFuseAt(fixture.root, async () => {
        const { platform, root, pass } = fixture;
        await _storedThenCut(fixture, "cam.bin", randomBytes(200_000));
        const found = await pass();
        assert.deepEqual([found.recovered, found.deleted], [1, 1], JSON.stringify(found));
        // Where change times tell nothing, the deletion wanted bytes it was not given: the file
        // stayed, its version was forgotten, and it went again (a reviewer: a copy each kill).
        const next = await pass();
        assert.equal(next.uploaded, 0);
        assert.equal(platform.items().length, 1);
        assert.equal(await _exists(join(root, "cam.bin")), false);
      })
    ),
});

Deno.test({
  name:
    "on exfat-fuse, a deletion a kill cut off goes by the hash the journal kept, not sent again",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(({ platform, root, pass, write }) =>
      withExfatFuseAt(root, async () => {
        const bytes = randomBytes(200_000);
        await write("clip.bin", bytes);
        assert.equal((await pass({ keep: true })).uploaded, 1);
        // As a run killed while it hashed the file to delete it leaves the journal (a reviewer:
        // the hash was the pass's alone, and the next pass sent the file again).
        const journal = await foldedJournal(root);
        const digest = createHash("sha256").update(bytes).digest("hex");
        journal.files["clip.bin"].sent = {
          ...journal.files["clip.bin"].sent,
          kept: false,
          sha256: digest,
        };
        await Deno.writeTextFile(
          join(root, ".data-mirror", PUSH_JOURNAL_NAME),
          JSON.stringify(journal),
        );
        const next = await pass();
        assert.deepEqual([next.uploaded, next.deleted], [0, 1], JSON.stringify(next));
        assert.equal(platform.items().length, 1);
        assert.equal(await _exists(join(root, "clip.bin")), false);
      })
    ),
});

Deno.test({
  name:
    "keep: on exFAT, a version kept while its file was away is not trusted: the file goes again",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(async ({ platform, root, pass, write }) => {
      await Deno.mkdir(join(root, "stick"));
      await withExfatFuseAt(join(root, "stick"), async () => {
        await write("stick/LOG00001.BIN", "A".repeat(4096));
        assert.equal((await pass({ keep: true })).uploaded, 1);
        // As a pass while the card was out leaves the journal: the version sent, marked gone.
        // Meanwhile a logger with a fixed clock may have written another file of that size and
        // those times there (a reviewer's case: never sent), which no inode or change time tells.
        const path = join(root, ".data-mirror", PUSH_JOURNAL_NAME);
        const journal = await foldedJournal(root);
        journal.files["stick/LOG00001.BIN"].goneMs = Date.now() - 60_000;
        await Deno.writeTextFile(path, JSON.stringify(journal));
        // A pass that does not send it (it waits to settle) forgets that version all the same.
        const settling = await pass({ keep: true, minAgeSeconds: 3600 });
        assert.deepEqual([settling.uploaded, settling.skippedBy], [0, { settling: 1 }]);
        const back = await pass({ keep: true });
        assert.equal(back.uploaded, 1, "taken for the version sent");
        assert.equal(platform.items().length, 2);
      });
    }),
});

Deno.test("an upload cut off whose folder is away for the next pass is checked when it is back, not sent again", async () => {
  await withPush(async (fixture) => {
    const { platform, root, home, pass } = fixture;
    // As a run killed after the platform stored it leaves the journal: in flight, no id known.
    await _storedThenCut(fixture, "cam/k.bin", "stored before the kill");
    // The card out for a pass: nothing to compare, so the record waits (it was taken for not
    // stored, and the file sent again on its return: a reviewer's case).
    await Deno.rename(join(root, "cam"), join(home, "away"));
    const away = await pass({ keep: true });
    assert.deepEqual([away.found, away.uploaded, away.error], [0, 0, undefined]);
    await Deno.rename(join(home, "away"), join(root, "cam"));
    const back = await pass({ keep: true });
    assert.deepEqual([back.uploaded, back.recovered], [1, 1]);
    assert.equal(platform.items().length, 1, "sent again");
    // Away for more than 30 days, the record goes (a file removed for good leaves nothing behind
    // that long), and the file, should it come back, is sent again.
    await _plantInFlight(root, "cam/k.bin");
    await Deno.rename(join(root, "cam"), join(home, "away"));
    const later = Date.now() + 31 * 24 * 3600_000;
    await pass({ keep: true }, { now: () => later });
    assert.equal((await foldedJournal(root)).files["cam/k.bin"]?.inFlight, undefined);
    await Deno.rename(join(home, "away"), join(root, "cam"));
    const returned = await pass({ keep: true }, { now: () => later });
    assert.deepEqual([returned.uploaded, returned.recovered], [1, 0]);
  });
});

Deno.test("an upload found stored is taken for the cut one only once its bytes are compared; unreadable, the file waits", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("k.bin", "stored before the kill");
    assert.equal((await pass({ keep: true })).uploaded, 1);
    const plantInFlight = () => _plantInFlight(root, "k.bin");
    // The stored copy cannot be downloaded: nothing is taken for granted, the file waits.
    await plantInFlight();
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["download"] });
    const waiting = await pass({}, { attempts: 1 });
    assert.deepEqual(waiting.skippedBy, { "awaiting check": 1 });
    assert.match(waiting.error ?? "", /cannot check 1 upload\(s\) cut off in an earlier run/);
    assert.equal(await _exists(join(root, "k.bin")), true);
    // Readable, and the same bytes: recovered, then deleted as sent; never sent twice.
    platform.setFaults({});
    const downloads = platform.calls.download;
    const result = await pass();
    assert.equal(result.recovered, 1);
    assert.equal(result.deleted, 1);
    assert.ok(platform.calls.download > downloads, "its bytes were read to compare");
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a stored copy that cannot be read for a day: the file is sent again rather than wait for good", async () => {
  await withPush(async (fixture) => {
    const { platform, pass, logger } = fixture;
    await _storedThenCut(fixture, "d.bin", "stored, never readable");
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["download"] });
    const waiting = await pass({}, { attempts: 1 });
    assert.deepEqual(waiting.skippedBy, { "awaiting check": 1 });
    const dayLater = Date.now() + 25 * 3600_000;
    const resent = await pass({}, { attempts: 1, now: () => dayLater });
    assert.equal(resent.recovered, 0);
    assert.equal(resent.uploaded, 1);
    assert.equal(resent.error, undefined);
    assert.equal(platform.items().length, 2, "a second copy, never a loss");
    assert.match(logger.text(), /d\.bin: a stored copy of it could not be read for a day/);
  });
});

Deno.test("a stored copy that stalls while it is compared leaves the file waiting; a stop ends the wait at once", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("s.bin", randomBytes(4096));
    assert.equal((await pass({ keep: true })).uploaded, 1);
    const plantInFlight = () => _plantInFlight(root, "s.bin");
    // The copy comes a byte a second: quiet for longer than the compare's idle limit.
    await plantInFlight();
    platform.setFaults({ bodyBytesPerSecond: 1 });
    const stalled = await pass({}, { compareIdleMs: 300 });
    assert.deepEqual(stalled.skippedBy, { "awaiting check": 1 });
    assert.match(stalled.error ?? "", /download body incomplete: no data for 300 ms/);
    assert.equal(await _exists(join(root, "s.bin")), true);
    // Stopped while comparing (the idle limit far off): the pass ends now, not in a minute.
    const stop = new AbortController();
    const stopping = pass({}, { signal: stop.signal });
    await pollUntil("the copy is being read", () => platform.calls.download >= 2);
    const stoppedAt = performance.now();
    stop.abort(new Error("stopped"));
    await stopping.catch(() => {});
    assert.ok(performance.now() - stoppedAt < 2000, "the stop ended the comparison");
    assert.equal(await _exists(join(root, "s.bin")), true);
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a stored copy whose body ends before its size is no match and no difference: the file waits", async () => {
  await withPush(async ({ root, write, uploader, config }) => {
    await write("short.bin", "0123456789");
    const { findStoredUpload } = await import("../../src/push/push_file.ts");
    const { PushJournal } = await import("../../src/push/push_journal.ts");
    await Deno.mkdir(join(root, ".data-mirror"));
    const journal = await PushJournal.open(join(root, ".data-mirror"));
    const listed = [{
      binaryDataId: "org/loc/short",
      fileName: "short.bin",
      fileExt: ".bin",
      sizeBytes: 10,
      timeRequestedMs: Date.now(),
      timeReceivedMs: Date.now(),
      tags: ["fleet"],
      uri: "",
    }];
    const halfBody = {
      upload: uploader.upload.bind(uploader),
      listUploads: uploader.listUploads.bind(uploader),
      // A close-delimited body cut halfway ends without an error: only the count tells.
      openStored: () =>
        Promise.resolve(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("01234"));
              controller.close();
            },
          }),
        ),
    };
    await assert.rejects(
      findStoredUpload(
        {
          uploader: halfBody,
          partId: "p",
          journal,
          now: Date.now,
          config: config(),
          attempts: 1,
          minRetryDelayMs: 1,
        },
        "short.bin",
        { size: 10, startedMs: Date.now() },
        listed,
      ),
      /download body incomplete: 5 of 10 bytes of org\/loc\/short/,
    );
  });
});

Deno.test("several files are in flight at once, up to the concurrency", async () => {
  await withPush(async ({ platform, pass, write }) => {
    for (let i = 0; i < 12; i++) await write(`f${i}.bin`, randomBytes(64 * 1024));
    platform.setFaults({ uploadBytesPerSecond: 128 * 1024 });
    const progress: number[] = [];
    let limited = 0;
    const result = await pass({}, {
      concurrency: 4,
      onProgress: (p) => progress.push(p.bytesSent),
      beforeChunk: (bytes) => {
        limited += bytes;
        return Promise.resolve();
      },
    });
    assert.ok(limited >= 12 * 64 * 1024, "every chunk passed the limiter hook");
    assert.equal(result.uploaded, 12);
    assert.equal(platform.uploads.peakConcurrent, 4);
    assert.equal(progress.at(-1), 12 * 64 * 1024);
    assert.ok(progress.every((n, i) => i === 0 || n >= progress[i - 1]), "bytes only grow");
  });
});

Deno.test("a stopped pass resets its streams and leaves every file in place", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("a.bin", randomBytes(512 * 1024));
    platform.setFaults({ uploadBytesPerSecond: 256 * 1024 });
    const controller = new AbortController();
    const progress: PushProgress[] = [];
    const passing = pass({}, { signal: controller.signal, onProgress: (p) => progress.push(p) });
    for (let i = 0; i < 200 && platform.calls.FileUpload === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    controller.abort();
    const result = await passing;
    assert.match(result.error ?? "", /stopped/);
    assert.equal(result.uploaded, 0);
    // The progress line it leaves says nothing went: no file done, its bytes taken back.
    assert.deepEqual(
      { files: progress.at(-1)?.filesDone, bytes: progress.at(-1)?.bytesSent },
      { files: 0, bytes: 0 },
    );
    assert.equal((await Deno.stat(join(root, "a.bin"))).size, 512 * 1024);
    assert.equal(platform.uploads.completed, 0);
    platform.setFaults({});
    assert.equal((await pass()).uploaded, 1);
  });
});

Deno.test("two passes never run at once on one push folder", async () => {
  await withPush(async ({ platform, pass, write }) => {
    await write("slow.bin", randomBytes(128 * 1024));
    platform.setFaults({ uploadBytesPerSecond: 256 * 1024 });
    const first = pass();
    for (let i = 0; i < 200 && platform.calls.FileUpload === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await assert.rejects(pass(), (error) => {
      assert.ok(error instanceof LockedError);
      assert.match(error.message, /^push folder is busy: .*lock is held by/);
      return true;
    });
    assert.equal((await first).uploaded, 1);
  });
});

Deno.test("the in-flight check never takes an earlier upload of the same name and size", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("same.bin", "AAAAA");
    assert.equal((await pass()).uploaded, 1);
    // A new file under the same name and size, left in flight by a run killed before its stream
    // reached the platform: the platform holds only the earlier upload.
    await write("same.bin", "BBBBB");
    const info = await Deno.lstat(join(root, "same.bin"));
    const path = join(root, ".data-mirror", PUSH_JOURNAL_NAME);
    const journal = await foldedJournal(root);
    journal.files["same.bin"].inFlight = {
      ino: info.ino,
      size: info.size,
      mtimeMs: info.mtime!.getTime(),
      startedMs: Date.now(),
    };
    // And the clock was set forward by 31 minutes between the two uploads (a Pi's at boot): the
    // earlier one looks older, by our clock, than the platform's time for it says.
    journal.files["same.bin"].uploads[0].ms -= 31 * 60_000;
    await Deno.writeTextFile(path, JSON.stringify(journal));
    // The machine is back 31 minutes later with no network yet: the check cannot run, and the
    // pass, which prunes old upload ids, must keep the ones the pending check needs.
    const later = Date.now() + 31 * 60_000;
    platform.setFaults({ unavailableRate: 1, unavailableCalls: ["BinaryDataByFilter"] });
    const offline = await pass({}, { attempts: 1, now: () => later });
    assert.deepEqual(offline.skippedBy, { "awaiting check": 1 });
    // A pass that leaves files waiting for the check has failed (exit 1), and says why.
    assert.match(offline.error ?? "", /cannot check 1 upload\(s\) cut off in an earlier run/);
    platform.setFaults({});
    const result = await pass({}, { now: () => later + 60_000 });
    assert.equal(result.recovered, 0);
    assert.equal(result.uploaded, 1);
    assert.deepEqual(_storedTexts(platform), ["AAAAA", "BBBBB"]);
  });
});

Deno.test("other programs' areas and special files are not pushed; a folder with an area of its own is named", async () => {
  await withPush(async ({ platform, root, pass, write, logger }) => {
    await write("mine.txt", "x");
    await write("nested/.data-mirror/lock", "");
    await write("nested/theirs.txt", "not ours");
    await write(".data-mirror/stray.txt", "state");
    const fifo = await new Deno.Command("mkfifo", { args: [join(root, "pipe")] }).output();
    assert.equal(fifo.code, 0);
    const result = await pass();
    assert.equal(result.uploaded, 1);
    assert.deepEqual(result.skippedBy, {
      "not a regular file": 1,
      "holds another mirror or push folder": 1,
    });
    assert.deepEqual(platform.items().map((i) => i.fileName), ["mine.txt"]);
    assert.equal(await Deno.readTextFile(join(root, "nested/theirs.txt")), "not ours");
    assert.match(logger.text(), /not pushing "nested": it holds a \.data-mirror folder/);
    // A file of that name (in any spelling a file system folds to it) is no area: its folder goes.
    await write("cam1/.Data-Mirror ", "a note");
    await write("cam1/img.jpg", "capture");
    const again = await pass();
    assert.ok(
      platform.items().some((i) => i.fileName === "cam1/img.jpg"),
      `${JSON.stringify(again)} ${JSON.stringify(platform.items().map((i) => i.fileName))}`,
    );
  });
});

Deno.test("names that are not valid UTF-8 are kept and named, never sent twice or passed over in silence", async () => {
  await withPush(async ({ platform, root, pass, write, logger }) => {
    await write("ok.txt", "fine");
    // Raw bytes: \xff and \xfe are not UTF-8; "a\uFFFD.txt" is, and Deno shows "a\xff.txt" as it.
    const made = await new Deno.Command("bash", {
      args: [
        "-c",
        `cd "$1" && printf 1 > $'a\\xff.txt' && printf 2 > $'a\\xef\\xbf\\xbd.txt' && ` +
        `printf 3 > $'b\\xfe.txt' && mkdir $'d\\xfe' && printf 4 > $'d\\xfe/in.txt'`,
        "-",
        root,
      ],
    }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    const result = await pass();
    assert.equal(result.uploaded, 1);
    assert.deepEqual(platform.items().map((i) => i.fileName), ["ok.txt"]);
    assert.deepEqual(result.skippedBy, { "name not valid UTF-8": 4 });
    assert.equal(
      logger.entries.filter((e) => e.level === "warn" && e.message.includes("not valid UTF-8"))
        .length,
      4,
    );
    // All of them still there.
    const listed = await new Deno.Command("bash", {
      args: ["-c", 'cd "$1" && find . -type f ! -path "./.data-mirror/*" | wc -l', "-", root],
    }).output();
    assert.equal(new TextDecoder().decode(listed.stdout).trim(), "4");
  });
});

Deno.test("dry run reports what would go and changes nothing", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("a.bin", "a");
    await write("sub/b.bin", "b");
    const result = await pass({}, { dryRun: true });
    assert.deepEqual(result.planned?.sort(), ["a.bin", "sub/b.bin"]);
    // Both would be deleted once sent, as a real pass does: counted apart from what was done.
    assert.deepEqual([result.uploaded, result.deleted], [0, 0]);
    assert.deepEqual([result.toUpload, result.toDelete], [2, 2]);
    const kept = await pass({ keep: true }, { dryRun: true });
    assert.deepEqual([kept.toUpload, kept.toDelete], [2, 0], "with keep");
    assert.equal(platform.calls.FileUpload, 0);
    assert.equal(await _exists(join(root, ".data-mirror")), false);
    assert.equal((await readTree(root)).size, 2);
  });
});

Deno.test("a push_path through a symlink that leads out of .viam is refused before anything is made", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-push-ext-" });
  try {
    const home = join(dir, ".viam");
    await Deno.mkdir(home);
    await Deno.mkdir(join(dir, "outside"));
    await Deno.symlink(join(dir, "outside"), join(home, "ext"));
    const push: PushConfig = {
      pushPath: "ext/newdir/outbox",
      pushRoot: join(home, "ext", "newdir", "outbox"),
      tags: [],
      datasetIds: [],
      keep: false,
      minAgeSeconds: 0,
    };
    const uploader = {
      upload: () => Promise.reject(new Error("nothing may be uploaded")),
      listUploads: () => Promise.resolve([]),
      openStored: () => Promise.reject(new Error("nothing may be read")),
    };
    await assert.rejects(
      runPushPass(push, { uploader, partId: "p", appUrl: "http://127.0.0.1:9" }, {
        logger: new RecordingLogger(),
      }),
      /push_path "ext\/newdir\/outbox".*\/ext is a symlink.* from the Viam home to the push folder must be real folders/,
    );
    assert.deepEqual([...Deno.readDirSync(join(dir, "outside"))], [], "outside/newdir not made");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file swapped for a FIFO after the walk is skipped, not waited on forever", async () => {
  await withPush(async (fixture) => {
    const { platform, root } = fixture;
    const { passing } = await _passWithZSwapped(fixture, async (path) => {
      assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success);
    });
    const result = await _within(20_000, "the pass hangs on the FIFO", passing);
    assert.equal(result.uploaded, 1);
    assert.equal(result.failed, 0);
    assert.equal(platform.items().length, 1);
    assert.ok((await Deno.lstat(join(root, "z.bin"))).isFifo, "left alone");
  });
});

Deno.test("a file this machine cannot read is retried on the back-off, not refused for good", async () => {
  await withPush(async (fixture) => {
    const { root } = fixture;
    // z.bin becomes a socket, which no open reads (ENXIO), as no permission (EACCES, which root
    // does not see) or an I/O error.
    let socket: Deno.Listener | undefined;
    const { passing } = await _passWithZSwapped(fixture, (path) => {
      socket = Deno.listen({ transport: "unix", path });
      return Promise.resolve();
    });
    const result = await passing;
    socket?.close();
    assert.equal(result.failed, 1);
    assert.match(result.failures[0].error, /ENXIO/);
    assert.equal(result.failures[0].permanent, false, "a local error is no refusal");
    const journal = await PushJournal.open(join(root, ".data-mirror"));
    assert.deepEqual(
      [journal.get("z.bin")?.failure?.permanent, journal.get("z.bin")?.failure?.refused],
      [false, false],
    );
    await journal.close();
  });
});

Deno.test("a stop ends a push whose platform accepts connections and never answers, without waiting out the sign-in", async () => {
  await withPush(async ({ platform, write, config, logger, pass }) => {
    await write("a.txt", "payload");
    // A black hole: connections are taken and held, no byte is ever answered.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    const appUrl = `http://127.0.0.1:${listener.addr.port}`;
    try {
      await using uploader = new FileUploader({
        env: () => undefined, // http:// on loopback: never through a proxy
        appUrl,
        apiKeyId: platform.apiKeyId,
        apiKey: platform.apiKey,
      });
      const stop = new AbortController();
      setTimeout(() => stop.abort(new Error("stopped by the test")), 300);
      const result = await _within(
        20_000,
        "the stop waited for the sign-in",
        runPushPass(config(), { uploader, partId: PART_ID, appUrl }, {
          logger,
          signal: stop.signal,
        }),
      );
      assert.match(result.error ?? "", /the push pass was stopped/);
      assert.equal(result.uploaded, 0);
      // A stop is the caller's, no fault (a module logged a warning at every reconfiguration).
      const line = logger.entries.find((e) => e.message.startsWith("push of "));
      assert.equal(line?.level, "info", logger.text());
      assert.match(line.message, /the push pass was stopped; files cut off go again/);
      assert.doesNotMatch(logger.text(), /stopped by the test|signal has been aborted/);
    } finally {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of held) conn.close();
    }
    // Cut off, not refused: the next pass sends it (it was held until the file changed).
    const next = await pass();
    assert.equal(next.uploaded, 1, JSON.stringify(next));
  });
});

Deno.test("a stopped push pass in which a file was refused still logs its summary as a warning", async () => {
  // A stop alone is no failure (info); a refusal before it is one, stop or not (a re-reviewer: the
  // summary of such a pass went to info).
  await withPush(async ({ platform, pass, write, logger }) => {
    await write("bad.bin", "refused");
    await write("slow.bin", new Uint8Array(2_000_000));
    platform.setFaults({ refuseUploadFileNames: ["bad.bin"], uploadBytesPerSecond: 200_000 });
    const stop = new AbortController();
    const stopped = pass({}, { signal: stop.signal, concurrency: 2 });
    await pollUntil("bad.bin refused", () => logger.text().includes("upload of bad.bin failed"));
    stop.abort();
    const result = await stopped;
    assert.equal(result.failed, 1);
    const line = logger.entries.find((e) => e.message.startsWith("push of "));
    assert.equal(line?.level, "warn", logger.text());
    assert.match(line.message, /1 failed .*the push pass was stopped/);
  });
});

Deno.test("a file uploaded but not deleted (a read-only folder) is a warning, and stays", async () => {
  await withPush(async ({ root, pass, write, logger }) => {
    await write("ro/a.txt", "payload");
    const ro = join(root, "ro");
    const mount = (...args: string[]) => new Deno.Command("mount", { args }).output();
    assert.ok((await mount("--bind", ro, ro)).success, "mount needs root");
    try {
      assert.ok((await mount("-o", "remount,bind,ro", ro)).success);
      const result = await pass();
      assert.deepEqual([result.uploaded, result.deleted], [1, 0]);
      const line = logger.entries.find((e) => e.message.startsWith("uploaded ro/a.txt"));
      assert.equal(line?.level, "warn", line?.message ?? "no line");
      assert.match(line!.message, /not deleted \(.*[Rr]ead-only.*\); a later pass that finds it/);
      assert.equal(await Deno.readTextFile(join(ro, "a.txt")), "payload");
    } finally {
      await new Deno.Command("umount", { args: [ro] }).output();
    }
  });
});

Deno.test("a file modified before 1970 is sent like any other", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("old.txt", "from a clock that was never set");
    const before1970 = new Date(-1000);
    await Deno.utime(join(root, "old.txt"), before1970, before1970);
    const result = await pass();
    assert.deepEqual([result.uploaded, result.deleted, result.skipped], [1, 1, 0]);
    assert.deepEqual(_storedTexts(platform), ["from a clock that was never set"]);
  });
});

Deno.test("keep turned off: a file kept since its upload goes again before it is deleted (the platform may have dropped it)", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("precious.txt", "only copy");
    assert.equal((await pass({ keep: true })).uploaded, 1);
    // Months later the platform no longer holds it (retention, a clean-up in the app).
    platform.replaceDataset({ items: [], datasets: [] });
    const off = await pass();
    const onPlatform = platform.items().filter((i) => i.fileName === "precious.txt");
    const local = await Deno.readTextFile(join(root, "precious.txt")).catch(() => undefined);
    assert.ok(
      onPlatform.length === 1 || local === "only copy",
      `lost: deleted locally (${JSON.stringify(off)}) and not on the platform`,
    );
    assert.equal(local, undefined, "deleted once sent again");
  });
});

/** Fails when `precious.txt` is gone from `root` and from the platform alike. */
const _assertNotLost = async (
  platform: { items(): readonly { fileName: string }[] },
  root: string,
  what: string,
) => {
  const onPlatform = platform.items().filter((i) => i.fileName.endsWith("precious.txt")).length;
  const local = await Deno.readTextFile(join(root, "precious.txt")).catch(() => undefined);
  assert.ok(
    onPlatform === 1 || local === "only copy",
    `${what}: deleted locally and not on the platform`,
  );
};

Deno.test("keep off, a journal from before the kept flag: a kept file is sent again before it is deleted", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("precious.txt", "only copy");
    assert.equal((await pass({ keep: true })).uploaded, 1);
    // As the version before 1650e52 wrote it: no `kept` on the sent record.
    const state = join(root, ".data-mirror");
    for (const name of ["push-journal.json", "push-journal.log"]) {
      const p = join(state, name);
      const text = await Deno.readTextFile(p).catch(() => undefined);
      if (text !== undefined) await Deno.writeTextFile(p, text.replaceAll(',"kept":true', ""));
    }
    platform.replaceDataset({ items: [], datasets: [] });
    await pass();
    await _assertNotLost(platform, root, "legacy journal");
  });
});

Deno.test("keep off after a deletion cut without keep, then months under keep: sent again before it is deleted", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("d/precious.txt", "only copy");
    const dir = join(root, "d");
    new Deno.Command("chattr", { args: ["+i", dir] }).outputSync(); // its deletion fails
    try {
      const first = await pass();
      assert.equal(first.uploaded, 1);
    } finally {
      new Deno.Command("chattr", { args: ["-i", dir] }).outputSync();
    }
    assert.equal(await Deno.readTextFile(join(dir, "precious.txt")), "only copy", "still here");
    const kept = await pass({ keep: true }); // the user turns keep on: the file stays, for months
    assert.equal(kept.deleted, 0);
    platform.replaceDataset({ items: [], datasets: [] }); // retention drops it
    await pass(); // keep turned off again
    await _assertNotLost(platform, dir, "deletion cut, then kept");
  });
});

// A backlog drained at full speed: every file sent within the last half hour left its upload id in
// the journal (held in memory and parsed at every pass); their number must stay bounded.
Deno.test("the upload ids a drained backlog leaves in the journal are bounded, by count", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("first.bin", "x");
    await pass();
    const journal = await foldedJournal(root);
    for (let i = 0; i < 30_000; i++) {
      journal.files[`gone/${i}.bin`] = {
        uploads: [{ binaryDataId: `id-${i}`, ms: Date.now() - 60_000, seq: 10 + i }],
      };
    }
    await Deno.writeTextFile(
      join(root, ".data-mirror", PUSH_JOURNAL_NAME),
      JSON.stringify(journal),
    );
    await write("next.bin", "y");
    await pass();
    const files = (await foldedJournal(root)).files;
    const ids = Object.values(files).reduce(
      // deno-lint-ignore no-explicit-any
      (n: number, e: any) => n + (e.uploads?.length ?? 0),
      0,
    );
    assert.ok(ids <= 20_000, `${ids} upload ids kept`);
    assert.ok(files["gone/29999.bin"] !== undefined, "the last ones stay");
  });
});

Deno.test("the in-flight check does not take another push folder's upload to other datasets for its own", async () => {
  await withPush(async ({ platform, home, root, pass, write, uploader, logger }) => {
    // A pass of this folder (dataset ds-a) makes its journal; then a run is cut off mid-upload.
    await write("first.txt", "x");
    await pass({ datasetIds: ["ds-a"] });
    const bytes = randomBytes(40_000);
    await write("cal.json", bytes);
    const info = await Deno.lstat(join(root, "cal.json"));
    const journal = await foldedJournal(root);
    const destination = pushDestination({
      appUrl: platform.url,
      partId: PART_ID,
      tags: ["fleet"],
      datasetIds: ["ds-a"],
    });
    journal.files["cal.json"] = {
      inFlight: {
        ino: info.ino,
        size: info.size,
        mtimeMs: info.mtime!.getTime(),
        to: destination,
        startedMs: Date.now(),
      },
    };
    await Deno.writeTextFile(
      join(root, ".data-mirror", PUSH_JOURNAL_NAME),
      JSON.stringify(journal),
    );
    // Another push folder of the part, same tag, dataset ds-b, sends a file of the same name and bytes.
    const other = join(home, "other");
    await plantFile(join(other, "cal.json"), bytes);
    const otherResult = await runPushPass(
      pushConfig(other, { pushPath: "other", datasetIds: ["ds-b"] }),
      { uploader, partId: PART_ID, appUrl: platform.url },
      { logger, minRetryDelayMs: 1 },
    );
    assert.equal(otherResult.uploaded, 1);
    // This folder's next pass must not take that copy (in ds-b only) for its own.
    const result = await pass({ datasetIds: ["ds-a"] });
    assert.equal(result.recovered, 0);
    const inA = platform.items().filter((i) =>
      i.fileName === "cal.json" && i.datasetIds.includes("ds-a")
    );
    assert.equal(inA.length, 1, "cal.json reached dataset ds-a");
  });
});

Deno.test("files given before a folder is found another push folder's (its second read) are not sent", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("keep.bin", "k");
    const x = join(root, "x");
    await Deno.mkdir(join(x, ".data-mirror"), { recursive: true });
    for (let i = 0; i < 10_001; i++) Deno.writeFileSync(join(x, `f${i}`), new Uint8Array([1]));
    // The race: x's scan misses its .data-mirror (made since); the second read, in the file
    // system's order past 10,000 entries, gives x's files before it.
    const result = await withStateDirSeenLate(x, () => pass({}, { dryRun: true }));
    assert.deepEqual(result.planned, ["keep.bin"]);
  });
});

Deno.test("a pass that fails part way says what it had sent and deleted", async () => {
  await withPush(async ({ platform, write, pass }) => {
    for (let i = 0; i < 3; i++) await write(`f${i}.bin`, randomBytes(1000));
    // What reports its progress breaks once a file went (a CLI's stderr gone, say).
    const failure = await pass({}, {
      concurrency: 1,
      onProgress: ({ filesDone }) => {
        if (filesDone >= 1) throw new Error("the progress sink broke");
      },
    }).then(() => undefined, (error) => error);
    assert.ok(failure instanceof Error, "the pass went on");
    const partial = partialPushOf(failure);
    assert.ok(partial !== undefined, `no counts with ${failure}`);
    assert.deepEqual([partial.uploaded, partial.deleted], [1, 1], JSON.stringify(partial));
    assert.equal(platform.items().length, 1);
  });
});

Deno.test("a version renamed over a sent file just before its deletion is kept, not removed unsent", async () => {
  // A writer saving atomically (a temp file renamed over the name) between the push's check that
  // the file is the version sent and its removal by name: the new version, never sent, was removed
  // (on a busy Pi the thread can be preempted between the two). The rename is made to land just
  // before the push's first change at that path.
  await withPush(async ({ platform, root, write, pass }) => {
    await write("a.bin", "version one");
    const v2 = join(root, "..", "v2.tmp");
    await Deno.writeTextFile(v2, "version two, never sent");
    const target = join(root, "a.bin");
    const rename = Deno.renameSync;
    const remove = Deno.removeSync;
    let landed = false;
    const land = (path: string | URL) => {
      if (!landed && String(path) === target) {
        landed = true;
        rename(v2, target);
      }
    };
    Deno.renameSync = (from, to) => (land(from), rename(from, to));
    Deno.removeSync = (path, options) => (land(path), remove(path, options));
    try {
      await pass();
    } finally {
      Deno.renameSync = rename;
      Deno.removeSync = remove;
    }
    assert.ok(landed, "the writer's rename did not land");
    const stored = platform.items().map((item) =>
      new TextDecoder().decode(platform.contentOf(item.binaryDataId))
    );
    assert.deepEqual(stored, ["version one"]);
    assert.equal(
      await Deno.readTextFile(target).catch(() => undefined),
      "version two, never sent",
      "the new version was removed without being sent",
    );
    // The next pass sends it, and deletes it.
    await pass();
    assert.equal(platform.items().length, 2);
    assert.equal(await Deno.readTextFile(target).catch(() => undefined), undefined);
  });
});

Deno.test("a file whose name takes 255 bytes is deleted once sent (its name does not fit after the aside id)", async () => {
  await withPush(async ({ platform, root, write, pass }) => {
    const name = `${"n".repeat(251)}.bin`;
    await write(name, "long name");
    const result = await pass();
    assert.deepEqual([result.uploaded, result.deleted, result.failed], [1, 1, 0]);
    assert.equal(platform.items().length, 1);
    assert.equal(await Deno.stat(join(root, name)).catch(() => undefined), undefined);
  });
});

Deno.test("a symlink at .data-mirror/deleting is refused: a sent file is never moved through it", async () => {
  // The folder the sent file is moved aside into was made by a mkdir that follows a symlink: one
  // planted there (by a writer of the push folder) had every sent file moved out of the folder.
  const outside = await Deno.makeTempDir({ prefix: "data-mirror-outside-" });
  try {
    await withPush(async ({ root, pass, write, logger }) => {
      await write("a.bin", "hello");
      await pass({ keep: true }); // makes the state dir
      await Deno.symlink(outside, join(root, ".data-mirror", "deleting"));
      await write("b.bin", "world");
      const result = await pass();
      // Moved there, the file was outside the folder (and removed from there, it left no trace).
      assert.equal(result.deleted, 0);
      assert.equal(await Deno.readTextFile(join(root, "b.bin")), "world", "kept, not deleted");
      assert.ok(
        logger.entries.some(({ message }) =>
          /must be a plain directory \(found a symlink\)/.test(message)
        ),
      );
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test({
  name:
    "on a nearly full exfat-fuse stick, a rewrite found at deletion goes back by name when no copy fits",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush((fixture) =>
      withExfatFuseAt(fixture.root, async () => {
        const { root } = fixture;
        const path = join(root, "big.bin");
        const size = 10 * 1024 * 1024; // of a 16 MiB stick: no room for a second copy
        const first = await _rewriteDuringTheAnswer(
          fixture,
          path,
          new Uint8Array(size).fill(1),
          new Uint8Array(4096).fill(2), // rewritten in place, same size
        );
        assert.equal(first.deleted, 0, "the rewrite was deleted, never sent");
        assert.equal((await Deno.stat(path)).size, size, "the rewrite is not at its name");
        const aside = join(root, ".data-mirror", "deleting");
        assert.equal(await _exists(aside) ? [...Deno.readDirSync(aside)].length : 0, 0);
      })
    ),
});

Deno.test(
  "on exfat-fuse a push through another spelling of its folder is refused as busy while a push through the folder holds its lock",
  {
    ignore: !EXFAT_FUSE_USABLE,
  },
  async () => {
    // exfat-fuse makes a node, and a lock, of its own for each spelling of one folder: two pushes at
    // once sent the same files twice.
    await withPush(async ({ home, pass }) => {
      const usb = join(home, "usb");
      await Deno.mkdir(usb);
      await withExfatFuseAt(usb, async () => {
        await Deno.mkdir(join(usb, "out"));
        const held = await acquireMirrorLock(await ensureStateDir(join(usb, "out")));
        try {
          await assert.rejects(
            pass({ pushPath: "usb/OUT", pushRoot: join(usb, "OUT") }),
            LockedError,
          );
        } finally {
          await held.release();
        }
      });
    });
  },
);

Deno.test("an answer lost after the platform stored the file is found on a robot whose clock is a day behind", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("ack.bin", "stored, answer lost", 86_400 * 2);
    platform.setFaults({ uploadReplyDelayMs: 60_000 });
    // Not yet set by NTP: the platform stamps the upload a day later than this clock says.
    const result = await pass({}, { now: () => Date.now() - 86_400_000 });
    assert.equal(result.recovered, 1);
    assert.equal(platform.items().length, 1, "one copy");
    assert.equal(await _exists(join(root, "ack.bin")), false);
  }, { callTimeoutMs: 3_000 });
});

Deno.test({
  name: "on exfat-fuse, a kept file renumbered by the driver (no remount) is not sent again",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    await withPush(async ({ platform, root, pass, write }) => {
      await withExfatFuseAt(root, async () => {
        await write("model.bin", "model weights");
        assert.equal((await pass({ keep: true })).uploaded, 1);
        // As after the kernel evicted its inode: the same file, under a new FUSE node id.
        const journal = await foldedJournal(root);
        journal.files["model.bin"].sent.ino += 1000;
        await Deno.writeTextFile(
          join(root, ".data-mirror", PUSH_JOURNAL_NAME),
          JSON.stringify(journal),
        );
        const again = await pass({ keep: true });
        assert.equal(again.uploaded, 0, "an unchanged kept file was sent again");
        assert.equal(platform.items().length, 1);
        assert.equal((await pass({ keep: true })).uploaded, 0);
      });
    });
  },
});

Deno.test("a state folder another user made, or may write where the push folder may not, is refused: its journal could have a file never sent deleted", async () => {
  await withPush(async ({ root, pass, write }) => {
    await write("cam1/img.jpg", "precious capture");
    await pass({ keep: true, minAgeSeconds: 99_999 }); // makes the state dir, sends nothing
    // A writer of a shared drop folder (mode 777) puts its own state folder in place, its journal
    // saying the capture was sent.
    await Deno.chmod(root, 0o777);
    const state = join(root, ".data-mirror");
    await Deno.rename(state, join(root, ".old-state"));
    await Deno.mkdir(state);
    const file = await Deno.lstat(join(root, "cam1/img.jpg"));
    const forged = {
      ino: file.ino,
      size: file.size,
      mtimeMs: file.mtime!.getTime(),
      binaryDataId: "forged",
      sentMs: 0,
      kept: false,
    };
    await Deno.writeTextFile(
      join(state, "push-journal.json"),
      JSON.stringify({ version: 1, files: { "cam1/img.jpg": { sent: forged } } }),
    );
    const chown = new Deno.Command("chown", { args: ["-R", "65534", state] }).outputSync();
    assert.ok(chown.success);
    await assert.rejects(pass(), /state folder .* is owned by user 65534, not by root, the push/);
    assert.equal(await Deno.readTextFile(join(root, "cam1/img.jpg")), "precious capture");
    // Root's, but opened to everyone where the push folder is not.
    new Deno.Command("chown", { args: ["-R", "0", state] }).outputSync();
    await Deno.chmod(state, 0o777);
    await Deno.chmod(root, 0o755);
    await assert.rejects(pass(), /may be written by other users than its owner/);
    assert.equal(await Deno.readTextFile(join(root, "cam1/img.jpg")), "precious capture");
    // The folder root's and closed again, the forged journal another user's (swapped in after the
    // folder was looked at): refused where it is opened.
    await Deno.chmod(state, 0o755);
    new Deno.Command("chown", { args: ["65534", join(state, "push-journal.json")] }).outputSync();
    await assert.rejects(
      pass(),
      /push journal .* is owned by user 65534, none of root, the state folder/,
    );
    assert.equal(await Deno.readTextFile(join(root, "cam1/img.jpg")), "precious capture");
  });
});

Deno.test("a platform that never answers in time: a file's upload is given up after two timeouts, not eight tries, and kept", async () => {
  await withPush(async ({ platform, root, pass, write }) => {
    await write("a.bin", "kept");
    const result = await pass();
    assert.equal(result.uploaded, 0);
    assert.equal(result.failed, 1);
    // Each try signs in first and waits out its timeout there: two tries.
    assert.equal(platform.calls.Authenticate, 2);
    assert.equal(await Deno.readTextFile(join(root, "a.bin")), "kept");
  }, { faults: { latencyMs: 2_000 }, callTimeoutMs: 200 });
});

Deno.test("a platform that never answers: the uploads in flight when it is found out of reach are cut off, not waited out", async () => {
  await withPush(async ({ platform, root, config, uploader, logger, write }) => {
    for (let i = 0; i < 20; i++) await write(`f${i}.bin`, `payload ${i}`);
    const givenUp = () =>
      logger.entries.filter((e) => /^upload of .* failed/.test(e.message)).length;
    let triesAfterOutOfReach = 0;
    const counting: typeof uploader = Object.create(uploader);
    counting.upload = (...args) => {
      if (givenUp() >= 3 && !args[2]?.signal?.aborted) triesAfterOutOfReach++;
      return uploader.upload(...args);
    };
    const result = await runPushPass(config(), {
      uploader: counting,
      partId: PART_ID,
      appUrl: platform.url,
    }, { logger, minRetryDelayMs: 1, concurrency: 16 });
    assert.match(result.error ?? "", /out of reach: 3 files in a row were given up/);
    assert.equal(result.uploaded, 0);
    // Sixteen start and time out twice each; the first two given up let two more start. The third
    // give-up cuts those off at once: before, each went on to wait out its timeouts (a pass of a
    // black hole took twice as long: 241 s against 120 s).
    assert.equal(triesAfterOutOfReach, 0);
    for (let i = 0; i < 20; i++) assert.equal(await _exists(join(root, `f${i}.bin`)), true);
  }, { faults: { latencyMs: 2_000 }, callTimeoutMs: 200 });
});
