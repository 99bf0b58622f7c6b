/**
 * The manifest under SIGKILL: the real program (production permissions) is killed while it writes
 * a new manifest; the manifest in place is then whole, the old one or the new one, and the next
 * run clears what the killed one left.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MANIFEST_PATH } from "../../src/sync/manifest_writer.ts";
import { describeDataset, type ItemGroup, startPlatform } from "../support/platform/mod.ts";
import { runProgram, spawnProgram } from "../_program.ts";

/** Whole lines only: every line parses and the file ends with a newline. */
async function manifestLines(path: string): Promise<number> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"), "a whole last line");
  const lines = text.slice(0, -1).split("\n");
  for (const line of lines) JSON.parse(line);
  return lines.length;
}

Deno.test("SIGKILL while a new manifest is written leaves the old or the new one, whole", async () => {
  const groups: ItemGroup[] = [{ name: "base", count: 6000, sizeBytes: 64, tags: ["t"] }];
  await using platform = await startPlatform({ dataset: describeDataset(groups) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-manifest-kill-" });
  const options = {
    viamHome: home,
    env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
  };
  const args = ["sync", "--app-url", platform.url, "--tags", "t", "--json"];
  const state = join(home, "data_mirror", ".data-mirror");
  const manifest = join(home, "data_mirror", MANIFEST_PATH);
  try {
    const first = await runProgram(args, options);
    assert.equal(first.code, 0, first.stderr);
    let expected = 6000;
    assert.equal(await manifestLines(manifest), expected);
    let caught = 0;
    for (let attempt = 1; attempt <= 3 && caught === 0; attempt++) {
      // New items: this run must write a new manifest.
      groups.push({ name: `more${attempt}`, count: 1500, sizeBytes: 64, tags: ["t"] });
      platform.replaceDataset(describeDataset(groups));
      await using run = spawnProgram(args, options);
      while (!run.exited) {
        const names = [...Deno.readDirSync(state)].map((entry) => entry.name);
        if (names.some((name) => /^\.manifest\.jsonl\..+\.tmp$/.test(name))) {
          run.kill("SIGKILL");
          caught++;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const output = await run.done;
      const lines = await manifestLines(manifest);
      const next = 6000 + 1500 * attempt;
      if (output.signal === "SIGKILL") {
        assert.ok(
          lines === expected || lines === next,
          `${lines} lines: old ${expected}, new ${next}`,
        );
      } else {
        assert.equal(lines, next, "a run that was not killed wrote the new manifest");
      }
      expected = lines;
    }
    assert.ok(caught > 0, "the run was killed while it wrote the manifest");
    // The next run finishes the job and clears the killed run's leftovers.
    const last = await runProgram(args, options);
    assert.equal(last.code, 0, last.stderr);
    assert.equal(await manifestLines(manifest), platform.items().length);
    const leftovers = [...Deno.readDirSync(state)]
      .filter((entry) => entry.name.endsWith(".tmp") || entry.name === "manifest.pending");
    assert.deepEqual(leftovers, []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
