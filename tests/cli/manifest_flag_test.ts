/**
 * `--no-manifest`: the real program (production permissions) against the local data platform
 * writes no manifest with it and one without it; commander's implied `manifest: true` never
 * overrides `manifest: false` from a `--config` file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { attributesFromFlags } from "../../src/cli/config_from_flags.ts";
import { MANIFEST_PATH } from "../../src/sync/manifest_writer.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { runProgram } from "../_program.ts";

const noEnv = () => undefined;

Deno.test("only --no-manifest sets the attribute; without it the config file's value holds", () => {
  assert.equal(attributesFromFlags({ manifest: false }, { env: noEnv }).manifest, false);
  // commander gives `manifest: true` whenever --no-manifest is absent: that is no setting.
  assert.equal("manifest" in attributesFromFlags({ manifest: true }, { env: noEnv }), false);
  const fromFile = attributesFromFlags({ manifest: true }, {
    fileAttributes: { manifest: false },
    env: noEnv,
  });
  assert.equal(fromFile.manifest, false);
});

Deno.test("sync --no-manifest mirrors without a manifest; sync writes one, the next run keeps it", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-manifest-cli-" });
  const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
  const sync = (...args: string[]) =>
    runProgram(["sync", "--app-url", platform.url, "--json", ...args], { viamHome: home, env });
  const manifest = join(home, "data_mirror", MANIFEST_PATH);
  try {
    const without = await sync("--no-manifest");
    assert.equal(without.code, 0, without.stderr);
    assert.equal(JSON.parse(without.stdout).downloaded, 3);
    await assert.rejects(Deno.lstat(manifest), Deno.errors.NotFound);

    const withIt = await sync();
    assert.equal(withIt.code, 0, withIt.stderr);
    const lines = (await Deno.readTextFile(manifest)).trimEnd().split("\n");
    assert.deepEqual(
      lines.map((line) => JSON.parse(line).path).sort(),
      ["g0/g0-000000.jpeg", "g0/g0-000001.jpeg", "g0/g0-000002.jpeg"],
    );
    // Another process, the same data: the manifest in place is left alone.
    const written = await Deno.stat(manifest);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a rewrite would show a later mtime
    const again = await sync();
    assert.equal(again.code, 0, again.stderr);
    const after = await Deno.stat(manifest);
    assert.equal(after.ino, written.ino);
    assert.equal(after.mtime?.getTime(), written.mtime?.getTime());
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
