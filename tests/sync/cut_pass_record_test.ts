/**
 * What a pass cut off (stopped, or failed part way) leaves in the placed record: the passes after
 * it end as if it had run whole. The real engine against the local data platform over HTTP.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { runPass } from "../../src/sync/run_pass.ts";
import type { MirrorConfig } from "../../src/config.ts";
import { describeDataset } from "../support/platform/mod.ts";
import { pollUntil } from "../_poll.ts";
import { inListedOrder, RecordingLogger, withMirror, wrappedRemote } from "./_harness.ts";

function _remote(config: MirrorConfig): ViamRemote {
  return new ViamRemote({
    appUrl: config.appUrl,
    apiKeyId: config.apiKeyId,
    apiKey: config.apiKey,
  });
}

// One item a page; the first is placed before the listing reaches the one that wins its path.
const _SHARED_PATH = [
  { name: "older", fileName: "models/m.bin", sizeBytes: 1000, winner: "models/m.bin" },
  { name: "folder", fileName: "p/a", sizeBytes: 1000, winner: "p/a/b.jpg" },
];

Deno.test("a pass cut off after another item won a path it filled: the next one places the winner", async (t) => {
  for (const shape of _SHARED_PATH) {
    for (const how of ["stopped", "failed"] as const) {
      await t.step(`${shape.name}, ${how}`, async () => {
        // Listed (and stored) in this order.
        const dataset = inListedOrder(describeDataset([
          { name: "first", count: 1, fileName: shape.fileName, fileExt: "", sizeBytes: 1000 },
          { name: "winner", count: 1, fileName: shape.winner, fileExt: "", sizeBytes: 2000 },
          { name: "after", count: 2, sizeBytes: 100 },
        ]));
        const winner = dataset.items[1].binaryDataId;
        await withMirror(dataset, async ({ config, logger, platform, root, pass, files }) => {
          const attributes = config({ delete: true });
          const stop = new AbortController();
          let pages = 0;
          const remote = wrappedRemote(_remote(attributes), (real) => ({
            listPage: async (filter, last, options) => {
              pages++;
              // The first item's file placed before the winner is listed, then the pass cut once
              // the winner's page is indexed.
              if (pages === 2) {
                await pollUntil(
                  "the first item placed",
                  async () =>
                    (await Deno.lstat(join(root, shape.fileName)).catch(() => undefined))
                      ?.isFile ===
                      true,
                );
              }
              if (pages === 3 && how === "stopped") stop.abort();
              if (pages === 3 && how === "failed") {
                platform.setFaults({ failListingAfterPage: 0, failListingCode: "unauthenticated" });
              }
              return real.listPage(filter, last, options);
            },
          }));
          await assert.rejects(
            runPass(attributes, remote, {
              logger,
              minRetryDelayMs: 1,
              parallelPages: 1,
              signal: stop.signal,
            }),
          );
          platform.setFaults({ maxPageItems: 1 });
          const next = await pass({ delete: true });
          assert.equal(next.summary.failed, 0, JSON.stringify(next.failures));
          const tree = await files();
          assert.deepEqual(tree.get(shape.winner), platform.contentOf(winner), shape.winner);
          if (shape.winner !== shape.fileName) assert.ok(!tree.has(shape.fileName));
          const again = await pass({ delete: true });
          assert.equal(again.summary.downloaded + again.summary.deleted, 0);
        }, { faults: { maxPageItems: 1 }, inlineLimitBytes: 100_000 });
      });
    }
  }
});

Deno.test("a pass stopped during its deletes forgets only the files it deleted", async () => {
  // 40 stale files in 40 folders (deleted 32 at a time) and one more, in the last folder.
  const stale = describeDataset([
    { name: "stale", count: 40, folder: (i) => `s${String(i).padStart(2, "0")}`, sizeBytes: 300 },
    { name: "model", count: 1, fileName: "zz/m.bin", fileExt: "", sizeBytes: 1000 },
    { name: "kept", count: 3, folder: "kept", sizeBytes: 300 },
  ]);
  const kept = stale.items.filter((item) => item.fileName?.startsWith("kept/"));
  await withMirror(stale, async ({ config, platform, pass, files }) => {
    await pass({ delete: true, max_delete: "100%" });
    platform.replaceDataset({ ...stale, items: kept });
    // Stopped as the first file goes: the last folder's is not reached.
    const stop = new AbortController();
    const logger = new RecordingLogger();
    const info = logger.info.bind(logger);
    logger.info = (message, fields) => {
      if (message.startsWith("deleted ")) stop.abort();
      info(message, fields);
    };
    const attributes = config({ delete: true, max_delete: "100%" });
    await assert.rejects(
      runPass(attributes, _remote(attributes), { logger, minRetryDelayMs: 1, signal: stop.signal }),
    );
    assert.ok((await files()).has("zz/m.bin"), "not reached by the deletes");
    // A new version is listed at that path: it replaces the file the record still names.
    const model = describeDataset([
      { name: "model-v2", count: 1, fileName: "zz/m.bin", fileExt: "", sizeBytes: 2000 },
    ]).items[0];
    const v2 = { ...model, timeRequestedMs: Date.now(), timeReceivedMs: Date.now() };
    platform.replaceDataset({ ...stale, items: [...kept, v2] });
    const next = await pass({ delete: true, max_delete: "100%" });
    assert.equal(next.summary.failed, 0, JSON.stringify(next.failures));
    assert.deepEqual((await files()).get("zz/m.bin"), platform.contentOf(v2.binaryDataId));
    assert.equal((await files()).size, 4);
  });
});
