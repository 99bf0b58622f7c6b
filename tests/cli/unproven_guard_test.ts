/**
 * A pass whose listing is not proved whole says so, not that `max_delete` or `allow_delete_all`
 * held its deletes back: that advice (raise it for one pass) is the wrong fix for a platform that
 * cut the listing short, and the operator who followed it met the real reason only then.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram } from "../_program.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { readTree } from "../sync/_harness.ts";

for (
  const { cut, wrongAdvice } of [
    // 30 of 300 listed: 270 would go, over max_delete's half.
    { cut: { endListingAfterPage: 1, maxPageItems: 10 }, wrongAdvice: /max-delete/ },
    // Nothing listed at all: the empty-listing guard's advice.
    { cut: { endListingAfterPage: 0 }, wrongAdvice: /allow-delete-all/ },
  ]
) {
  Deno.test(`sync --delete on a listing cut short (${JSON.stringify(cut)}) is held back as unproven, not by ${wrongAdvice.source}`, async () => {
    const dataset = describeDataset([{ count: 300, tags: ["t"], sizeBytes: 50 }]);
    await using platform = await startPlatform({ dataset });
    const home = await Deno.makeTempDir({ prefix: "data-mirror-unproven-guard-" });
    const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
    const sync = () =>
      runProgram(["sync", "--app-url", platform.url, "--json", "--tags", "t", "--delete"], {
        viamHome: home,
        env,
      });
    try {
      const first = await sync();
      assert.equal(first.code, 0, first.stderr);
      platform.setFaults(cut);
      const held = await sync();
      assert.equal(held.code, 3, held.stderr);
      const summary = JSON.parse(held.stdout);
      assert.equal(summary.deleted, 0);
      assert.match(summary.guard, /the platform counts 300/);
      assert.doesNotMatch(summary.guard, wrongAdvice);
      assert.doesNotMatch(held.stderr, wrongAdvice);
      assert.equal((await readTree(join(home, "data_mirror"))).size, 300);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
}
