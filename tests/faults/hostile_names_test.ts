import { startFaultRig } from "./fault_rig.ts";
import { hostileNames } from "./hostile_names.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 5: a thousand fuzzed hostile names: nothing outside changes, each item written or rejected, no slow pass", async () => {
  await using rig = await startFaultRig();
  const report = await hostileNames(rig, { items: 1000 });
  console.log(report.figure);
  assertRowHolds(report);
});
