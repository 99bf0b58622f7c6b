/**
 * Kill -9 at the two instants that matter, with the push pass in a separate process: mid-stream
 * (the platform must not count a cut stream as a file, the next run sends it again), and after the
 * platform stored the file but before the answer reached the program (the next run must find it
 * and not make a second copy; the local file then goes as after any upload).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PushJournal } from "../../src/push/push_journal.ts";
import { runPushPass } from "../../src/push/run_push_pass.ts";
import { FileUploader } from "../../src/remote/file_upload.ts";
import { RecordingLogger } from "../sync/_harness.ts";
import { pollUntil } from "../_poll.ts";
import { type Platform, startPlatform } from "../support/platform/mod.ts";
import { PART_ID, plantFile, randomBytes } from "./_harness.ts";
import { spawnPushChild } from "./_push_child.ts";

interface _Crash {
  platform: Platform;
  root: string;
  start(): ReturnType<typeof spawnPushChild>;
  inFlight(): Promise<string[]>;
}

async function _withCrash(fn: (crash: _Crash) => Promise<void>): Promise<void> {
  await using platform = await startPlatform();
  const home = await Deno.makeTempDir({ prefix: "data-mirror-push-crash-" });
  const root = join(home, "outbox");
  try {
    await fn({
      platform,
      root,
      start: () =>
        spawnPushChild(home, {
          appUrl: platform.url,
          root,
          partId: PART_ID,
          keyId: platform.apiKeyId,
          key: platform.apiKey,
        }),
      inFlight: async () => {
        // Read as the next run reads it (snapshot and log), writing nothing.
        const journal = await PushJournal.open(join(root, ".data-mirror"));
        return journal.paths().filter((path) => journal.get(path)?.inFlight !== undefined);
      },
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("SIGKILL mid-stream: nothing stored, the file intact, the next run sends it once (not taken for another folder's file)", async () => {
  await _withCrash(async ({ platform, root, start, inFlight }) => {
    const bytes = randomBytes(2 * 1024 * 1024);
    await plantFile(join(root, "video/clip.mp4"), bytes);
    platform.setFaults({ uploadBytesPerSecond: 512 * 1024 });
    const child = start();
    await pollUntil(
      "the upload is under way",
      async () => platform.calls.FileUpload > 0 && (await inFlight()).length === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await child.kill();
    await pollUntil("the platform saw the stream cut", () => platform.uploads.cut === 1);
    assert.equal(platform.uploads.completed, 0);
    assert.equal(platform.items().length, 0);
    assert.deepEqual(await Deno.readFile(join(root, "video/clip.mp4")), bytes);

    // Meanwhile another push folder of the same part sends a file of the same name and size under
    // other tags (a second camera): not the cut upload, and never to be taken for it.
    platform.setFaults({});
    const cam2 = join(root, "..", "cam2");
    await plantFile(join(cam2, "video/clip.mp4"), randomBytes(bytes.length));
    {
      await using uploader = new FileUploader({
        env: () => undefined, // http:// on loopback: never through a proxy
        appUrl: platform.url,
        apiKeyId: platform.apiKeyId,
        apiKey: platform.apiKey,
      });
      const config = {
        pushPath: "cam2",
        pushRoot: cam2,
        tags: ["cam2"],
        datasetIds: [],
        keep: false,
        minAgeSeconds: 0,
      };
      const other = await runPushPass(config, { uploader, partId: PART_ID, appUrl: platform.url }, {
        logger: new RecordingLogger(),
      });
      assert.equal(other.uploaded, 1);
    }
    const result = await start().result();
    assert.equal(result.uploaded, 1);
    assert.equal(result.recovered, 0);
    assert.equal(result.deleted, 1);
    const ours = platform.items().filter((item) => !item.tags.includes("cam2"));
    assert.equal(ours.length, 1);
    assert.deepEqual(platform.contentOf(ours[0].binaryDataId), bytes);
    assert.deepEqual(await inFlight(), []);
  });
});

Deno.test("SIGKILL after the platform stored the file, before the answer: no second copy", async () => {
  await _withCrash(async ({ platform, root, start, inFlight }) => {
    await plantFile(join(root, "a.bin"), randomBytes(100_000));
    await plantFile(join(root, "b.bin"), randomBytes(1000));
    platform.setFaults({ uploadReplyDelayMs: 60_000 });
    const child = start();
    await pollUntil("the platform stored both files", async () => {
      if (child.ended) await child.result(); // fails with the child's stderr
      return platform.uploads.completed === 2;
    });
    await child.kill();
    assert.deepEqual((await inFlight()).sort(), ["a.bin", "b.bin"]);
    assert.equal((await Deno.stat(join(root, "a.bin"))).size, 100_000, "the file is still there");

    platform.setFaults({});
    const calls = platform.calls.FileUpload;
    const result = await start().result();
    assert.equal(result.recovered, 2);
    assert.equal(result.uploaded, 2);
    assert.equal(result.deleted, 2);
    assert.equal(platform.calls.FileUpload, calls, "nothing was sent again");
    assert.equal(platform.items().length, 2);
    assert.deepEqual(await inFlight(), []);
    assert.equal(await Deno.lstat(join(root, "a.bin")).then(() => true, () => false), false);
  });
});

Deno.test("a file found stored after a kill and touched since (the same bytes) is not sent again", async () => {
  await _withCrash(async ({ platform, root, start }) => {
    const file = join(root, "a.bin");
    await plantFile(file, randomBytes(50_000));
    platform.setFaults({ uploadReplyDelayMs: 60_000 });
    const child = start();
    await pollUntil("the platform stored the file", async () => {
      if (child.ended) await child.result();
      return platform.uploads.completed === 1;
    });
    await child.kill();
    platform.setFaults({});
    // Its writer touched it since (the same bytes, another time): the bytes compared are those
    // stored, whatever its times say.
    const later = new Date(Date.now() - 60_000);
    await Deno.utime(file, later, later);
    const result = await start().result();
    assert.deepEqual([result.found, result.uploaded, result.recovered], [1, 1, 1]);
    assert.equal(result.bytes, 50_000);
    assert.equal(platform.items().length, 1, "no second copy");
  });
});
