/** The periodic loop against the local data platform: schedule, joining, backoff, stop. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CommandRefusedError,
  emptyPushSummary,
  type PushSummary,
} from "../src/mirror_controller.ts";
import { MirrorLoop } from "../src/mirror_loop.ts";
import { NOTHING_MATCHED } from "../src/sync/run_pass.ts";
import { ViamRemote } from "../src/remote/viam_remote.ts";
import { describeDataset } from "./support/platform/mod.ts";
import { RecordingLogger, withMirror, writePlaced } from "./sync/_harness.ts";
import { parseConfig } from "../src/config.ts";
import { pushSummary } from "../src/push/push_side.ts";
import { randomBytes, withPush } from "./push/_harness.ts";
import { pollUntil } from "./_poll.ts";

Deno.test("the loop runs a pass at start, then again every sync_frequency seconds", async () => {
  await withMirror(describeDataset([{ count: 3 }]), async ({ config, logger, platform }) => {
    const passes: number[] = [];
    // Below the 1 s floor parseConfig keeps: set directly, so the test stays short.
    const loop = new MirrorLoop({ ...config(), syncFrequencySeconds: 0.05 }, {
      logger,
      onPassEnd: (status) => passes.push(status.passes),
    });
    loop.start();
    await pollUntil("three passes ran", () => passes.length >= 3);
    await loop.stop();
    assert.deepEqual(passes.slice(0, 3), [1, 2, 3]);
    assert.equal(loop.status().state, "stopped");
    assert.equal(loop.status().lastSummary?.skipped, 3);
    assert.ok(platform.calls.BinaryDataByFilter >= 6);
  });
});

Deno.test("a filter matching nothing is warned of once while it holds, again once it recurs", async () => {
  await withMirror(describeDataset([]), async ({ config, logger, platform, root, files }) => {
    const loop = new MirrorLoop(config(), { logger });
    const said = () =>
      logger.entries.filter((entry) => entry.message === NOTHING_MATCHED).map((entry) =>
        entry.level
      );
    await loop.syncNow();
    await loop.syncNow();
    assert.deepEqual(said(), ["warn", "debug"], "said once, then only at debug");
    platform.replaceDataset(describeDataset([{ count: 1 }]));
    await loop.syncNow();
    platform.replaceDataset(describeDataset([]));
    await loop.syncNow(); // emptied by the platform: the mirror holds the file, no warning
    assert.deepEqual(said(), ["warn", "debug"]);
    for (const path of (await files()).keys()) await Deno.remove(join(root, path));
    await loop.syncNow(); // matching nothing again, after a pass that listed: said again
    assert.deepEqual(said(), ["warn", "debug", "warn"]);
    await loop.stop();
  });
});

Deno.test("syncNow joins the pass in flight instead of starting another", async () => {
  await withMirror(describeDataset([{ count: 20 }]), async ({ config, logger, platform }) => {
    platform.setFaults({ latencyMs: 30 });
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), { logger });
    const first = loop.syncNow();
    const second = loop.syncNow();
    assert.equal(first, second);
    assert.equal(loop.status().state, "syncing");
    assert.equal(loop.status().nextPassAt, undefined, "no next pass is due while one runs");
    const summary = await first;
    assert.equal(summary.downloaded, 20);
    // one pass's listing: the count, the two edges of the time span, the page, the empty page,
    // the counts from its last item's millisecond and after it, that millisecond listed again, the
    // count after the listing
    assert.equal(platform.calls.BinaryDataByFilter, 9);
    assert.equal(loop.status().state, "idle");
    assert.ok(loop.status().nextPassAt);
    await loop.stop();
  });
});

Deno.test("dry runs asked at once share one listing; the next one lists again", async () => {
  await withMirror(describeDataset([{ count: 20 }]), async ({ config, logger, platform }) => {
    platform.setFaults({ latencyMs: 30 });
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), { logger });
    const asked = Array.from({ length: 8 }, () => loop.dryRun());
    assert.ok(asked.every((run) => run === asked[0]), "the eight calls got the dry run in flight");
    const reports = await Promise.all(asked);
    assert.equal(reports[0].downloadCount, 20);
    const oneListing = platform.calls.BinaryDataByFilter;
    const again = await loop.dryRun();
    assert.equal(again.downloadCount, 20);
    assert.equal(platform.calls.BinaryDataByFilter, 2 * oneListing, "a later call lists again");
    await loop.stop();
  });
});

Deno.test("push without a push folder, and any command of a stopped loop, are named refusals", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger, platform }) => {
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), { logger });
    const refusal = (reason: string) => (error: unknown) =>
      error instanceof CommandRefusedError && error.reason === reason;
    await assert.rejects(loop.pushNow(), refusal("not-configured"));
    await loop.stop();
    await assert.rejects(loop.syncNow(), refusal("stopped"));
    assert.equal(platform.calls.BinaryDataByFilter ?? 0, 0, "a refused command lists nothing");
  });
});

Deno.test("syncNow's report says what its counts do not: an incomplete listing, a guard", async () => {
  await withMirror(describeDataset([{ count: 12 }]), async ({ config, logger, platform, root }) => {
    const loop = new MirrorLoop(config({ sync_frequency: 3600, delete: true }), {
      logger,
      pass: { attempts: { page: 1, file: 1 } },
    });
    const whole = await loop.syncNow();
    assert.equal(whole.downloaded, 12);
    assert.deepEqual([whole.error, whole.guard, whole.failures], [undefined, undefined, undefined]);
    platform.setFaults({ failListingAfterPage: 0 });
    const cut = await loop.syncNow();
    assert.match(cut.error ?? "", /listing page 1/);
    platform.setFaults({});
    // Thirteen files of the mirror's the platform does not list: more than half of it, held back.
    for (let i = 0; i < 13; i++) await writePlaced(root, `stray-${i}.txt`, "x");
    const held = await loop.syncNow();
    assert.match(held.guard ?? "", /more than max_delete allows/);
    assert.equal(held.error, undefined);
    await loop.stop();
  });
});

Deno.test("failing passes back off with a growing delay shown in the status", async () => {
  await withMirror(describeDataset([{ count: 2 }]), async ({ config, logger, platform }) => {
    platform.setFaults({ failListingAfterPage: 0 });
    const loop = new MirrorLoop(config({ sync_frequency: 1 }), {
      logger,
      random: () => 0.5,
      pass: { attempts: { page: 1 } },
    });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      await loop.syncNow();
      const status = loop.status();
      assert.equal(status.state, "backing_off");
      assert.equal(status.consecutiveFailures, i + 1);
      assert.match(status.lastError ?? "", /listing page 1/);
      delays.push(status.backoffSeconds!);
    }
    assert.deepEqual(delays, [0.8, 1.5, 3, 6]);
    platform.setFaults({});
    await loop.syncNow();
    assert.equal(loop.status().state, "idle");
    assert.equal(loop.status().consecutiveFailures, 0);
    assert.equal(loop.status().backoffSeconds, undefined);
    await loop.stop();
  });
});

Deno.test("a refused key backs off further than other failures", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    const loop = new MirrorLoop(config({ app_api_key: "not-the-key", sync_frequency: 1 }), {
      logger,
      random: () => 0.5,
    });
    await assert.rejects(loop.syncNow());
    assert.equal(loop.status().state, "backing_off");
    assert.equal(loop.status().backoffSeconds, 6);
    assert.ok(!JSON.stringify(loop.status()).includes("not-the-key"));
    await loop.stop();
  });
});

Deno.test("stop cancels a pass in flight without leaving a file under a final name", async () => {
  const dataset = describeDataset([{
    count: 1,
    sizeBytes: 400_000,
    fileName: "slow.bin",
    fileExt: ".bin",
  }]);
  await withMirror(dataset, async ({ config, logger, platform, files }) => {
    platform.setFaults({ bodyBytesPerSecond: 100_000 });
    const cfg = config();
    const loop = new MirrorLoop(cfg, {
      logger,
      createRemote: () =>
        new ViamRemote({ appUrl: cfg.appUrl, apiKeyId: cfg.apiKeyId, apiKey: cfg.apiKey }),
    });
    const pass = loop.syncNow();
    await pollUntil("a download started", () => platform.calls.download > 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await loop.stop();
    await assert.rejects(pass, /the mirror was stopped during the pass/);
    // The log says what the cut pass had done (here: listed one item, placed nothing).
    const cut = (logger as RecordingLogger).entries.find((entry) =>
      entry.message === "pass cancelled: the mirror was stopped"
    );
    assert.deepEqual(
      { listed: cut?.fields?.listed, downloaded: cut?.fields?.downloaded },
      { listed: 1, downloaded: 0 },
    );
    assert.equal((await files()).size, 0);
    assert.equal(loop.status().state, "stopped");
    await assert.rejects(loop.syncNow(), /stopped/);
  }, { inlineLimitBytes: 1024 });
});

Deno.test("a loop resuming a running backoff waits for it; without one it passes at once", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger, platform }) => {
    const resumed = new MirrorLoop(config(), {
      logger,
      resume: {
        state: "backing_off",
        passes: 7,
        consecutiveFailures: 3,
        lastError: "listing page 1: unavailable",
        nextPassAt: new Date(Date.now() + 60_000).toISOString(),
      },
    });
    resumed.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(platform.calls.Authenticate, 0, "no call before the saved backoff ends");
    const status = resumed.status();
    assert.equal(status.state, "backing_off");
    assert.equal(status.passes, 7);
    assert.equal(status.consecutiveFailures, 3);
    assert.ok(Date.parse(status.nextPassAt!) - Date.now() > 50_000);
    await resumed.stop();

    const fresh = new MirrorLoop(config(), {
      logger,
      resume: { state: "idle", passes: 2, consecutiveFailures: 0 },
    });
    fresh.start();
    await pollUntil("the resumed loop ran its first pass", () => fresh.status().passes === 3);
    await fresh.stop();
    assert.equal(fresh.status().lastSummary?.downloaded, 1);
  });
});

Deno.test("a failing item waits on its own delay; the mirror keeps its pace", async () => {
  const dataset = describeDataset([
    { name: "ok", count: 2, sizeBytes: 100 },
    { name: "broken", count: 1, sizeBytes: 50_000, fileName: "broken.bin", fileExt: ".bin" },
  ]);
  await withMirror(dataset, async ({ config, logger, platform }) => {
    platform.setFaults({ dropBodyAfterBytes: 1000 });
    const loop = new MirrorLoop(config({ sync_frequency: 30 }), {
      logger,
      random: () => 0.5,
      pass: { attempts: { file: 1 } },
    });
    const first = await loop.syncNow();
    assert.equal(first.downloaded, 2);
    assert.equal(first.failed, 1);
    let status = loop.status();
    assert.equal(status.state, "idle", "item failures do not back the whole mirror off");
    assert.equal(status.consecutiveFailures, 0);
    assert.equal(status.failingItems, 1);
    assert.match(status.lastError ?? "", /1 item\(s\) failed, e\.g\. broken\.bin/);
    assert.equal(
      Date.parse(status.nextPassAt!) - Date.now() > 25_000,
      true,
      "next pass on schedule",
    );

    platform.resetCalls();
    const second = await loop.syncNow();
    assert.equal(second.failed, 1, "still not mirrored");
    assert.equal(platform.calls.download, 0, "not retried before its delay");
    assert.match(
      loop.status().lastError ?? "",
      /1 item\(s\) failed, e\.g\. broken\.bin: .*\(waits for its next retry\)$/,
    );
    assert.equal(second.failures?.[0]?.path, "broken.bin", "named in the command's answer too");

    await loop.stop();
    status = loop.status();
    assert.equal(status.failingItems, 1);
  }, { inlineLimitBytes: 1024 });
});

Deno.test("a pass held back by the free-space reserve shows as guarded, then idle", async () => {
  await withMirror(describeDataset([{ count: 2, sizeBytes: 100 }]), async ({ config, logger }) => {
    let full = true;
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), {
      logger,
      pass: {
        freeSpace: () => Promise.resolve({ availableBytes: full ? 10 : 1e9, totalBytes: 2e9 }),
      },
    });
    await loop.syncNow();
    assert.equal(loop.status().state, "guarded");
    assert.match(loop.status().guard ?? "", /free-space reserve/);
    full = false;
    const summary = await loop.syncNow();
    assert.equal(summary.downloaded, 2);
    assert.equal(loop.status().state, "idle");
    assert.equal(loop.status().guard, undefined);
    await loop.stop();
  });
});

Deno.test("the push side runs after a failed sync pass, and at its own pace while sync backs off", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    let pushes = 0;
    let running = 0;
    // A refused key fails every sync pass (and backs off for several seconds); the push side,
    // with its own folder and journal, has nothing to do with that.
    const loop = new MirrorLoop(config({ app_api_key: "not-the-key", sync_frequency: 1 }), {
      logger,
      random: () => 0.5,
      push: async () => {
        pushes++;
        running++;
        await new Promise((resolve) => setTimeout(resolve, 300));
        running--;
        return emptyPushSummary();
      },
    });
    await assert.rejects(loop.syncNow());
    assert.equal(pushes, 1, "pushed after the failed pass");
    // The push pass logs its own summary: the loop's line of the same counts is for debugging.
    assert.deepEqual(
      logger.entries.filter((e) => e.message === "push pass done").map((e) => e.level),
      ["debug"],
    );
    assert.ok(loop.status().backoffSeconds! >= 4);
    await pollUntil("pushed again while sync backs off", () => pushes >= 3, { limitMs: 10_000 });
    assert.equal(loop.status().consecutiveFailures, 1, "no sync pass meanwhile");
    await pollUntil("a push of its own is under way", () => running === 1);
    await loop.stop();
    assert.equal(running, 0, "stop waits for the push under way");
    const stopped = pushes;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(pushes, stopped, "no push after stop");
  });
});

Deno.test("a push cut off by stop rejects as aborted; its counts stay in the status", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    // The push pass resolves with its counts and an error when it is stopped: the caller of
    // pushNow (the module's DoCommand) must not take that for a pass that ran.
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), {
      logger,
      push: ({ signal }) =>
        new Promise((resolve) =>
          signal.addEventListener("abort", () =>
            resolve({
              ...emptyPushSummary(),
              found: 1,
              error: "the push pass was stopped; files cut off go again on the next pass",
            }), { once: true })
        ),
    });
    const pushing = loop.pushNow();
    await loop.stop();
    await assert.rejects(pushing, (error: unknown) => (error as Error).name === "AbortError");
    assert.equal(loop.status().lastPush?.found, 1);
    assert.match(loop.status().lastPush?.error ?? "", /stopped/);
  });
});

// A module restarted after the clock stepped back: the saved nextPassAt lies a day ahead, where the
// backoff saved with it was 2 s.
Deno.test("a resumed backoff never waits longer than the backoff it saved", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    const resumed = new MirrorLoop(config(), {
      logger,
      resume: {
        state: "backing_off",
        passes: 1,
        consecutiveFailures: 1,
        backoffSeconds: 2,
        lastError: "listing page 1: unavailable",
        // Saved before the clock was put back by a day.
        nextPassAt: new Date(Date.now() + 86_400_000).toISOString(),
      },
    });
    resumed.start();
    const wait = Date.parse(resumed.status().nextPassAt!) - Date.now();
    await resumed.stop();
    assert.ok(wait <= 2_000, `first pass in ${Math.round(wait / 1000)} s`);
  });
});

Deno.test("a loop resuming a running backoff pushes at its own pace meanwhile", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger, platform }) => {
    let pushes = 0;
    const loop = new MirrorLoop(config({ sync_frequency: 1 }), {
      logger,
      resume: {
        state: "backing_off",
        passes: 7,
        consecutiveFailures: 3,
        backoffSeconds: 600,
        nextPassAt: new Date(Date.now() + 600_000).toISOString(),
      },
      push: _countedPush(() => pushes++),
    });
    loop.start();
    try {
      await pollUntil("pushed while the resumed backoff runs", () => pushes >= 2, {
        limitMs: 10_000,
      });
      assert.equal(platform.calls.Authenticate, 0, "no sync pass before the backoff ends");
    } finally {
      await loop.stop();
    }
  });
});

Deno.test("with the push apart (the module), a stalled push holds neither a sync asked meanwhile nor the next pass", async () => {
  await withMirror(describeDataset([{ count: 2 }]), async ({ config, logger }) => {
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => release = resolve);
    let pushes = 0;
    const loop = new MirrorLoop(config({ sync_frequency: 3600 }), {
      logger,
      pushApart: true,
      push: async () => {
        pushes++;
        await stalled; // an upload on a link that barely moves
        return emptyPushSummary();
      },
    });
    // A pass answered within 5 s, or "held" by the stalled push.
    const answered = () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const held = new Promise<"held">((resolve) =>
        timer = setTimeout(() => resolve("held"), 5_000)
      );
      return Promise.race([loop.syncNow(), held]).finally(() => clearTimeout(timer));
    };
    try {
      const first = await answered();
      assert.notEqual(first, "held", "the pass waited for its stalled push");
      assert.equal(pushes, 1, "the pass's push started");
      // A sync asked while that push still runs is answered by a pass of its own.
      assert.notEqual(await answered(), "held", "the sync waited for the stalled push");
    } finally {
      release();
      await loop.stop();
    }
  });
});

Deno.test("a pass that fails as a whole leaves no guard of an earlier pass in the status", async () => {
  await withMirror(
    describeDataset([{ count: 2, tags: ["a"] }]),
    async ({ config, logger, platform, root }) => {
      const loop = new MirrorLoop(config({ sync_frequency: 3600, delete: true, tags: ["none"] }), {
        logger,
        pass: { attempts: { page: 1, file: 1 } },
      });
      await writePlaced(root, "old.txt", "x");
      const held = await loop.syncNow();
      assert.match(held.guard ?? "", /listing returned no files/);
      assert.equal(loop.status().state, "guarded");
      platform.revokeTokens();
      platform.setFaults({ failListingAfterPage: 0, failListingCode: "unauthenticated" });
      await assert.rejects(loop.syncNow());
      assert.equal(loop.status().state, "backing_off");
      assert.equal(loop.status().guard, undefined, "the failed pass held nothing back");
      await loop.stop();
    },
  );
});

Deno.test("a sync pass longer than the interval does not hold the push side (module and --watch)", async (t) => {
  for (const pushApart of [true, false]) {
    await t.step(pushApart ? "the module's push apart" : "--watch's push after each pass", () =>
      // One 3 MB item at 50 kB/s: the pass downloads for a minute, the interval is 1 s.
      withMirror(
        describeDataset([{ count: 1, sizeBytes: 3_000_000 }]),
        async ({ config, logger, platform }) => {
          platform.setFaults({ bodyBytesPerSecond: 50_000 });
          let pushes = 0;
          const loop = new MirrorLoop(config({ sync_frequency: 1 }), {
            logger,
            pushApart,
            push: _countedPush(() => pushes++),
          });
          loop.start();
          try {
            await pollUntil("pushed while the pass downloads", () => pushes >= 2, {
              limitMs: 8_000,
            });
            assert.ok(loop.passInFlight, "the sync pass still runs");
          } finally {
            await loop.stop();
          }
        },
      ));
  }
});

Deno.test("a pass that fails after its deletes ran says what it deleted, in the status", async () => {
  await withMirror(describeDataset([{ count: 3 }]), async ({ config, pass, root }) => {
    await pass();
    for (let i = 0; i < 4; i++) await writePlaced(root, `stale${i}.txt`, "x");
    // Fails once its deletes ran (EMFILE under a low `ulimit -n`, a leftover it cannot remove).
    const logger = new RecordingLogger();
    logger.debug = (message) => {
      if (message.startsWith("plan, after")) throw new Error("EMFILE: too many open files");
    };
    const loop = new MirrorLoop(config({ sync_frequency: 3600, delete: true }), { logger });
    await assert.rejects(loop.syncNow(), /EMFILE/);
    await loop.stop();
    let gone = 0;
    for (let i = 0; i < 4; i++) await Deno.stat(join(root, `stale${i}.txt`)).catch(() => gone++);
    assert.equal(gone, 4, "the deletes ran");
    assert.equal(loop.status().failedPass?.deleted, 4, JSON.stringify(loop.status()));
  });
});

Deno.test("a push that fails part way keeps what it sent and deleted in the status", async () => {
  await withPush(async ({ write, pass, home, platform }) => {
    for (let i = 0; i < 3; i++) await write(`f${i}.bin`, randomBytes(1000));
    const loop = new MirrorLoop(
      parseConfig({
        app_api_key_id: "id-000000",
        app_api_key: "key-0000000000",
        app_url: platform.url,
        tags: ["t"],
      }, { env: (name) => (name === "VIAM_HOME" ? home : undefined) }).config,
      {
        logger: new RecordingLogger(),
        push: ({ signal }) =>
          pass({}, {
            signal,
            concurrency: 1,
            onProgress: ({ filesDone }) => {
              if (filesDone >= 1) throw new Error("EMFILE: too many open files");
            },
          }).then(pushSummary),
      },
    );
    await assert.rejects(loop.pushNow(), /EMFILE/);
    await loop.stop();
    const pushed = loop.status().lastPush;
    assert.deepEqual([pushed?.uploaded, pushed?.deleted], [1, 1], JSON.stringify(pushed));
  });
});

/** A push side that does nothing but tell each push pass it runs to `count`. */
function _countedPush(count: () => void): () => Promise<PushSummary> {
  return () => {
    count();
    return Promise.resolve(emptyPushSummary());
  };
}

