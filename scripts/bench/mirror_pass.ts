/**
 * One data-mirror pass as the real program: `main.ts sync` spawned under the production permission
 * flags (as `deno task mirror` runs it), measured (see `program_run.ts`).
 *
 * @example
 * ```ts
 * const pass = await runMirrorPass({ home, server: platform, timeoutMs: 600_000 });
 * console.log(pass.wallSeconds, pass.summary?.downloaded);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import type { Summary } from "../../src/sync/summary.ts";
import { BENCH_TAG } from "./bench_set.ts";
import type { Measurement } from "./process_usage.ts";
import { lastJsonDocument, programCommand, runProgramJson } from "./program_run.ts";
import { type CountedRun, countSystemCalls } from "./system_calls.ts";

/** The mirror path under the Viam home the benchmark mirrors into. */
const _MIRROR_PATH = "mirror";

/** Options of {@linkcode runMirrorPass}. */
export interface MirrorPassOptions {
  /** The Viam home (`VIAM_HOME`); the mirror is {@linkcode mirrorDirOf} it. */
  home: string;
  /** The local data platform. */
  server: { url: string; apiKeyId: string; apiKey: string };
  /** More arguments of `sync` (e.g. `--concurrency 16`). */
  extraArgs?: readonly string[];
  /** `--dry-run`: list only (the warm-up). */
  dryRun?: boolean;
  /** Killed after this long. */
  timeoutMs: number;
}

/** A measured pass and the summary it printed (absent when it printed none). */
export interface MirrorPass extends Measurement {
  /** The `--json` summary line. */
  summary?: Summary;
}

/** The folder a pass into `home` mirrors to. */
export function mirrorDirOf(home: string): string {
  return join(home, _MIRROR_PATH);
}

/** Runs one pass: `sync --tags bench --delete --json` into `<home>/mirror`. */
export async function runMirrorPass(options: MirrorPassOptions): Promise<MirrorPass> {
  const { document, ...run } = await runProgramJson<Summary>(_syncArgs(options), options);
  return { ...run, summary: document };
}

/**
 * Runs one pass as {@linkcode runMirrorPass} does, untimed, under `strace` (see
 * `system_calls.ts`): its system calls, and the summary it printed.
 */
export async function countMirrorPassSystemCalls(
  options: MirrorPassOptions & { strace: string },
): Promise<CountedRun & { summary?: Summary }> {
  const command = await programCommand(_syncArgs(options), options);
  const run = await countSystemCalls({ ...command, timeoutMs: options.timeoutMs }, options.strace);
  return { ...run, summary: lastJsonDocument<Summary>(run.stdout) };
}

function _syncArgs(options: MirrorPassOptions): string[] {
  return [
    "sync",
    "--app-url",
    options.server.url,
    "--tags",
    BENCH_TAG,
    "--mirror-path",
    _MIRROR_PATH,
    "--delete",
    "--json",
    "--log-level",
    "warn",
    ...(options.dryRun ? ["--dry-run"] : []),
    ...options.extraArgs ?? [],
  ];
}
