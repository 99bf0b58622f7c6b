/**
 * The runs of one benchmark data set: every tool keeps its own copy, which goes from one case to the
 * next (fresh, then no-op on that copy, then churn and back); the tools' runs are interleaved, so
 * drift in the machine's load hits them alike; every run's copy is checked.
 *
 * @example
 * ```ts
 * const bench = new SetBench({ plan, dir, platform, dirIndex, runs: 3, timeoutMs, network, ... });
 * const fresh = await bench.measureCase("fresh");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import type { PlatformDataset } from "../../tests/support/platform/mod.ts";
import {
  type CaseRecord,
  medianRun,
  type RunRecord,
  runRecordOf,
  type ToolName,
  toolRecord,
} from "./bench_result.ts";
import { type BenchSet, datasetOf, relativePathOf, totalsOf } from "./bench_set.ts";
import { callFloorSeconds, type Change, idealFloorSeconds, type Network } from "./floor.ts";
import { countMirrorPassSystemCalls, mirrorDirOf, runMirrorPass } from "./mirror_pass.ts";
import type { Measurement } from "./process_usage.ts";
import { runRcloneSync } from "./rclone_sync.ts";
import type { ServerProcess } from "./server_process.ts";
import type { CountedRun } from "./system_calls.ts";
import { checkTree } from "./tree_check.ts";

/** A kind of pass. */
export type PassKind = "fresh" | "no-op" | "churn";

/** What to measure on one set. */
export interface SetPlan {
  /** The data set. */
  set: BenchSet;
  /** The cases, in order (no-op and churn start from the fresh copy). */
  kinds: readonly PassKind[];
  /** The tools. */
  tools: readonly ToolName[];
}

/** Options of {@linkcode SetBench}. */
export interface SetBenchOptions {
  /** What to measure. */
  plan: SetPlan;
  /** A scratch folder for the copies. */
  dir: string;
  /** The local data platform serving the set (data-mirror's source). */
  platform: ServerProcess;
  /** The directory-index server serving the set (rclone's source). */
  dirIndex: ServerProcess;
  /** Runs per tool and case. */
  runs: number;
  /** A run is killed after this long. */
  timeoutMs: number;
  /** For the floors. */
  network: Network;
  /** The rclone binary (needed when the plan has an rclone tool). */
  rclone?: string;
  /** More arguments of data-mirror's `sync`. */
  mirrorArgs: readonly string[];
  /**
   * strace, to count data-mirror's system calls in one more run of each fresh and no-op case
   * (untimed); none counted without it.
   */
  strace?: string;
  /** Progress lines. */
  say: (line: string) => void;
}

/** The files above this are fetched by uri (the platform's inline limit). */
const _INLINE_LIMIT_BYTES = 1024 * 1024;

/** Measures the cases of one set. */
export class SetBench {
  readonly #o: SetBenchOptions;
  readonly #base: PlatformDataset;
  readonly #churn: PlatformDataset;
  #setAsideCount = 0;
  /** Tools whose copy is in an unknown state (a run timed out or failed): left out from then on. */
  readonly #broken = new Set<ToolName>();

  /** Prepares the expected data sets; measures nothing yet. */
  constructor(options: SetBenchOptions) {
    this.#o = options;
    this.#base = datasetOf(options.plan.set, "base");
    this.#churn = datasetOf(options.plan.set, "churn");
  }

