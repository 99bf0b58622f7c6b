import { startFaultRig } from "./fault_rig.ts";
import { listingFaults } from "./listing_faults.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 2: a listing that fails, ends early or loses its key mid-way deletes nothing; the next pass recovers", async () => {
  await using rig = await startFaultRig();
  const report = await listingFaults(rig);
  console.log(report.figure);
  assertRowHolds(report);
});
