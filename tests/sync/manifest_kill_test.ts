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

/** The platform serving `groups`, a fresh Viam home, and what a `sync` run against them takes. */
async function _setUp(groups: ItemGroup[], prefix: string) {
  const platform = await startPlatform({ dataset: describeDataset(groups) });
  const home = await Deno.makeTempDir({ prefix });
  return {
    platform,
    options: {
      viamHome: home,
      env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
    },
    args: ["sync", "--app-url", platform.url, "--tags", "t", "--json"],
    state: join(home, "data_mirror", ".data-mirror"),
    manifest: join(home, "data_mirror", MANIFEST_PATH),
    async [Symbol.asyncDispose]() {
      await Deno.remove(home, { recursive: true });
      await platform[Symbol.asyncDispose]();
    },
  };
}

Deno.test("SIGKILL while a new manifest is copied leaves the old or the new one, whole", async () => {
  const groups: ItemGroup[] = [
    { name: "base", count: 6000, sizeBytes: 64, tags: ["t"] },
    // Two items on one path: the loser's line is left out, so the manifest is copied from the
    // pending file, not the pending file itself (the test below), and the copy is what is killed.
    { name: "b-dup", count: 1, fileName: "same.bin", sizeBytes: 64, tags: ["t"] },
    { name: "a-dup", count: 1, fileName: "same.bin", sizeBytes: 64, tags: ["t"] },
  ];
  await using setUp = await _setUp(groups, "data-mirror-manifest-kill-");
  const { platform, options, args, state, manifest } = setUp;
  const first = await runProgram(args, options);
  assert.equal(first.code, 0, first.stderr);
  let expected = 6001;
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
    const next = 6001 + 1500 * attempt;
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
  assert.equal(await manifestLines(manifest), platform.items().length - 1);
  const leftovers = [...Deno.readDirSync(state)]
    .filter((entry) => entry.name.endsWith(".tmp") || entry.name === "manifest.pending");
  assert.deepEqual(leftovers, []);
});

Deno.test("SIGKILL right after the pending file became the manifest leaves it whole; the next run is clean", async () => {
  // Every listed item placed, none sharing a path: the pending file holds the manifest's lines
  // and no other, and is renamed into place as it is. The run is killed once that name is gone
  // (while it syncs the folder, records the digest or ends).
  const groups: ItemGroup[] = [{ name: "base", count: 3000, sizeBytes: 64, tags: ["t"] }];
  await using setUp = await _setUp(groups, "data-mirror-manifest-promote-");
  const { platform, options, args, state, manifest } = setUp;
  const pending = join(state, "manifest.pending");
  const first = await runProgram(args, options);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(await manifestLines(manifest), 3000);
  let caught = 0;
  for (let attempt = 1; attempt <= 5 && caught === 0; attempt++) {
    groups.push({ name: `more${attempt}`, count: 500, sizeBytes: 64, tags: ["t"] });
    platform.replaceDataset(describeDataset(groups));
    const next = 3000 + 500 * attempt;
    await using run = spawnProgram(args, options);
    let seenPending = false;
    while (!run.exited) {
      const names = [...Deno.readDirSync(state)].map((entry) => entry.name);
      assert.deepEqual(
        names.filter((name) => /^\.manifest\.jsonl\..+\.tmp$/.test(name)),
        [],
        "no copy is made",
      );
      if (names.includes("manifest.pending")) seenPending = true;
      else if (seenPending) {
        run.kill("SIGKILL");
        caught++;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const output = await run.done;
    // Killed after the rename: the new manifest is in place, whole.
    assert.equal(await manifestLines(manifest), next, `attempt ${attempt}`);
    if (output.signal !== "SIGKILL") assert.equal(output.code, 0, output.stderr);
  }
  assert.ok(caught > 0, "the run was killed after the rename");
  const last = await runProgram(args, options);
  assert.equal(last.code, 0, last.stderr);
  assert.equal(await manifestLines(manifest), platform.items().length);
  assert.equal(await Deno.lstat(pending).catch(() => undefined), undefined);
  const leftovers = [...Deno.readDirSync(state)].filter((entry) => entry.name.endsWith(".tmp"));
  assert.deepEqual(leftovers, []);
});
