import assert from "node:assert/strict";
import { timestampOfMs } from "../../src/remote/wire_timestamp.ts";
import { withMirror } from "../sync/_harness.ts";
import { describeDataset } from "../support/platform/mod.ts";

Deno.test("timestampOfMs keeps nanos in [0, 1e9), before 1970 too, and round-trips", () => {
  for (const ms of [-1500, -1000, -1, 0, 1, 1500, -2_147_472_000_001, 1_796_391_521_123]) {
    const timestamp = timestampOfMs(ms);
    assert.ok(timestamp.nanos >= 0 && timestamp.nanos < 1e9, `${ms}: nanos ${timestamp.nanos}`);
    assert.equal(timestamp.toDate().getTime(), ms);
  }
  assert.deepEqual([timestampOfMs(-1500).seconds, timestampOfMs(-1500).nanos], [-2n, 500_000_000]);
});

Deno.test("an end before 1970, not on a whole second, keeps the items of its last second", async () => {
  // 12 items one second apart from -10 s (epoch ms); end at -1.5 s matches those up to -2 s.
  const dataset = describeDataset([{ name: "old", count: 12, folder: "old" }], {
    startTimeMs: -10_000,
  });
  await withMirror(dataset, async ({ pass, files }) => {
    await pass({ delete: true });
    const end = "1969-12-31T23:59:58.500Z";
    const result = await pass({ delete: true, end });
    const kept = dataset.items.filter((i) => i.timeRequestedMs < Date.parse(end));
    assert.equal(kept.length, 9);
    assert.deepEqual([...(await files()).keys()].sort(), kept.map((i) => i.fileName).sort());
    assert.equal(result.summary.deleted, 3);
  });
});
