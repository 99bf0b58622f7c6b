// `sync --watch --json`, SIGTERM while the pass's push is a joined push of its own:
// the push's counts come out twice (its own document and the interrupted pass's document).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { spawnProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";

const KEY = { id: "watch-key-id", key: "WATCH-SECRET-0a1b2c3d4e5f" };
const KEY_ENV = { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: KEY.key, VIAM_MACHINE_PART_ID: "part-1" };
// deno-lint-ignore no-explicit-any
function docs(stdout: string): Record<string, any>[] {
  return stdout.split("\n").slice(0, -1).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

Deno.test("SIGTERM during a joined push of its own counts that push once", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ name: "cam", count: 1, tags: ["a"], sizeBytes: 400_000 }]),
    apiKeys: [KEY],
  });
  // The sync downloads for ~4 s; the push of its own (started at 1 s) uploads slowly for ~15 s.
  platform.setFaults({ bodyBytesPerSecond: 100_000, uploadBytesPerSecond: 100_000 });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-watch-" });
  try {
    await Deno.writeTextFile(
      join(home, "mirror.json"),
      JSON.stringify({
        app_url: platform.url,
        sync_frequency: 1,
        tags: ["a"],
        push_path: "outbox",
        push_tags: ["fleet"],
        push_min_age: 0,
      }),
    );
    await Deno.mkdir(join(home, "outbox"));
    await Deno.writeFile(join(home, "outbox", "big.bin"), new Uint8Array(1_500_000));
    await using program = spawnProgram(
      ["sync", "--config", join(home, "mirror.json"), "--watch", "--json"],
      { viamHome: home, env: KEY_ENV },
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
    const all = docs(output.stdout);
    console.log(output.stderr.split("\n").filter((l) => /push|pass/.test(l)).join("\n"));
    console.log(JSON.stringify(all));
    const withPush = all.filter((d) => d.push !== undefined);
    assert.equal(withPush.length, 1, `one push ran; documents carrying it: ${withPush.length}`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
