import { namingKills } from "./naming_kills.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 14: SIGKILL at a few links, renames and unlinks of each kind of pass, and right after a naming; then two passes: newest bytes everywhere, no user file touched", async () => {
  const report = await namingKills({
    points: [1, 4],
    syscalls: ["link", "rename", "unlink"],
    after: { staged: [0], uri: true },
  });
  console.log(report.figure);
  assertRowHolds(report);
});