Deno.test("a loop that only pushes, resuming a running backoff, does not push before it ends", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    let pushes = 0;
    const loop = new MirrorLoop({ ...config({ sync_frequency: 1 }), pushOnly: true }, {
      logger,
      resume: {
        state: "backing_off",
        passes: 0,
        consecutiveFailures: 4,
        backoffSeconds: 600,
        nextPassAt: new Date(Date.now() + 600_000).toISOString(),
      },
      push: _countedPush(() => pushes++),
    });
    loop.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      assert.equal(pushes, 0, "pushed during the resumed backoff");
    } finally {
      await loop.stop();
    }
  });
});

Deno.test("a loop that only pushes: a push asked for that goes ends its backoff, and the next pass comes an interval on", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    let refused = true;
    const loop = new MirrorLoop({ ...config({ sync_frequency: 120 }), pushOnly: true }, {
      logger,
      push: () =>
        Promise.resolve(
          refused
            ? { ...emptyPushSummary(), error: "the API key was refused" }
            : { ...emptyPushSummary(), found: 3, uploaded: 3, deleted: 3 },
        ),
    });
    loop.start();
    try {
      await pollUntil("backing off", () => loop.status().state === "backing_off");
      assert.equal(loop.status().lastError, "the API key was refused");
      assert.equal(loop.status().passes, 0, "a push pass failed as a whole is not counted");
      refused = false; // the key fixed; the operator asks for a push (DoCommand)
      assert.equal((await loop.pushNow()).uploaded, 3);
      const status = loop.status();
      assert.equal(status.passes, 1, "its push passes are its passes");
      assert.equal(status.state, "idle");
      assert.equal(status.consecutiveFailures, 0);
      assert.equal(status.lastError, undefined);
      const next = Date.parse(status.nextPassAt!) - Date.now();
      assert.ok(next > 100_000 && next <= 120_000, `next pass in ${next} ms`);
    } finally {
      await loop.stop();
    }
  });
});

