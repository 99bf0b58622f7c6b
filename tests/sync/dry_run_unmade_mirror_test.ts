import assert from "node:assert/strict";
import { describeDataset } from "../support/platform/mod.ts";
import { dryRunPass } from "../../src/sync/run_pass.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { withMirror } from "./_harness.ts";

Deno.test("a dry run of a mirror not made yet inside another one is refused, as its pass is", async () => {
  await withMirror(
    describeDataset([{ count: 3, tags: ["A"] }, { count: 2, tags: ["B"] }]),
    async ({ pass, config, logger }) => {
      await pass({ tags: ["A"], mirror_path: "a" });
      const cfg = config({ tags: ["B"], mirror_path: "a/new" });
      const remote = new ViamRemote({
        appUrl: cfg.appUrl,
        apiKeyId: cfg.apiKeyId,
        apiKey: cfg.apiKey,
      });
      await assert.rejects(
        dryRunPass(cfg, remote, { logger }),
        /lies inside/,
        "the dry run reported downloads its pass refuses",
      );
    },
  );
});
