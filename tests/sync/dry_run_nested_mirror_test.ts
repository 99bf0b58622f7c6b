import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import { dryRunPass } from "../../src/sync/run_pass.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { withMirror } from "./_harness.ts";

Deno.test("a dry run of a new mirror inside another one is refused, as its pass is", async () => {
  await withMirror(
    describeDataset([{ count: 8, tags: ["A"], folder: "b" }, { count: 2, tags: ["B"] }]),
    async ({ pass, config, home, logger }) => {
      const outer = await pass({ tags: ["A"], mirror_path: "a" });
      assert.equal(outer.summary.downloaded, 8);
      const cfg = config({ tags: ["B"], mirror_path: "a/b", delete: true, max_delete: 100 });
      const remote = new ViamRemote({
        appUrl: cfg.appUrl,
        apiKeyId: cfg.apiKeyId,
        apiKey: cfg.apiKey,
      });
      await assert.rejects(
        pass({ tags: ["B"], mirror_path: "a/b", delete: true, max_delete: 100 }),
        /lies inside/,
      );
      await assert.rejects(
        dryRunPass(cfg, remote, { logger }),
        /lies inside/,
        "the dry run said it would delete the outer mirror's files",
      );
      assert.equal((await Array.fromAsync(Deno.readDir(join(home, "a/b")))).length >= 8, true);
    },
  );
});
