import { deleteGuards } from "./delete_guards.ts";
import { startFaultRig } from "./fault_rig.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 3: an empty listing, a narrowed filter and a delete over --max-delete delete nothing unless allowed", async () => {
  await using rig = await startFaultRig();
  const report = await deleteGuards(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
