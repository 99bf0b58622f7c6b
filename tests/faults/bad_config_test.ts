import { badConfig } from "./bad_config.ts";
import { startFaultRig } from "./fault_rig.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 9: bad config files and bad attributes from viam-server are refused naming the field; the module stays up", async () => {
  await using rig = await startFaultRig();
  const report = await badConfig(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
