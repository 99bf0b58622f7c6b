/**
 * What a fault row found: its number and fault, the figure it prints (e.g. `kill points 50/50
 * identical, 0 wrong-size files seen in 4,000 polls`), and every problem seen (none when it holds).
 * Rows collect problems instead of throwing at the first, so that `deno task faults` prints every
 * row with its figure, and a test shows every broken promise at once.
 *
 * @module
 */
import assert from "node:assert/strict";

/** One row of the fault table. */
export interface RowReport {
  /** The row's number in issue 7's table. */
  row: number;
  /** The fault, in a few words. */
  fault: string;
  /** The row's measured figure. */
  figure: string;
  /** What did not hold (empty when the row holds). */
  problems: string[];
}

/** Fails with the row's figure and every problem when it does not hold. */
export function assertRowHolds(report: RowReport): void {
  assert.ok(
    report.problems.length === 0,
    `row ${report.row} (${report.fault}) does not hold: ${report.figure}\n` +
      report.problems.map((problem) => `  - ${problem}`).join("\n"),
  );
}

/** `1234567` -> `1,234,567`: the figures' number format. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}
