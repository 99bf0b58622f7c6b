/**
 * The tail check (the count after a cursor's last item) finds a listing cut short only when its
 * pages come oldest first. A platform (or a proxy) that ignores `sort_order` and lists newest first
 * leaves what a cut listing missed before its first item, where no count looks: uploads and
 * deletions during the listing then make the totals add up, and the files of the oldest items,
 * which still match, were deleted.
 */
import assert from "node:assert/strict";
import { runPass } from "../../src/sync/run_pass.ts";
import { describeDataset, type ItemRecord } from "../support/platform/mod.ts";
import { withMirror, wrappedRemote } from "./_harness.ts";
import { remoteOf } from "../remote/_remote_of.ts";

Deno.test("a platform that lists newest first, cut short while captures land and listed ones go: nothing that still matches is deleted", async () => {
  const first = describeDataset([{ name: "first", count: 100, folder: "cams", tags: ["t"] }]);
  // New captures, later than every item of the first pass.
  const captures = describeDataset([{ name: "new", count: 20, folder: "new", tags: ["t"] }], {
    startTimeMs: first.items[99].timeRequestedMs + 60_000,
  }).items;
  await withMirror(first, async (fixture) => {
    const { platform } = fixture;
    await fixture.pass({ tags: ["t"], delete: true });
    const before = await fixture.files();
    assert.equal(before.size, 100);
    platform.setFaults({ sortOrderIgnored: true, endListingAfterPage: 1 });
    let items: ItemRecord[] = [...first.items];
    let pages = 0;
    let deleted = false;
    const remote = wrappedRemote(remoteOf(platform), (real) => ({
      listPage: (filter, last, options) => {
        if (options?.pageSize === 1) return real.listPage(filter, last, options);
        if (pages++ === 0) {
          // The captures land before the first page.
          items = [...items, ...captures];
          platform.replaceDataset({ ...first, items });
        } else if (!deleted) {
          // Then retention deletes 20 of those listed (newest first: the newest of the first pass).
          deleted = true;
          const gone = new Set(first.items.slice(80).map((i) => i.binaryDataId));
          items = items.filter((i) => !gone.has(i.binaryDataId));
          platform.replaceDataset({ ...first, items });
        }
        return real.listPage(filter, last, options);
      },
    }));
    const result = await runPass(fixture.config({ tags: ["t"], delete: true }), remote, {
      logger: fixture.logger,
      minRetryDelayMs: 1,
    });
    assert.ok(deleted, "the churn happened");
    const matching = new Set(items.map((i) => i.fileName));
    const after = await fixture.files();
    const lost = [...before.keys()].filter((path) => !after.has(path) && matching.has(path));
    assert.deepEqual(lost, [], fixture.logger.text());
    assert.equal(result.summary.deleted, 0);
    assert.match(result.guard ?? "", /out of order/);
  });
});
