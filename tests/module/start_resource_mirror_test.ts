/** A module resource's mirror: status kept across restarts, overlapping mirrors refused. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorRoots, OverlappingMirrorError } from "../../src/module/mirror_roots.ts";
import { startResourceMirror } from "../../src/module/start_resource_mirror.ts";
import { MirrorLocationError } from "../../src/fs/mirror_location.ts";
import { describeDataset, type Platform, startPlatform } from "../support/platform/mod.ts";
import { RecordingLogger } from "../sync/_harness.ts";
import { pollUntil } from "../_poll.ts";

async function withModuleData(
  fn: (ctx: {
    platform: Platform;
    start: (
      extra?: Record<string, unknown>,
      name?: string,
      logger?: RecordingLogger,
    ) => ReturnType<typeof startResourceMirror>;
    roots: MirrorRoots;
    home: string;
  }) => Promise<void>,
): Promise<void> {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-resource-" });
  const roots = new MirrorRoots();
  const start = (
    extra: Record<string, unknown> = {},
    name = "mirror1",
    logger = new RecordingLogger(),
  ) =>
    startResourceMirror(
      {
        name,
        api: "rdk:service:generic",
        attributes: {
          app_api_key_id: platform.apiKeyId,
          app_api_key: platform.apiKey,
          app_url: platform.url,
          sync_frequency: 3600,
          ...extra,
        },
      },
      logger,
      {
        env: (variable) => ({ VIAM_HOME: home, VIAM_MACHINE_PART_ID: "part-1" })[variable],
        moduleData: join(home, "module-data", "local", "data-mirror"),
        roots,
        loop: { random: () => 0.5, pass: { attempts: { page: 1 }, minRetryDelayMs: 1 } },
      },
    );
  try {
    await fn({ platform, start, roots, home });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("a restarted resource with the same config carries on its counts", async () => {
  await withModuleData(async ({ start, platform }) => {
    const first = await start();
    await first.syncNow();
    await first.stop();
    assert.equal(first.status().passes, 1);

    platform.resetCalls();
    const again = await start();
    assert.equal(again.status().passes, 1, "resumed from the saved status");
    assert.equal(again.status().lastSummary?.downloaded, 2);
    const summary = await again.syncNow();
    assert.equal(summary.skipped, 2);
    assert.equal(again.status().passes, 2);
    await again.stop();
  });
});

Deno.test("a restart keeps a running backoff; a changed config starts afresh", async () => {
  await withModuleData(async ({ start, platform }) => {
    platform.setFaults({ failListingAfterPage: 0 });
    const failing = await start();
    await failing.syncNow();
    assert.equal(failing.status().state, "backing_off");
    await failing.stop();

    platform.resetCalls();
    const restarted = await start();
    const status = restarted.status();
    assert.equal(status.state, "backing_off");
    assert.equal(status.consecutiveFailures, 1);
    assert.ok(Date.parse(status.nextPassAt!) > Date.now() + 1000, "next pass after the backoff");
    await restarted.stop();
    assert.equal(platform.calls.BinaryDataByFilter, 0, "no pass before the saved backoff ends");

    // However long the saved backoff, a restart waits a minute at most: a robot rebooted once its
    // network is back syncs soon.
    const long = await start();
    for (let i = 0; i < 6; i++) await long.syncNow();
    assert.equal(long.status().consecutiveFailures, 7);
    assert.ok(Date.parse(long.status().nextPassAt!) > Date.now() + 30 * 60_000, "a long backoff");
    await long.stop();
    const rebooted = await start();
    assert.equal(rebooted.status().consecutiveFailures, 7, "its failures still counted");
    assert.ok(Date.parse(rebooted.status().nextPassAt!) <= Date.now() + 60_000);
    await rebooted.stop();

    platform.setFaults({});
    const changed = await start({ tags: ["new"] });
    assert.equal(changed.status().consecutiveFailures, 0);
    assert.equal(changed.status().passes, 0);
    await changed.stop();
  });
});

Deno.test("a resource whose mirror overlaps another's is refused, naming both, making nothing", async () => {
  await withModuleData(async ({ start, home }) => {
    const outer = await start({ mirror_path: "shared" }, "outer");
    await assert.rejects(start({ mirror_path: "shared/faces" }, "inner"), (error: unknown) => {
      assert.ok(error instanceof OverlappingMirrorError);
      assert.match(
        error.message,
        /shared\/faces overlaps .*shared, used by rdk:service:generic outer/,
      );
      return true;
    });
    // A push folder in it: the message names both attributes, not only mirror_path.
    await assert.rejects(
      start({ mirror_path: "other", push_path: "shared/outbox" }, "pusher"),
      (error: unknown) => {
        assert.ok(error instanceof OverlappingMirrorError);
        assert.match(
          error.message,
          /^folder .*shared\/outbox overlaps .*shared, used by rdk:service:generic outer: .* a push what it uploaded\); give each resource its own mirror_path and push_path, none inside another$/,
        );
        return true;
      },
    );
    // However the same folder is spelt.
    await assert.rejects(start({ mirror_path: "./shared//" }, "again"), OverlappingMirrorError);
    // Refused before anything is made: no folder in the other's mirror, nor one of its own.
    assert.deepEqual(
      [...Deno.readDirSync(join(home, "shared"))].map((e) => e.name)
        .filter((name) => name !== ".data-mirror"),
      [],
    );
    assert.equal(await Deno.lstat(join(home, "other")).then(() => true, () => false), false);
    await outer.stop();
    const inner = await start({ mirror_path: "shared/faces" }, "inner");
    await inner.stop();
  });
});

Deno.test("a resource whose mirror is another's through a symlink is refused too", async () => {
  await withModuleData(async ({ start, home }) => {
    const a = await start({ mirror_path: "a", tags: ["one"], delete: true }, "a");
    await Deno.symlink(join(home, "a"), join(home, "b"));
    await Deno.mkdir(join(home, "c"));
    await Deno.symlink(join(home, "c"), join(home, "c-link"));
    try {
      // b is a: the two would delete each other's files on every pass. Refused as what it is, a
      // symlink on the way to the mirror, as a push folder through it is, and one to a folder no
      // other resource uses (the pass would write into and delete from that folder).
      for (
        const [attributes, name] of [
          [{ mirror_path: "b", tags: ["two"], delete: true }, "b"],
          [{ mirror_path: "m", push_path: "b/outbox" }, "p"],
          [{ mirror_path: "c-link" }, "c"],
        ] as const
      ) {
        await assert.rejects(start(attributes, name), (error: unknown) => {
          assert.ok(error instanceof MirrorLocationError, String(error));
          assert.match(error.message, /is a symlink \(to /);
          return true;
        });
      }
    } finally {
      await a.stop();
    }
  });
});

Deno.test("a config written for the original module, with its empty values for unset, starts", async () => {
  await withModuleData(async ({ start, home }) => {
    const logger = new RecordingLogger();
    const started = await start({ mirror_path: "", dataset_id: "", tags: ["a"] }, "m", logger);
    await started.stop();
    assert.ok((await Deno.stat(join(home, "data_mirror"))).isDirectory, "the default mirror");
    const warned = logger.entries.filter((e) => e.level === "warn").map((e) => e.message);
    assert.ok(warned.some((message) => /^mirror_path "" is taken as unset/.test(message)));
    assert.ok(warned.some((message) => /^dataset_id "" is taken as unset/.test(message)));
  });
});

Deno.test("a push folder the configuration had to make is named in a warning (a misspelt push_path)", async () => {
  await withModuleData(async ({ start, home }) => {
    const logger = new RecordingLogger();
    const made = await start({ push_path: "outbx" }, "mirror1", logger);
    await made.stop();
    const warned = logger.entries.filter((e) =>
      e.level === "warn" && /did not exist/.test(e.message)
    );
    assert.equal(warned.length, 1);
    assert.match(
      warned[0].message,
      new RegExp(`^push folder outbx \\(${join(home, "outbx")}\\) did not exist: made it, empty`),
    );
    assert.match(warned[0].message, /check push_path$/);
    // Existing, it is not mentioned again.
    const again = new RecordingLogger();
    await (await start({ push_path: "outbx" }, "mirror1", again)).stop();
    assert.ok(!again.entries.some((e) => /did not exist/.test(e.message)));
  });
});

Deno.test("a resource with a push folder and nothing to mirror only pushes", async () => {
  await withModuleData(async ({ start, platform, home }) => {
    await Deno.mkdir(join(home, "outbox"));
    await Deno.writeTextFile(join(home, "outbox", "capture.jpg"), "a capture");
    const logger = new RecordingLogger();
    const pusher = await start(
      { push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 },
      "p",
      logger,
    );
    try {
      // Its scheduled passes push; sync and dry_run are refused by name, push runs one.
      await pollUntil("the first push", () => pusher.status().lastPush !== undefined);
      assert.equal(pusher.status().lastPush?.uploaded, 1);
      await assert.rejects(pusher.syncNow(), /only pushes .*nothing to mirror; push runs its pass/);
      await assert.rejects(pusher.dryRun(), /only pushes .*nothing to mirror/);
      assert.equal((await pusher.pushNow()).found, 0);
    } finally {
      await pusher.stop();
    }
    assert.equal(platform.calls.BinaryDataByFilter, 0, "nothing listed");
    assert.deepEqual(
      platform.items().filter((i) => i.tags.includes("fleet")).map((i) => i.fileName),
      [
        "capture.jpg",
      ],
    );
    assert.equal(await Deno.lstat(join(home, "data_mirror")).catch(() => undefined), undefined);
    assert.ok(!logger.text().includes("every binary file"), logger.text());
  });
});

Deno.test("a resource that only pushes, whose pushes fail as a whole (a key refused), says so and backs off", async () => {
  await withModuleData(async ({ start, home }) => {
    // One file refused is that file's failure; several in a row, the pass's (the key, not them).
    await Deno.mkdir(join(home, "outbox"));
    for (const name of ["a", "b", "c", "d", "e"]) {
      await Deno.writeTextFile(join(home, "outbox", `${name}.txt`), "to send");
    }
    const pusher = await start({
      push_path: "outbox",
      push_tags: ["fleet"],
      push_min_age: 0,
      app_api_key: "not-the-key-0123456789",
      sync_frequency: 1,
    });
    try {
      await pollUntil("the first push pass ended", () => pusher.status().lastPush !== undefined);
      const status = pusher.status();
      assert.match(status.lastPush?.error ?? "", /refused/);
      assert.equal(status.state, "backing_off");
      assert.equal(status.consecutiveFailures, 1);
      assert.match(status.lastError ?? "", /refused/);
      assert.ok(status.nextPassAt !== undefined && status.backoffSeconds! > 0);
      assert.equal(await Deno.readTextFile(join(home, "outbox", "a.txt")), "to send");
      // The passes after it, its files waiting on their own delays, send nothing: still failing.
      const seen = new Set<string>();
      const until = Date.now() + 4_000;
      while (Date.now() < until) {
        const { state, lastError } = pusher.status();
        seen.add(`${state}${lastError === undefined ? "" : " with an error"}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual([...seen], ["backing_off with an error"]);
    } finally {
      await pusher.stop();
    }
  });
});

Deno.test("a resource that only pushes, one of whose files is refused, stays on its pace and names the file", async () => {
  await withModuleData(async ({ start, home, platform }) => {
    platform.setFaults({ refuseUploadFileNames: ["bad.txt"] });
    await Deno.mkdir(join(home, "outbox"));
    await Deno.writeTextFile(join(home, "outbox", "bad.txt"), "refused");
    const pusher = await start({ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 });
    try {
      await pollUntil("the first push pass ended", () => pusher.status().lastPush !== undefined);
      const status = pusher.status();
      assert.equal(status.state, "idle");
      assert.equal(status.consecutiveFailures, 0);
      assert.match(
        status.lastError ?? "",
        /^1 file\(s\) not uploaded, e\.g\. bad\.txt: .*invalid_argument/,
      );
    } finally {
      await pusher.stop();
    }
  });
});

Deno.test("the saved status never holds the API key, even when an error quotes it", async () => {
  await withModuleData(async ({ start, platform, home }) => {
    // The key pasted as mirror_path, where a file comes to stand: the pass's error names the path.
    const mirror = await start({ mirror_path: platform.apiKey });
    await mirror.syncNow(); // the first pass (started at once) makes the folder: over before it goes
    await Deno.remove(join(home, platform.apiKey), { recursive: true });
    await Deno.writeTextFile(join(home, platform.apiKey), "not a folder");
    await mirror.syncNow().catch(() => {});
    await mirror.stop();
    assert.ok(mirror.status().lastError !== undefined, "the pass failed");
    const dir = join(home, "module-data", "local", "data-mirror", "status");
    let files = 0;
    for await (const entry of Deno.readDir(dir)) {
      const text = await Deno.readTextFile(join(dir, entry.name));
      assert.ok(!text.includes(platform.apiKey), `${entry.name} holds the key: ${text}`);
      files++;
    }
    assert.equal(files, 1);
  });
});

Deno.test("a push run on demand is saved in the status file, not only a pass's", async () => {
  await withModuleData(async ({ start, home }) => {
    const pusher = await start({ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 });
    await Deno.writeTextFile(join(home, "outbox", "a.txt"), "to send");
    assert.equal((await pusher.pushNow()).uploaded, 1);
    await pusher.stop();
    const dir = join(home, "module-data", "local", "data-mirror", "status");
    const [entry] = await Array.fromAsync(Deno.readDir(dir));
    const saved = JSON.parse(await Deno.readTextFile(join(dir, entry.name)));
    assert.equal(saved.status.lastPush?.uploaded, 1, JSON.stringify(saved));
  });
});

Deno.test("a push's failures say which file and why, in its answer and the status", async () => {
  await withModuleData(async ({ start, home, platform }) => {
    const pusher = await start({ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 });
    try {
      platform.setFaults({ refuseUploadFileNames: ["bad.txt"] });
      await Deno.writeTextFile(join(home, "outbox", "bad.txt"), "refused");
      const pushed = await pusher.pushNow();
      assert.equal(pushed.failed, 1);
      assert.equal(pushed.failures?.[0].path, "bad.txt");
      assert.match(pushed.failures?.[0].error ?? "", /invalid_argument/);
      assert.equal(pusher.status().lastPush?.failures?.[0].path, "bad.txt");
    } finally {
      await pusher.stop();
    }
  });
});
