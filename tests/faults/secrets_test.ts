import { startFaultRig } from "./fault_rig.ts";
import { assertRowHolds } from "./row_report.ts";
import { secrets } from "./secrets.ts";

Deno.test("row 10: the API key never shows, in every way of passing it (env, config file, flags, deno task, module)", async () => {
  await using rig = await startFaultRig();
  const report = await secrets(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
