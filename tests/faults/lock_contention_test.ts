import { startFaultRig } from "./fault_rig.ts";
import { lockContention } from "./lock_contention.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 8: a second process on a busy mirror is refused; a SIGKILLed holder's lock is taken over", async () => {
  await using rig = await startFaultRig();
  const report = await lockContention(rig, { rounds: 3 });
  console.log(report.figure);
  assertRowHolds(report);
});
