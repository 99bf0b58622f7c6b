/**
 * A partial download left by a run as another user (`sudo data-mirror sync` cut off) that the
 * program's user may not write: the real program, without root's override of file modes (CI runs
 * as root), against the local data platform. It must not fail its item on every pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex } from "../../src/sha256_hex.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { runProgram } from "../_program.ts";

Deno.test("a partial download another user left, which this user may not write, is replaced", async () => {
  // Large enough to come by its uri, through a partial.
  const dataset = describeDataset([{ count: 1, sizeBytes: 300_000 }]);
  await using platform = await startPlatform({ dataset });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-foreign-partial-" });
  try {
    const [item] = platform.items();
    const bytes = platform.contentOf(item.binaryDataId);
    const partial = join(home, "data_mirror", ".data-mirror", "partial");
    await Deno.mkdir(partial, { recursive: true });
    const part = join(partial, `${await sha256Hex(item.binaryDataId)}-${bytes.length}.part`);
    await Deno.writeFile(part, bytes.subarray(0, 1000));
    await Deno.chown(part, 65534, 65534);
    await Deno.chmod(part, 0o600);
    const run = await runProgram(["sync", "--app-url", platform.url, "--json"], {
      viamHome: home,
      env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
      fileModesBind: true,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).downloaded, 1, run.stdout);
    assert.match(run.stderr, /replaced the partial download .*which this user may not write/);
    assert.deepEqual(await Deno.readFile(join(home, "data_mirror", item.fileName)), bytes);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
