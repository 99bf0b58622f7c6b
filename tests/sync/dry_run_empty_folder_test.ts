import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import { dryRunPass } from "../../src/sync/run_pass.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { withMirror } from "./_harness.ts";

// An empty folder holds no file, so the plan cannot see it: one at an item's path (or a folder
// holding only empty folders) fails the pass's placing of that item, which the dry run says too.
for (const folder of ["p/item-0.jpeg", "p/item-0.jpeg/sub/deeper"]) {
  Deno.test(`a dry run says an item would fail where ${folder} is an empty folder, as its pass does`, async () => {
    await withMirror(
      describeDataset([{ count: 2, tags: ["A"], fileName: (i) => `p/item-${i}.jpeg` }]),
      async ({ pass, config, root, logger }) => {
        await Deno.mkdir(join(root, folder), { recursive: true });
        const cfg = config({ tags: ["A"] });
        const remote = new ViamRemote({
          appUrl: cfg.appUrl,
          apiKeyId: cfg.apiKeyId,
          apiKey: cfg.apiKey,
        });
        const report = await dryRunPass(cfg, remote, { logger });
        const result = await pass({ tags: ["A"] });
        assert.equal(result.summary.failed, 1, "the pass fails the item: a folder is not replaced");
        const errors = logger.entries.filter((e) => e.level === "error");
        assert.deepEqual(errors.map((e) => e.message), ["failed to download p/item-0.jpeg"]);
        assert.deepEqual(report.downloads, ["p/item-1.jpeg"]);
        assert.deepEqual(report.conflicts.map((c) => c.path), ["p/item-0.jpeg"]);
      },
    );
  });
}
