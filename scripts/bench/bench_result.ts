/**
 * The benchmark's results as written to its JSON file, read by its table and its chart.
 *
 * @module
 */

import type { Measurement } from "./process_usage.ts";
import type { TreeCheck } from "./tree_check.ts";

/**
 * The tools compared: on the sync side rclone, on the push side a sequential uploader streaming
 * 64 KiB chunks (what the SDKs do).
 */
export type ToolName = "data-mirror" | "rclone 16/16" | "rclone defaults" | "sequential 64 KiB";

/** One measured run of one tool on one case. */
export interface RunRecord {
  /** Wall time from spawn to exit. */
  wallSeconds: number;
  /** User + system CPU of the tool's process. */
  cpuSeconds: number;
  /** Peak RSS of the tool's process, MiB. */
  peakRssMiB: number;
  /** Requests its server received, by kind (platform calls, or index/head/get). */
  calls: Record<string, number>;
  /** Bytes the tool fetched (data-mirror's summary; rclone: the sizes of the files fetched). */
  bytes: number;
  /** CPU its server process used during the run. */
  serverCpuSeconds: number;
  /** The copy afterwards, compared with the expected set. */
  check: TreeCheck;
  /** The machine's 1-minute load average when the run ended (how busy the cores were). */
  load1m?: number;
  /** Whether the run exited 0 and left exactly the expected tree. */
  ok: boolean;
  /** Why not, when not ok. */
  error?: string;
}

/** What was observed around a run, besides the process's own measurement. */
export interface RunObservation {
  /** Requests its server received, by kind. */
  calls: Record<string, number>;
  /** Bytes the tool fetched or sent. */
  bytes: number;
  /** CPU its server process used during the run. */
  serverCpuSeconds: number;
  /** The copy (or the platform's uploads) afterwards, compared with the expected set. */
  check: TreeCheck;
}

/**
 * The record of a measured run. It is not ok when the process timed out or exited non-zero,
 * else when `problem` (the caller's own check of what the run left) names something.
 */
export function runRecordOf(
  run: Measurement,
  observed: RunObservation,
  options: { timeoutMs: number; problem?: string },
): RunRecord {
  const error = run.timedOut
    ? `timed out after ${options.timeoutMs / 1000} s`
    : run.code !== 0
    ? `exit ${run.code}: ${run.stderr.trim().split("\n").slice(-2).join(" / ")}`
    : options.problem;
  return {
    wallSeconds: run.wallSeconds,
    cpuSeconds: run.cpuSeconds,
    peakRssMiB: run.peakRssMiB,
    ...observed,
    load1m: Deno.loadavg()[0],
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
  };
}

/** One tool on one case: its runs and their medians. */
export interface ToolRecord {
  /** Which tool. */
  tool: ToolName;
  /** Every run, in order. */
  runs: RunRecord[];
  /** Median wall time of the runs. */
  wallSeconds: number;
  /** Median CPU. */
  cpuSeconds: number;
  /** Median peak RSS. */
  peakRssMiB: number;
  /** Median server CPU. */
  serverCpuSeconds: number;
  /** Whether every run was ok. */
  ok: boolean;
}

/** One case (a data set and a kind of pass) with every tool. */
export interface CaseRecord {
  /** E.g. `fresh copy`, `100,000 × 1 KiB, no-op`. */
  name: string;
  /** Files in the expected copy afterwards. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** Files the pass has to fetch. */
  filesToFetch: number;
  /** The tools measured (a tool left out is absent). */
  tools: ToolRecord[];
  /** The floor of data-mirror's own call pattern (median run), seconds. */
  callFloorSeconds: number;
  /** The floor of the best call pattern, seconds. */
  idealFloorSeconds: number;
  /**
   * The system calls of one more data-mirror run of the case, untimed, under `strace -f -c`
   * (absent where they were not counted: no strace, a churn, a file written before they were).
   */
  systemCalls?: number;
  /** The same by the call's name (where {@linkcode systemCalls} is). */
  systemCallsByName?: Record<string, number>;
}

/** One push case (files uploaded from a fresh folder), with data-mirror and the sequential uploader. */
export interface PushCaseRecord {
  /** E.g. `push 1,000 × 4 KiB`. */
  name: string;
  /** Files uploaded. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** The tools measured. */
  tools: ToolRecord[];
}

/** The whole results file. */
export interface BenchResults {
  /** When the benchmark started (ISO 8601). */
  startedAt: string;
  /** The options it ran with. */
  options: {
    quick: boolean;
    latencyMs: number;
    runs: number;
    concurrency: number;
    mirrorArgs: string[];
    /** More arguments of data-mirror's `push` (absent in files written before the push side). */
    pushArgs?: string[];
  };
  /** The machine: cores, load average at start, loopback bandwidth. */
  machine: { cores: number; loadAverage: number[]; loopbackBytesPerSecond: number };
  /** `rclone version`'s first line, or why rclone was not measured. */
  rclone: string;
  /**
   * Where each set's copies were written, by set name (absent in files written before the copies
   * got a file system of their own, when they went to the temp folder).
   */
  fileSystems?: Record<string, string>;
  /** The cases. */
  cases: CaseRecord[];
  /** The push cases (absent in files written before the push side was measured). */
  pushCases?: PushCaseRecord[];
}

/** The median of some numbers (the mean of the middle two for an even count); NaN when none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A tool's record from its runs, with the medians. */
export function toolRecord(tool: ToolName, runs: RunRecord[]): ToolRecord {
  return {
    tool,
    runs,
    wallSeconds: median(runs.map((r) => r.wallSeconds)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    peakRssMiB: median(runs.map((r) => r.peakRssMiB)),
    serverCpuSeconds: median(runs.map((r) => r.serverCpuSeconds)),
    ok: runs.length > 0 && runs.every((r) => r.ok),
  };
}

/** The run whose wall time is the median one (the lower middle for an even count). */
export function medianRun(record: ToolRecord): RunRecord | undefined {
  const sorted = [...record.runs].sort((a, b) => a.wallSeconds - b.wallSeconds);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
