/**
 * The push side of the benchmark (issue 11): data-mirror's `push` against a sequential uploader
 * that streams 64 KiB chunks (what the SDKs do), on the same files, against the same local data
 * platform with the same latency per call. Every run starts from a freshly generated folder (written
 * outside the timed part) and an empty platform; the runs of the two tools are interleaved (each
 * first in every other run), so drift in the machine's load hits them alike; every run is checked: the platform must hold exactly the
 * files given (each once, its size and bytes, the part and the tag), and data-mirror must have
 * deleted every file it uploaded (its default).
 *
 * @example
 * ```ts
 * await using platform = await startServerProcess({ kind: "platform", set: NO_FILES, latencyMs: 20 });
 * await warmUpPush({ dir, platform, timeoutMs });
 * for (const set of pushSets()) {
 *   const record = await new PushBench({ set, dir, platform, runs: 3, timeoutMs, pushArgs: [], say })
 *     .measure();
 * }
 * ```
 *
 * @module
 */

import { dirname, join } from "node:path";
import { itemChunks, type PlatformDataset } from "../../tests/support/platform/mod.ts";
import {
  type PushCaseRecord,
  type RunRecord,
  runRecordOf,
  type ToolName,
  toolRecord,
} from "./bench_result.ts";
import { BENCH_TAG, type BenchSet, datasetOf, relativePathOf, totalsOf } from "./bench_set.ts";
import type { Measurement } from "./process_usage.ts";
import { pushDirOf, runPushPass } from "./push_pass.ts";
import { runSequentialUpload } from "./sequential_upload.ts";
import type { ServerProcess } from "./server_process.ts";

/** The part every benchmark upload belongs to. */
export const BENCH_PART_ID = "bench-part";

/** The tools of the push side, in the order they run. */
export const PUSH_TOOLS: readonly ToolName[] = ["data-mirror", "sequential 64 KiB"];

const _KIB = 1024;
const _MIB = 1024 * 1024;

/** The push cases: 1,000 files of 4 KiB in 10 folders, and one file of 256 MiB (quick or not). */
export function pushSets(): BenchSet[] {
  return [
    {
      name: "push-small",
      smallCount: 1_000,
      smallBytes: 4 * _KIB,
      folders: 10,
      largeCount: 0,
      largeBytes: 0,
    },
    {
      name: "push-large",
      smallCount: 0,
      smallBytes: 0,
      folders: 1,
      largeCount: 1,
      largeBytes: 256 * _MIB,
    },
  ];
}

/** A set of no files: what the platform of the push side starts with. */
export const NO_FILES: BenchSet = {
  name: "none",
  smallCount: 0,
  smallBytes: 0,
  folders: 1,
  largeCount: 0,
  largeBytes: 0,
};

/** What the warm-up sends: 50 × 4 KiB (both programs), and one 256 MiB file (the sequential one). */
const _WARM_UP_SMALL: BenchSet = {
  name: "warm-up",
  smallCount: 50,
  smallBytes: 4 * _KIB,
  folders: 2,
  largeCount: 0,
  largeBytes: 0,
};
const _WARM_UP_LARGE: BenchSet = { ..._WARM_UP_SMALL, largeCount: 1, largeBytes: 256 * _MIB };

/**
 * Untimed: runs both programs once (`deno run` compiles and caches their modules the first time),
 * and has the platform take one file as large as the largest case (its upload path compiled, its
 * heap grown: otherwise the first large run, whichever tool it is, pays for that, seconds more),
 * then clears the platform. Throws when either fails: the measured runs would fail alike.
 */
export async function warmUpPush(
  options: { dir: string; platform: ServerProcess; timeoutMs: number },
): Promise<void> {
  const { dir, platform, timeoutMs } = options;
  const home = join(dir, "push-warm-up");
  await writePushFolder(pushDirOf(home), datasetOf(_WARM_UP_SMALL, "base"));
  const push = await runPushPass({ home, server: platform, partId: BENCH_PART_ID, timeoutMs });
  const folder = join(dir, "sequential-warm-up");
  await writePushFolder(folder, datasetOf(_WARM_UP_LARGE, "base"));
  const sequential = await runSequentialUpload({
    server: platform,
    folder,
    partId: BENCH_PART_ID,
    tag: BENCH_TAG,
    timeoutMs,
  });
  await platform.clear();
  for (const [name, run] of Object.entries({ "data-mirror push": push, sequential })) {
    if (run.code !== 0) throw new Error(`warm-up: ${name} exited ${run.code}: ${run.stderr}`);
  }
  await Deno.remove(home, { recursive: true });
  await Deno.remove(folder, { recursive: true });
}

/** Options of {@linkcode PushBench}. */
export interface PushBenchOptions {
  /** The files to push. */
  set: BenchSet;
  /** A scratch folder for the tools' folders. */
  dir: string;
  /** The local data platform (its own process), cleared before every run. */
  platform: ServerProcess;
  /** Runs per tool. */
  runs: number;
  /** A run is killed after this long. */
  timeoutMs: number;
  /** More arguments of data-mirror's `push`. */
  pushArgs: readonly string[];
  /** Progress lines. */
  say: (line: string) => void;
}

/** Measures one push case. */
export class PushBench {
  readonly #o: PushBenchOptions;
  readonly #files: PlatformDataset;

  /** Prepares the file list; writes nothing yet. */
  constructor(options: PushBenchOptions) {
    this.#o = options;
    this.#files = datasetOf(options.set, "base");
  }

