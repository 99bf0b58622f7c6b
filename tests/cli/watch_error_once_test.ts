/**
 * `sync --watch` prints each pass's error once (README, The CLI: "Logs, warnings and errors go to
 * stderr, each error once"), also when the error names an attribute, which the CLI words as its
 * flag: the disk of the Viam home unmounted under a running service.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnProgram } from "../_program.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";

Deno.test({
  name: "a watch whose disk dropped out says so once a pass, not twice",
  ignore: Deno.uid() !== 0,
  async fn() {
    await using platform = await startPlatform({
      dataset: describeDataset([{ count: 2, tags: ["t"] }]),
    });
    const dir = await Deno.makeTempDir({ prefix: "dm-watch-error-once-" });
    const disk = join(dir, "disk");
    await Deno.mkdir(disk);
    const mounted = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", disk] })
      .outputSync();
    assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
    let unmounted = false;
    try {
      const config = join(dir, "mirror.json");
      await Deno.writeTextFile(
        config,
        JSON.stringify({ tags: ["t"], sync_frequency: 1, app_url: platform.url }),
      );
      const viamHome = join(disk, ".viam");
      await using program = spawnProgram(["sync", "--watch", "--config", config], {
        viamHome,
        env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
      });
      await program.waitFor("stdout", (text) => text.includes("pass 1:"));
      assert.ok(new Deno.Command("umount", { args: ["-l", disk] }).outputSync().success);
      unmounted = true;
      await program.waitFor("stdout", (text) => text.includes("pass 3:"));
      program.kill("SIGTERM");
      const output = await program.done;
      assert.equal(output.code, 0, output.stderr);
      const passLines = output.stdout.split("\n").filter((line) => /^pass \d+: /.test(line));
      const failed = passLines.length - 1;
      // Each failed pass's own line says it failed, the first (clean) one does not.
      assert.ok(!passLines[0].includes("; failed: "), passLines[0]);
      for (const line of passLines.slice(1)) assert.match(line, /; failed: .*another file system/);
      const said = output.stderr.split("\n").filter((line) => line.includes("another file system"));
      assert.ok(failed >= 2, output.stdout);
      assert.equal(said.length, failed, said.join("\n"));
      assert.deepEqual([...Deno.readDirSync(disk)], [], "nothing made on the folder below");
    } finally {
      if (!unmounted) new Deno.Command("umount", { args: ["-l", disk] }).outputSync();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
