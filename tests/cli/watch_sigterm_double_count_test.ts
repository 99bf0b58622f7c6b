// `sync --watch --json`, SIGTERM while the pass's push is a joined push of its own:
// the push's counts come out twice (its own document and the interrupted pass's document).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { spawnProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";
import { WATCH_ENV, WATCH_KEY, watchDocuments, writeWatchConfig } from "./_watch.ts";

Deno.test("SIGTERM during a joined push of its own counts that push once", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ name: "cam", count: 1, tags: ["a"], sizeBytes: 400_000 }]),
    apiKeys: [WATCH_KEY],
  });
  // The sync downloads for ~4 s; the push of its own (started at 1 s) uploads slowly for ~15 s.
  platform.setFaults({ bodyBytesPerSecond: 100_000, uploadBytesPerSecond: 100_000 });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-watch-" });
  try {
    await writeWatchConfig(home, platform.url, { sync_frequency: 1, tags: ["a"] });
    await Deno.writeFile(join(home, "outbox", "big.bin"), new Uint8Array(1_500_000));
    await using program = spawnProgram(
      ["sync", "--config", join(home, "mirror.json"), "--watch", "--json"],
      { viamHome: home, env: WATCH_ENV },
    );
    // The download lands (the sync part ends; the pass joins the push in flight), then SIGTERM.
    await pollUntil("the download landed", async () => {
      const out = await new Deno.Command("find", {
        args: [join(home, "data_mirror"), "-type", "f", "-not", "-path", "*/.data-mirror/*"],
      }).output();
      return new TextDecoder().decode(out.stdout).trim() !== "";
    });
    await new Promise((r) => setTimeout(r, 3000));
    program.kill("SIGTERM");
    const output = await program.done;
    const all = watchDocuments(output.stdout);
    console.log(output.stderr.split("\n").filter((l) => /push|pass/.test(l)).join("\n"));
    console.log(JSON.stringify(all));
    const withPush = all.filter((d) => d.push !== undefined);
    assert.equal(withPush.length, 1, `one push ran; documents carrying it: ${withPush.length}`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
