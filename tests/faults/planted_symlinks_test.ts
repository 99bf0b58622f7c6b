import { startFaultRig } from "./fault_rig.ts";
import { plantedSymlinks } from "./planted_symlinks.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 6: symlinks planted in the mirror, its state folder, as its root and on its way: nothing outside changes", async () => {
  await using rig = await startFaultRig();
  const report = await plantedSymlinks(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
