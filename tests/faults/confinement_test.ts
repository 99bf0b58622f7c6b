import { confinement } from "./confinement.ts";
import { assertRowHolds } from "./row_report.ts";

Deno.test("row 11: under the production permissions, writes outside, /etc/passwd and subprocesses fail", async () => {
  const report = await confinement();
  console.log(report.figure);
  assertRowHolds(report);
});
