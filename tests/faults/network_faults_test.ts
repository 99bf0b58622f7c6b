import { startFaultRig } from "./fault_rig.ts";
import { networkFaults } from "./network_faults.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 4: unavailable calls, dropped and slow bodies, a restart mid-pass: the pass completes, uri downloads resume by Range", async () => {
  await using rig = await startFaultRig();
  const report = await networkFaults(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
