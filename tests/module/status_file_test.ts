import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/config.ts";
import {
  configFingerprint,
  readStatusFile,
  statusFilePath,
  writeStatusFile,
} from "../../src/module/status_file.ts";

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
