import { startFaultRig } from "./fault_rig.ts";
import { moduleStops } from "./module_stops.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 13: the module stops cleanly as viam-server stops it, stop after stop", async () => {
  await using rig = await startFaultRig();
  const report = await moduleStops(rig, { stops: 10 });
  console.log(report.figure);
  assertRowHolds(report);
});
