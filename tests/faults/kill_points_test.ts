import { startFaultRig } from "./fault_rig.ts";
import { killPoints } from "./kill_points.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 1: SIGKILL at 10+ instants of a pass, then a normal pass: identical tree, never a wrong size", async () => {
  await using rig = await startFaultRig();
  const report = await killPoints(rig, { points: 10 });
  console.log(report.figure);
  assertRowHolds(report);
});
