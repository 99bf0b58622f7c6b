import { diskFull } from "./disk_full.ts";
import { startFaultRig } from "./fault_rig.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 7: a 20 MiB tmpfs fills mid-pass at the default concurrency: the reserve holds, deletes still run, the mirror resumes", async () => {
  await using rig = await startFaultRig();
  const report = await diskFull(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
