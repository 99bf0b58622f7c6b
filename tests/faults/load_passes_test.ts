import { startFaultRig } from "./fault_rig.ts";
import { loadPasses } from "./load_passes.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 12: 2,000 items then 5 passes of the module's loop: fds and RSS flat", async () => {
  await using rig = await startFaultRig();
  const report = await loadPasses(rig, { items: 2000, passes: 5 });
  console.log(report.figure);
  assertRowHolds(report);
});