Deno.test("a loop that only pushes: a pass finding only files that never go (empty, kept) ends a whole-pass failure", async () => {
  await withMirror(describeDataset([{ count: 1 }]), async ({ config, logger }) => {
    let busy = true;
    const loop = new MirrorLoop({ ...config({ sync_frequency: 120 }), pushOnly: true }, {
      logger,
      push: () =>
        Promise.resolve(
          busy
            ? { ...emptyPushSummary(), error: "push folder is busy" }
            : { ...emptyPushSummary(), found: 1, skipped: 1 }, // an empty log: never uploaded
        ),
    });
    loop.start();
    try {
      await pollUntil("backing off", () => loop.status().state === "backing_off");
      busy = false; // the other push ended
      await loop.pushNow();
      const status = loop.status();
      assert.deepEqual(
        [status.state, status.lastError, status.consecutiveFailures],
        ["idle", undefined, 0],
      );
      // Files that wait on their own delays after the failure still keep it.
      busy = true;
      await loop.pushNow();
      const waiting = { ...emptyPushSummary(), found: 2, skipped: 2, waiting: 2 };
      const held = new MirrorLoop({ ...config({ sync_frequency: 120 }), pushOnly: true }, {
        logger,
        resume: { ...loop.status() },
        push: () => Promise.resolve(waiting),
      });
      await held.pushNow();
      assert.equal(held.status().state, "backing_off");
      await held.stop();
    } finally {
      await loop.stop();
    }
  });
});
