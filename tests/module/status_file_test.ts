import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/config.ts";
import {
  configFingerprint,
  readStatusFile,
  statusFilePath,
  writeStatusFile,
} from "../../src/module/status_file.ts";
import { emptySummary } from "../../src/sync/summary.ts";

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig({ app_api_key_id: "id", app_api_key: "key-1", tags: ["a"], ...extra }, {
    env: (name) => (name === "VIAM_HOME" ? "/home/pi/.viam" : undefined),
  }).config;

Deno.test("a status file round-trips and lives under the module data dir, one per resource", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = statusFilePath(dir, { api: "rdk:service:generic", name: "mirror/1" });
    assert.equal(path, join(dir, "status", "rdk_service_generic--mirror_1.json"));
    assert.equal(await readStatusFile(path), undefined);
    const saved = {
      fingerprint: "f",
      status: { state: "idle" as const, passes: 3, consecutiveFailures: 0 },
    };
    await writeStatusFile(path, saved);
    assert.deepEqual(await readStatusFile(path), saved);
    // What a pass that failed had done (files it deleted) is still told after a restart.
    const failed = {
      fingerprint: "f",
      status: {
        state: "idle" as const,
        passes: 3,
        consecutiveFailures: 1,
        lastError: "EMFILE: too many open files",
        failedPass: { ...emptySummary(), deleted: 3, downloaded: 2 },
      },
    };
    await writeStatusFile(path, failed);
    assert.deepEqual(await readStatusFile(path), failed);
    await Deno.writeTextFile(path, "{ torn");
    assert.equal(await readStatusFile(path), undefined, "an unreadable file is no status");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the config fingerprint changes with any setting, the key included, and never shows it", async () => {
  const base = await configFingerprint(config());
  assert.equal(base, await configFingerprint(config()));
  assert.notEqual(base, await configFingerprint(config({ app_api_key: "key-2" })));
  assert.notEqual(base, await configFingerprint(config({ tags: ["b"] })));
  assert.match(base, /^[0-9a-f]{64}$/);
});

Deno.test("a status file that is a fifo, a link to /dev/zero or huge is no status, and read at once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = statusFilePath(dir, { api: "rdk:service:generic", name: "m1" });
    await writeStatusFile(path, {
      fingerprint: "f",
      status: { state: "idle", passes: 1, consecutiveFailures: 0 },
    });
    const saved = await Deno.readTextFile(path);
    await Deno.remove(path);
    const planted: [string, () => Promise<void>][] = [
      ["a fifo", async () => {
        assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success);
      }],
      ["a link to /dev/zero", () => Deno.symlink("/dev/zero", path)],
      ["a link to a good status", async () => {
        await Deno.writeTextFile(`${path}.elsewhere`, saved);
        await Deno.symlink(`${path}.elsewhere`, path);
      }],
      [
        "100 KiB of status",
        () => Deno.writeTextFile(path, saved.replace("{", `{"x":"${"x".repeat(100 * 1024)}",`)),
      ],
    ];
    for (const [what, plant] of planted) {
      await plant();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const read = await Promise.race([
        readStatusFile(path),
        new Promise((resolve) => timer = setTimeout(() => resolve("hangs"), 5000)),
      ]).finally(() => clearTimeout(timer));
      assert.equal(read, undefined, what);
      await Deno.remove(path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a saved status keeps only the fields the mirror knows, each of its type", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = statusFilePath(dir, { api: "rdk:service:generic", name: "m1" });
    await Deno.mkdir(join(dir, "status"));
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        fingerprint: "f",
        status: {
          state: "idle",
          passes: 1e308,
          consecutiveFailures: "lots",
          lastError: "the listing failed",
          // A time that does not parse: resumed, it stopped the resource (RangeError) for good.
          nextPassAt: "soon",
          junk: "x".repeat(1000),
          lastSummary: { listed: 5, downloaded: 2, extra: { deep: true }, failed: -1 },
          lastPush: { uploaded: 3, error: "refused", found: "many" },
        },
      }),
    );
    const saved = await readStatusFile(path);
    assert.deepEqual(saved?.status, {
      state: "idle",
      passes: 0,
      consecutiveFailures: 0,
      lastError: "the listing failed",
      lastSummary: { ...emptySummary(), listed: 5, downloaded: 2 },
      lastPush: {
        found: 0,
        uploaded: 3,
        skipped: 0,
        deleted: 0,
        failed: 0,
        bytes: 0,
        durationMs: 0,
        error: "refused",
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
