// a push-only `sync --watch` whose folder holds one file the platform refused (held until
// it changes, counted failed each pass without asking the platform) never ends a standing failure:
// the folder came back, yet every pass repeats "is not a directory" and backs off towards an hour.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { spawnProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";
import { WATCH_ENV, WATCH_KEY, watchDocuments, writeWatchConfig } from "./_watch.ts";

Deno.test("push-only, a held refusal does not keep a failure that ended", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([]),
    apiKeys: [WATCH_KEY],
  });
  platform.setFaults({ refuseUploadFileNames: ["bad.bin"] });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-po-" });
  const outbox = join(home, "outbox");
  try {
    await writeWatchConfig(home, platform.url, { sync_frequency: 1 });
    await Deno.writeTextFile(join(outbox, "bad.bin"), "refused for good");
    await using program = spawnProgram(
      ["sync", "--config", join(home, "mirror.json"), "--watch", "--json"],
      { viamHome: home, env: WATCH_ENV },
    );
    await pollUntil(
      "refused",
      () => watchDocuments(program.stdout()).some((d) => d.push?.failed === 1),
    );
    // The folder goes for a moment (a stick pulled out), then comes back as it was.
    await Deno.rename(outbox, outbox + ".away");
    await Deno.writeTextFile(outbox, "not a folder");
    await pollUntil(
      "the failure",
      () => watchDocuments(program.stdout()).some((d) => /not a directory/.test(d.error ?? "")),
    );
    await Deno.remove(outbox);
    await Deno.rename(outbox + ".away", outbox);
    const n = watchDocuments(program.stdout()).length;
    await new Promise((r) => setTimeout(r, 12_000));
    program.kill("SIGTERM");
    const output = await program.done;
    const after = watchDocuments(output.stdout).slice(n).filter((d) => d.pass !== undefined);
    console.log(after.map((d) => `${d.pass} ${d.push?.failed} ${d.error}`).join("\n"));
    const stale = after.filter((d) => /not a directory/.test(d.error ?? ""));
    assert.equal(
      stale.length,
      0,
      `${stale.length} of ${after.length} passes after the folder came back still say it is not a directory`,
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
