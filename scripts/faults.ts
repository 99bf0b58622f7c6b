/**
 * `deno task faults`: the fault suite of issue 7 at full size (50 kill points, 5,000 hostile
 * names, 50,000 items under load, the listing timeout case, ...), against one local data platform,
 * printing one row per fault with its figure, then what did not hold. The same row functions run
 * bounded, as ordinary tests, under `tests/faults/`.
 *
 * Usage: `deno task faults [--rows 1,5,7] [--seed N] [--quick]` (`--quick`: the CI sizes).
 * Exits 1 when a row does not hold. Needs root for row 7 (it mounts a tmpfs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { badConfig } from "../tests/faults/bad_config.ts";
import { confinement } from "../tests/faults/confinement.ts";
import { deleteGuards } from "../tests/faults/delete_guards.ts";
import { diskFull } from "../tests/faults/disk_full.ts";
import { type FaultRig, startFaultRig } from "../tests/faults/fault_rig.ts";
import { hostileNames } from "../tests/faults/hostile_names.ts";
import { killPoints } from "../tests/faults/kill_points.ts";
import { listingFaults } from "../tests/faults/listing_faults.ts";
import { loadPasses } from "../tests/faults/load_passes.ts";
import { lockContention } from "../tests/faults/lock_contention.ts";
import { moduleStops } from "../tests/faults/module_stops.ts";
import { namingKills } from "../tests/faults/naming_kills.ts";
import { networkFaults } from "../tests/faults/network_faults.ts";
import { plantedSymlinks } from "../tests/faults/planted_symlinks.ts";
import type { RowReport } from "../tests/faults/row_report.ts";
import { secrets } from "../tests/faults/secrets.ts";

type _Row = (rig: FaultRig, seed: number) => Promise<RowReport>;

/** Full-size rows; row 10 runs last, so that its figure counts every stream the suite searched. */
const _FULL: ReadonlyMap<number, _Row> = new Map<number, _Row>([
  [1, (rig, seed) => killPoints(rig, { points: 50, seed })],
  [2, (rig) => listingFaults(rig, { timeout: true })],
  [3, (rig) => deleteGuards(rig, { files: 100 })],
  [4, (rig, seed) => networkFaults(rig, { smallFiles: 300, largeFiles: 6, seed })],
  [5, (rig, seed) => hostileNames(rig, { items: 5000, seed })],
  [6, (rig) => plantedSymlinks(rig)],
  [7, (rig) => diskFull(rig)],
  [8, (rig, seed) => lockContention(rig, { rounds: 20, seed })],
  [9, (rig) => badConfig(rig, { hugeListLength: 1_000_000, hugeValueBytes: 3_000_000 })],
  [11, () => confinement()],
  [12, (rig) => loadPasses(rig, { items: 50_000, passes: 20 })],
  [13, (rig) => moduleStops(rig, { stops: 200 })],
  // Every k of each kind of pass until it completes unkilled (about 150 kills, 10 minutes).
  [14, () => namingKills()],
  [10, (rig) => secrets(rig)],
]);

/** The CI sizes (what `tests/faults/*_test.ts` run). */
const _QUICK: ReadonlyMap<number, _Row> = new Map<number, _Row>([
  ..._FULL,
  [1, (rig, seed) => killPoints(rig, { points: 10, seed })],
  [2, (rig) => listingFaults(rig)],
  [3, (rig) => deleteGuards(rig)],
  [4, (rig, seed) => networkFaults(rig, { seed })],
  [5, (rig, seed) => hostileNames(rig, { items: 1000, seed })],
  [8, (rig, seed) => lockContention(rig, { rounds: 3, seed })],
  [9, (rig) => badConfig(rig)],
  [12, (rig) => loadPasses(rig, { items: 2000, passes: 5 })],
  [13, (rig) => moduleStops(rig, { stops: 10 })],
  [
    14,
    () =>
      namingKills({ points: [1, 4], syscalls: ["link", "rename", "unlink"], after: _NAMING_AFTER }),
  ],
]);

/** The staged files row 14 holds right after their naming at the CI sizes. */
const _NAMING_AFTER = { staged: [0], uri: true };

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rows: { type: "string" },
      seed: { type: "string" },
      quick: { type: "boolean", default: false },
    },
  });
  const rows = values.quick ? _QUICK : _FULL;
  const wanted = values.rows?.split(",").map(Number) ?? [...rows.keys()];
  const seed = values.seed === undefined ? Date.now() % 1_000_000_007 : Number(values.seed);
  console.log(`fault suite (${values.quick ? "CI sizes" : "full"}), seed ${seed}`);
  const reports: RowReport[] = [];
  await using rig = await startFaultRig();
  for (const [row, run] of rows) {
    if (!wanted.includes(Number(row))) continue;
    const started = performance.now();
    let report: RowReport;
    try {
      report = await run(rig, seed);
    } catch (error) {
      report = {
        row: Number(row),
        fault: "(the row stopped)",
        figure: "not measured",
        problems: [String((error as Error)?.stack ?? error)],
      };
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.log(_line(report, `${seconds} s`));
    reports.push(report);
  }
  reports.sort((a, b) => a.row - b.row);
  console.log("\n| # | fault | holds | figure |\n| --- | --- | --- | --- |");
  for (const report of reports) {
    const holds = report.problems.length === 0 ? "yes" : "**no**";
    console.log(`| ${report.row} | ${report.fault} | ${holds} | ${report.figure} |`);
  }
  const failing = reports.filter((report) => report.problems.length > 0);
  for (const report of failing) {
    console.log(`\nrow ${report.row} does not hold:`);
    for (const problem of report.problems.slice(0, 12)) console.log(`  - ${problem.slice(0, 600)}`);
    if (report.problems.length > 12) console.log(`  ... and ${report.problems.length - 12} more`);
  }
  console.log(`\n${reports.length - failing.length}/${reports.length} rows hold`);
  Deno.exitCode = failing.length === 0 ? 0 : 1;
}

function _line(report: RowReport, took: string): string {
  const verdict = report.problems.length === 0 ? "holds" : "FAILS";
  return `row ${String(report.row).padStart(2)}  ${verdict.padEnd(5)}  ${report.fault}: ` +
    `${report.figure} [${took}]`;
}