  /** Runs every tool `runs` times on one case, interleaved, and summarizes. */
  async measureCase(kind: PassKind): Promise<CaseRecord> {
    const { plan, runs, say } = this.#o;
    const name = caseName(plan.set, kind);
    const target = kind === "churn" ? this.#churn : this.#base;
    const start = kind === "fresh" ? { items: [], datasets: [] } : this.#base;
    const byTool = new Map<ToolName, RunRecord[]>();
    for (let run = 1; run <= runs; run++) {
      if (kind === "churn") await this.#serve("churn");
      for (const tool of plan.tools) {
        if (this.#broken.has(tool)) continue;
        if (kind === "fresh") await this.#setAside(this.#copyDir(tool));
        const record = await this.#measure(tool, target);
        say(
          `[${plan.set.name}] ${name}, ${tool}, run ${run}/${runs}: ` +
            `${record.wallSeconds.toFixed(2)} s, ${record.cpuSeconds.toFixed(2)} s CPU, ` +
            `${record.peakRssMiB.toFixed(0)} MiB, load ${record.load1m?.toFixed(1)}, ` +
            `${record.ok ? "copy checked" : `✗ ${record.error}`}`,
        );
        if (!record.ok) this.#broken.add(tool);
        byTool.set(tool, [...byTool.get(tool) ?? [], record]);
      }
      if (kind === "churn") await this.#restoreBase();
    }
    const counted = kind === "churn" ? undefined : await this.#countSystemCalls(kind, target);
    const tools = [...byTool].map(([tool, records]) => toolRecord(tool, records));
    const dm = tools.find((t) => t.tool === "data-mirror");
    const dmRun = dm === undefined ? undefined : medianRun(dm);
    const totals = totalsOf(target);
    const change = changeOf(start, target);
    return {
      name,
      files: totals.files,
      bytes: totals.bytes,
      filesToFetch: change.smallFiles + change.largeFiles,
      tools,
      callFloorSeconds: dmRun === undefined ? NaN : callFloorSeconds(dmRun, this.#o.network),
      idealFloorSeconds: idealFloorSeconds(change, this.#o.network),
      ...(counted === undefined
        ? {}
        : { systemCalls: counted.systemCalls, systemCallsByName: counted.byName }),
    };
  }

  /**
   * data-mirror's system calls in one more run of the case (a fresh one from an empty folder, as
   * timed), under strace; its copy is checked as a timed run's is. Undefined without strace, for a
   * set without both a fresh and a no-op case, or when the run failed (said).
   */
  async #countSystemCalls(
    kind: PassKind,
    target: PlatformDataset,
  ): Promise<Pick<CountedRun, "systemCalls" | "byName"> | undefined> {
    const { strace, plan, say } = this.#o;
    const tool = "data-mirror";
    if (strace === undefined || !plan.tools.includes(tool) || this.#broken.has(tool)) return;
    // A fresh copy's count says something only less its no-op's (the large set has none).
    if (!plan.kinds.includes("fresh") || !plan.kinds.includes("no-op")) return;
    if (kind === "fresh") await this.#setAside(this.#copyDir(tool));
    const name = caseName(plan.set, kind);
    const run = await countMirrorPassSystemCalls({
      home: join(this.#o.dir, "data-mirror-home"),
      server: this.#o.platform,
      extraArgs: this.#o.mirrorArgs,
      timeoutMs: this.#o.timeoutMs,
      strace,
    });
    const check = await checkTree(this.#copyDir(tool), target);
    if (run.code !== 0 || !check.ok || (run.summary?.failed ?? 0) > 0) {
      say(
        `✗ [${plan.set.name}] ${name}, data-mirror under strace: exit ${run.code}, ` +
          `${check.ok ? "copy checked" : check.problems.join("; ")}`,
      );
      this.#broken.add(tool);
      return;
    }
    say(
      `[${plan.set.name}] ${name}, data-mirror under strace: ${run.systemCalls} system calls ` +
        `(${run.byName.readlink ?? 0} readlink)`,
    );
    return run;
  }

  /** Puts every copy back to the base set after a churn run (untimed; checked). */
  async #restoreBase(): Promise<void> {
    await this.#serve("base");
    for (const tool of this.#o.plan.tools) {
      if (this.#broken.has(tool)) continue;
      const run = await this.#run(tool);
      const check = await checkTree(this.#copyDir(tool), this.#base);
      if (run.code !== 0 || !check.ok) {
        this.#o.say(`✗ could not restore ${tool}'s copy after churn: ${check.problems.join("; ")}`);
        this.#broken.add(tool);
      }
    }
  }

  async #serve(variant: "base" | "churn"): Promise<void> {
    await this.#o.platform.useVariant(variant);
    await this.#o.dirIndex.useVariant(variant);
  }

  async #measure(tool: ToolName, target: PlatformDataset): Promise<RunRecord> {
    const server = tool === "data-mirror" ? this.#o.platform : this.#o.dirIndex;
    await server.resetCalls();
    const cpuBefore = await server.cpuSeconds();
    const run = await this.#run(tool);
    const serverCpuSeconds = (await server.cpuSeconds()) - cpuBefore;
    const { bytes: sent, ...calls } = await server.calls();
    const check = await checkTree(this.#copyDir(tool), target);
    const summary = run.summary;
    const problem = summary !== undefined && summary.failed > 0
      ? `${summary.failed} items failed`
      : !check.ok
      ? `wrong copy: ${check.problems.join("; ")}`
      : undefined;
    const bytes = tool === "data-mirror" ? summary?.bytes ?? 0 : sent ?? 0;
    return runRecordOf(run, { calls, bytes, serverCpuSeconds, check }, {
      timeoutMs: this.#o.timeoutMs,
      problem,
    });
  }

  #run(tool: ToolName): Promise<Measurement & { summary?: { bytes: number; failed: number } }> {
    if (tool === "data-mirror") {
      return runMirrorPass({
        home: join(this.#o.dir, "data-mirror-home"),
        server: this.#o.platform,
        extraArgs: this.#o.mirrorArgs,
        timeoutMs: this.#o.timeoutMs,
      });
    }
    if (this.#o.rclone === undefined) throw new Error("rclone is not available");
    return runRcloneSync({
      rclone: this.#o.rclone,
      url: this.#o.dirIndex.url,
      dir: this.#copyDir(tool),
      parallel: tool === "rclone 16/16" ? 16 : undefined,
      timeoutMs: this.#o.timeoutMs,
    });
  }

  /**
   * Moves a copy out of the way before a fresh run, instead of deleting it: ext4 without a journal
   * (this VM's disk) will not reuse an inode freed less than 60 s ago (300 s while its inode table
   * block is unwritten), and scans past every one of them for each file it creates. Deleting 10,000
   * files right before a fresh copy cost either tool some 1.5 s of kernel CPU (a quarter of
   * data-mirror's fresh pass), measuring the file system rather than the tool. A plain folder goes
   * when the whole benchmark is over. (Run as root, the bench writes the copies to a journaled ext4
   * image, where this does not happen, removed after its set: see `scratch_fs.ts`.) (A churn run still follows the restore pass's 1,000
   * deletes within seconds, for both tools alike: waiting the minute out would add half an hour.)
   */
  async #setAside(path: string): Promise<void> {
    const aside = join(this.#o.dir, "set-aside");
    await Deno.mkdir(aside, { recursive: true });
    try {
      await Deno.rename(path, join(aside, String(this.#setAsideCount++)));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  #copyDir(tool: ToolName): string {
    if (tool === "data-mirror") return mirrorDirOf(join(this.#o.dir, "data-mirror-home"));
    return join(this.#o.dir, tool === "rclone 16/16" ? "rclone-16" : "rclone-defaults");
  }
}

/** What a pass from `start` to `target` must fetch (by path: a file already there is kept). */
export function changeOf(start: PlatformDataset, target: PlatformDataset): Change {
  const present = new Set(start.items.map(relativePathOf));
  const change: Change = {
    listed: target.items.length,
    smallFiles: 0,
    smallBytes: 0,
    largeFiles: 0,
    bytes: 0,
  };
  for (const item of target.items) {
    if (present.has(relativePathOf(item))) continue;
    change.bytes += item.sizeBytes;
    if (item.sizeBytes > _INLINE_LIMIT_BYTES) change.largeFiles++;
    else {
      change.smallFiles++;
      change.smallBytes += item.sizeBytes;
    }
  }
  return change;
}

/** A case's name in the table and the chart. */
export function caseName(set: BenchSet, kind: PassKind): string {
  if (set.name === "main") {
    return { fresh: "fresh copy", "no-op": "no-op pass", churn: "churn 10%/10%, delete" }[kind];
  }
  if (set.name === "large") return `1 × ${_size(set.largeBytes)} by uri, ${kind}`;
  return `${set.smallCount.toLocaleString("en")} × ${_size(set.smallBytes)}, ${kind}`;
}

function _size(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2) return `${bytes / 1024 ** 2} MiB`;
  return `${bytes / 1024} KiB`;
}
