/**
 * One data-mirror push as the real program: `main.ts push` spawned under the production permission
 * flags (as `deno task mirror` runs it), with the default behaviour (each file deleted once the
 * platform has it) and no settle time, measured (see `program_run.ts`).
 *
 * @example
 * ```ts
 * const push = await runPushPass({ home, server: platform, partId: "bench-part", timeoutMs });
 * console.log(push.wallSeconds, push.summary?.uploaded);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import type { PushSummary } from "../../src/mirror_controller.ts";
import { BENCH_TAG } from "./bench_set.ts";
import type { Measurement } from "./process_usage.ts";
import { runProgramJson } from "./program_run.ts";

/** The push path under the Viam home. */
const _PUSH_PATH = "outbox";

/** Options of {@linkcode runPushPass}. */
export interface PushPassOptions {
  /** The Viam home (`VIAM_HOME`); the folder pushed is {@linkcode pushDirOf} it. */
  home: string;
  /** The local data platform. */
  server: { url: string; apiKeyId: string; apiKey: string };
  /** `--part-id`. */
  partId: string;
  /** More arguments of `push`. */
  extraArgs?: readonly string[];
  /** `--dry-run` (the warm-up). */
  dryRun?: boolean;
  /** Killed after this long. */
  timeoutMs: number;
}

/** A measured push and the JSON document it printed (absent when it printed none). */
export interface PushPass extends Measurement {
  /** The `--json` document. */
  summary?: PushSummary;
}

/** The folder a push from `home` uploads. */
export function pushDirOf(home: string): string {
  return join(home, _PUSH_PATH);
}

/** Runs `push --tags bench --min-age 0 --json` on `<home>/outbox`. */
export async function runPushPass(options: PushPassOptions): Promise<PushPass> {
  const { document, ...run } = await runProgramJson<PushSummary>([
    "push",
    "--app-url",
    options.server.url,
    "--part-id",
    options.partId,
    "--push-path",
    _PUSH_PATH,
    "--tags",
    BENCH_TAG,
    "--min-age",
    "0",
    "--json",
    "--log-level",
    "warn",
    ...(options.dryRun ? ["--dry-run"] : []),
    ...options.extraArgs ?? [],
  ], options);
  return { ...run, summary: document };
}
