import { startFaultRig } from "./fault_rig.ts";
import { loadPasses } from "./load_passes.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 12: 2,000 items then 12 passes of the module's loop (6 to warm up): fds and RSS flat", async () => {
  await using rig = await startFaultRig();
  const report = await loadPasses(rig, { items: 2000, passes: 6, warmUp: 6 });
  console.log(report.figure);
  assertRowHolds(report);
});
