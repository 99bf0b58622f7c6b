/**
 * Items with neither a `file_name` nor a `file_ext` are named `<file id>.<the MIME type's
 * extension>`. The MIME table is loaded only when a listing page holds such an item: this runs the
 * real program (production permissions, the narrowed Worker) to show that the late load works
 * there, where reading the package's files after start-up would be refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { runProgram } from "../_program.ts";

Deno.test("the real program names items by their MIME type: id.png, id.jpg, no extension for an unknown type", async () => {
  const types = ["image/png", "image/jpeg", "application/x-unheard-of"];
  await using platform = await startPlatform({
    dataset: describeDataset([
      // Named items first, so that the page with the unnamed ones is not the first to arrive.
      { name: "named", count: 150 },
      {
        name: "raw",
        count: 3,
        naming: "unnamed",
        fileExt: "",
        mimeType: (i) => types[i],
      },
    ]),
  });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-mime-names-" });
  try {
    const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
    const out = await runProgram(
      ["sync", "--app-url", platform.url, "--json", "--mirror-path", "m"],
      { viamHome: home, env },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).downloaded, 153);
    const names: string[] = [];
    for await (const entry of Deno.readDir(join(home, "m"))) {
      if (entry.isFile) names.push(entry.name);
    }
    assert.deepEqual(names.sort(), ["raw-000000.png", "raw-000001.jpg", "raw-000002"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