  /** Runs both tools `runs` times, interleaved, each from a fresh folder, and summarizes. */
  async measure(): Promise<PushCaseRecord> {
    const { runs, say } = this.#o;
    const name = pushCaseName(this.#o.set);
    const byTool = new Map<ToolName, RunRecord[]>();
    for (let run = 1; run <= runs; run++) {
      // Each tool goes first in every other run: the platform's heap, cleared before each run,
      // still holds the previous run's garbage, and neither tool should always meet it.
      const order = run % 2 === 1 ? PUSH_TOOLS : [...PUSH_TOOLS].reverse();
      for (const tool of order) {
        const record = await this.#measure(tool);
        say(
          `[push] ${name}, ${tool}, run ${run}/${runs}: ${record.wallSeconds.toFixed(2)} s, ` +
            `${record.cpuSeconds.toFixed(2)} s CPU, ${record.peakRssMiB.toFixed(0)} MiB, ` +
            `load ${record.load1m?.toFixed(1)}, ${
              record.ok ? "uploads checked" : `✗ ${record.error}`
            }`,
        );
        byTool.set(tool, [...byTool.get(tool) ?? [], record]);
      }
    }
    await this.#o.platform.clear(); // frees the platform's memory
    const totals = totalsOf(this.#files);
    return {
      name,
      files: totals.files,
      bytes: totals.bytes,
      tools: [...byTool].map(([tool, records]) => toolRecord(tool, records)),
    };
  }

  async #measure(tool: ToolName): Promise<RunRecord> {
    const { platform } = this.#o;
    const folder = this.#folderOf(tool);
    await writePushFolder(folder, this.#files);
    await platform.clear();
    await platform.resetCalls();
    const cpuBefore = await platform.cpuSeconds();
    const run = await this.#run(tool);
    const serverCpuSeconds = (await platform.cpuSeconds()) - cpuBefore;
    const calls = await platform.calls();
    const check = await platform.checkUploads({
      set: this.#o.set,
      partId: BENCH_PART_ID,
      tag: BENCH_TAG,
    });
    const totals = totalsOf(this.#files);
    const left = tool === "data-mirror" ? await _countFiles(folder) : 0;
    const problem = run.uploaded !== totals.files
      ? `reported ${run.uploaded ?? "no count of"} files uploaded, expected ${totals.files}`
      : !check.ok
      ? `wrong uploads: ${check.problems.join("; ")}`
      : left > 0
      ? `${left} files left in the push folder (it deletes what it uploaded)`
      : undefined;
    return runRecordOf(run, { calls, bytes: run.bytes ?? 0, serverCpuSeconds, check }, {
      timeoutMs: this.#o.timeoutMs,
      problem,
    });
  }

  async #run(tool: ToolName): Promise<Measurement & { uploaded?: number; bytes?: number }> {
    const { platform, timeoutMs } = this.#o;
    if (tool === "data-mirror") {
      const run = await runPushPass({
        home: this.#home(),
        server: platform,
        partId: BENCH_PART_ID,
        extraArgs: this.#o.pushArgs,
        timeoutMs,
      });
      const failed = run.summary !== undefined && run.summary.failed > 0;
      return {
        ...run,
        code: run.code === 0 && failed ? 1 : run.code,
        uploaded: run.summary?.uploaded,
        bytes: run.summary?.bytes,
      };
    }
    const run = await runSequentialUpload({
      server: platform,
      folder: this.#folderOf(tool),
      partId: BENCH_PART_ID,
      tag: BENCH_TAG,
      timeoutMs,
    });
    return { ...run, uploaded: run.summary?.files, bytes: run.summary?.bytes };
  }

  #home(): string {
    return join(this.#o.dir, "data-mirror-home");
  }

  #folderOf(tool: ToolName): string {
    return tool === "data-mirror" ? pushDirOf(this.#home()) : join(this.#o.dir, "sequential");
  }
}

/** A push case's name in the tables and the chart. */
export function pushCaseName(set: BenchSet): string {
  const [count, bytes] = set.largeCount > 0
    ? [set.largeCount, set.largeBytes]
    : [set.smallCount, set.smallBytes];
  const size = bytes >= _MIB ? `${bytes / _MIB} MiB` : `${bytes / _KIB} KiB`;
  return `push ${count.toLocaleString("en")} × ${size}`;
}

/**
 * Replaces `folder` (and everything in it, state included) with the files of `dataset`, each at
 * its path with its generated bytes, and flushes the file system (`sync --file-system`), as a
 * program that produced them a while ago would have left them.
 */
export async function writePushFolder(folder: string, dataset: PlatformDataset): Promise<void> {
  await Deno.remove(folder, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const made = new Set<string>();
  for (const item of dataset.items) {
    const path = join(folder, relativePathOf(item));
    const parent = dirname(path);
    if (!made.has(parent)) {
      await Deno.mkdir(parent, { recursive: true });
      made.add(parent);
    }
    using file = await Deno.open(path, { write: true, createNew: true });
    for (const chunk of itemChunks(item, { chunkBytes: 4 * _MIB })) {
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
    }
  }
  // The file system settled before the run, as it is for files written a while ago: otherwise the
  // run's first fsyncs (data-mirror's journal) wait for the writeback of everything just written,
  // and for the discard of what was just deleted (an online-discard mount).
  const sync = await new Deno.Command("sync", { args: ["--file-system", folder] }).output();
  if (!sync.success) throw new Error(`sync --file-system ${folder} failed: ${sync.code}`);
}

/** Regular files below `folder`, the program's `.data-mirror` state aside. */
async function _countFiles(folder: string): Promise<number> {
  let count = 0;
  for await (const entry of Deno.readDir(folder)) {
    if (entry.name === ".data-mirror") continue;
    if (entry.isDirectory) count += await _countFiles(join(folder, entry.name));
    else count++;
  }
  return count;
}
