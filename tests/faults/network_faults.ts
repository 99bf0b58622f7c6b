/**
 * Row 4: 30% of calls UNAVAILABLE, connections dropped mid-body, slow bodies, the platform
 * restarted mid-pass. Holds when each pass completes on its own (exit 0, the tree byte-identical)
 * within the retry schedule, and downloads by `uri` resume with `Range` from where they were cut
 * rather than from byte 0.
 *
 * @module
 */
import type { RunningProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";
import { describeDataset, type Faults, type RangeRecord } from "../support/platform/mod.ts";
import type { FaultRig } from "./fault_rig.ts";
import { treeDifferences } from "./mirror_tree.ts";
import { outputTail } from "./pass_output.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

/** Options of {@linkcode networkFaults}. */
export interface NetworkFaultsOptions {
  /** Small (inline) files per pass (default 30). */
  smallFiles?: number;
  /** Large (`uri`) files per pass (default 2). */
  largeFiles?: number;
  /** Seed of the UNAVAILABLE draws (default 7). */
  seed?: number;
}

const _TAG = "net";
const _LARGE_BYTES = 1_200_000;
/** The retry schedule a pass must finish within here: generous, a pass is seconds when clean. */
const _PASS_LIMIT_MS = 90_000;

interface _Case {
  name: string;
  faults: Faults;
  /** Acts during the pass (resolves when done). */
  during?: (rig: FaultRig, program: RunningProgram) => Promise<void>;
  /** Whether the large files' downloads must have resumed by Range. */
  resumes: boolean;
}

/** Runs row 4. */
export async function networkFaults(
  rig: FaultRig,
  options: NetworkFaultsOptions = {},
): Promise<RowReport> {
  const dataset = describeDataset([
    { name: "s", count: options.smallFiles ?? 30, folder: "small", tags: [_TAG] },
    {
      name: "big",
      count: options.largeFiles ?? 2,
      folder: "large",
      sizeBytes: (i) => _LARGE_BYTES + i,
      mimeType: "application/octet-stream",
      tags: [_TAG],
    },
  ]);
  const cases: _Case[] = [
    {
      name: "30% UNAVAILABLE",
      faults: { unavailableRate: 0.3, unavailableSeed: options.seed ?? 7 },
      resumes: false,
    },
    {
      name: "connections dropped mid-body",
      faults: { dropBodyAfterBytes: 400_000 },
      resumes: true,
    },
    { name: "slow bodies", faults: { bodyBytesPerSecond: 1_000_000 }, resumes: false },
    {
      name: "platform restarted mid-pass",
      faults: { bodyBytesPerSecond: 800_000 },
      during: async (rig, program) => {
        // Once the large bodies are flowing, stop the platform for 500 ms. A program that exits
        // before its first download is reported by the row's checks, not waited for without end.
        await pollUntil(
          "a download started or the program exited",
          () => rig.platform.calls.download >= 1 || program.exited,
          { intervalMs: 5, limitMs: 60_000 },
        );
        await _sleep(400);
        await rig.restartPlatform({ downMs: 500 });
      },
      resumes: false,
    },
  ];
  const problems: string[] = [];
  const figures: string[] = [];
  for (const c of cases) {
    rig.serve(dataset, c.faults);
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-net-" });
    sandbox.own("viam/data_mirror");
    const before = await sandbox.snapshot();
    const started = Date.now();
    const program = rig.spawn(["sync", "--tags", _TAG, "--json"], { home: sandbox.home });
    await c.during?.(rig, program);
    const output = await program.done;
    const ms = Date.now() - started;
    const ranges = rig.platform.ranges;
    rig.platform.setFaults({});
    const differences = await treeDifferences(sandbox.mirror(), rig.platform, rig.platform.items());
    if (output.code !== 0) problems.push(`${c.name}: the pass failed: ${outputTail(output)}`);
    if (ms > _PASS_LIMIT_MS) problems.push(`${c.name}: the pass took ${ms} ms`);
    for (const difference of differences) problems.push(`${c.name}: ${difference}`);
    for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
      problems.push(`${c.name}: outside the mirror: ${change}`);
    }
    let figure = `${c.name} ${(ms / 1000).toFixed(1)} s`;
    if (c.resumes) {
      const resumed = _resumeProblems(
        ranges,
        rig.platform.items().filter((item) => item.sizeBytes >= _LARGE_BYTES).map((item) =>
          item.binaryDataId
        ),
      );
      problems.push(...resumed.problems.map((problem) => `${c.name}: ${problem}`));
      figure += ` (${count(resumed.resumes)} Range resumes, none from 0)`;
    }
    figures.push(figure);
  }
  return {
    row: 4,
    fault: "30% UNAVAILABLE, dropped connections, slow bodies, restart mid-pass",
    figure:
      `${cases.length - new Set(problems.map((p) => p.split(":")[0])).size}/${cases.length} ` +
      `passes completed identical: ${figures.join("; ")}`,
    problems,
  };
}

/** Each large item's Range requests: none from 0, each further on than the one before. */
function _resumeProblems(
  ranges: readonly RangeRecord[],
  ids: readonly string[],
): { resumes: number; problems: string[] } {
  const problems: string[] = [];
  let resumes = 0;
  for (const id of ids) {
    const starts = ranges.filter((record) => record.binaryDataId === id)
      .map((record) => Number(/^bytes=(\d+)-/.exec(record.range)?.[1] ?? NaN));
    resumes += starts.length;
    if (starts.length === 0) problems.push(`${id} was cut but never resumed with a Range`);
    if (starts.some((start) => !(start > 0))) problems.push(`${id} resumed from 0: ${starts}`);
    if (starts.some((start, i) => i > 0 && start <= starts[i - 1])) {
      problems.push(`${id} went back: ${starts}`);
    }
  }
  return { resumes, problems };
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
