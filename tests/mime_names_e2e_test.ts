/**
 * Items with neither a `file_name` nor a `file_ext` are named `<file id>.<the MIME type's
 * extension>`. The MIME table is loaded only when a listing page holds such an item: this runs the
 * real program (production permissions, the narrowed Worker), as a CLI and as a module, to show
 * that the late load works there, where reading the package's files after start-up would be
 * refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startFaultRig } from "./faults/fault_rig.ts";
import { startModuleProcess } from "./faults/module_process.ts";
import { Sandbox } from "./faults/sandbox.ts";
import { describeDataset, type PlatformDataset, startPlatform } from "./support/platform/mod.ts";
import { runProgram } from "./_program.ts";

const _TYPES = ["image/png", "image/jpeg", "application/x-unheard-of"];
const _EXPECTED = ["raw-000000.png", "raw-000001.jpg", "raw-000002"];

/** 150 named items, then three named only by their MIME type (not on the first page). */
function _dataset(): PlatformDataset {
  return describeDataset([
    { name: "named", count: 150, tags: ["m"] },
    {
      name: "raw",
      count: 3,
      naming: "unnamed",
      fileExt: "",
      mimeType: (i) => _TYPES[i],
      tags: ["m"],
    },
  ]);
}

/** The names of the files directly in `dir`. */
async function _fileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  return names.sort();
}

Deno.test("the real program names items by their MIME type: id.png, id.jpg, no extension for an unknown type", async () => {
  await using platform = await startPlatform({ dataset: _dataset() });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-mime-names-" });
  try {
    const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
    const out = await runProgram(
      ["sync", "--app-url", platform.url, "--json", "--mirror-path", "m"],
      { viamHome: home, env },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).downloaded, 153);
    assert.deepEqual(await _fileNames(join(home, "m")), _EXPECTED);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("the module names items by their MIME type too (its engine loads after the socket listens)", async () => {
  await using rig = await startFaultRig();
  rig.serve(_dataset());
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-mime-module-" });
  await using module = await startModuleProcess(rig, sandbox.home);
  await module.addMirror("mime", { tags: ["m"], mirror_path: "m", sync_frequency: 3600 });
  const summary = await module.command("mime", "sync", 120_000);
  assert.equal(summary.failed, 0, JSON.stringify(summary));
  assert.equal(summary.listed, 153, JSON.stringify(summary));
  assert.deepEqual(await _fileNames(join(sandbox.home, "m")), _EXPECTED);
});
