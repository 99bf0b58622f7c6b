// `sync --watch --json`, a pass whose sync part failed runs its push; SIGTERM during that
// push: the files it had uploaded (and deleted locally) are in no document.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { spawnProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";
import { WATCH_ENV, WATCH_KEY, watchDocuments, writeWatchConfig } from "./_watch.ts";

Deno.test("SIGTERM during the push of a failed pass reports what it uploaded", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ name: "cam", count: 1, tags: ["a"] }]),
    apiKeys: [WATCH_KEY],
  });
  platform.setFaults({
    failListingAfterPage: 0,
    failListingCode: "unauthenticated",
    uploadBytesPerSecond: 100_000,
  });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-fp-" });
  const outbox = join(home, "outbox");
  try {
    await writeWatchConfig(home, platform.url, { sync_frequency: 60, tags: ["a"] });
    for (let i = 0; i < 4; i++) {
      await Deno.writeTextFile(join(outbox, `small${i}.txt`), `small ${i}`);
    }
    await Deno.writeFile(join(outbox, "big.bin"), new Uint8Array(3_000_000));
    await using program = spawnProgram(
      ["sync", "--config", join(home, "mirror.json"), "--watch", "--json"],
      { viamHome: home, env: WATCH_ENV },
    );
    // The small files go (and leave the folder); the big one is under way.
    await pollUntil("small files sent", async () => {
      const names = [];
      for await (const e of Deno.readDir(outbox)) names.push(e.name);
      return !names.some((n) => n.startsWith("small"));
    });
    await new Promise((r) => setTimeout(r, 1000));
    program.kill("SIGTERM");
    const output = await program.done;
    const all = watchDocuments(output.stdout);
    console.log(output.stderr.split("\n").filter((l) => /push|pass/.test(l)).join("\n"));
    console.log(JSON.stringify(all));
    const told = all.reduce((s, d) => s + (d.push?.uploaded ?? 0), 0);
    assert.equal(told, 4, `4 files uploaded and deleted; the documents tell ${told}`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
