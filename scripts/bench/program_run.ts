/**
 * One run of data-mirror as the real program: the bundle's `main.js <command> ... --json`
 * (`scripts/program_bundle.ts`) spawned under the
 * production permission flags (as `deno task mirror` runs it) with the platform's key in the
 * environment, measured by {@linkcode measureCommand} after an untimed `<command> --help` (its
 * modules read back in), and the JSON document it printed last.
 * What a sync pass and a push of the benchmark share.
 *
 * @example
 * ```ts
 * const run = await runProgramJson<Summary>(["sync", "--tags", "bench", "--json"], {
 *   home,
 *   server: platform,
 *   timeoutMs: 600_000,
 * });
 * console.log(run.wallSeconds, run.document?.downloaded);
 * ```
 *
 * @module
 */

import { productionRunArgs } from "../mirror.ts";
import { measureCommand, type Measurement } from "./process_usage.ts";
import { programBundle } from "../program_bundle.ts";

/** Where and how long a run goes. */
export interface ProgramRunOptions {
  /** The Viam home (`VIAM_HOME`). */
  home: string;
  /** The local data platform: its URL and the key the run authenticates with. */
  server: { url: string; apiKeyId: string; apiKey: string };
  /** Killed after this long. */
  timeoutMs: number;
}

/** A measured run and the last line of its stdout as JSON (absent when it is not JSON). */
export interface ProgramRun<T> extends Measurement {
  /** The `--json` document. */
  document?: T;
}

/** Runs the bundle's `main.js` with `args` (which should hold `--json`). */
export async function runProgramJson<T>(
  args: readonly string[],
  options: ProgramRunOptions,
): Promise<ProgramRun<T>> {
  const run = await measureCommand({
    ...await programCommand(args, options),
    timeoutMs: options.timeoutMs,
  });
  return { ...run, document: lastJsonDocument<T>(run.stdout) };
}

/**
 * The command line and environment of a run of the bundle's `main.js` with `args`, as
 * {@linkcode runProgramJson} runs it, and the arguments of its untimed warm-up.
 */
export async function programCommand(
  args: readonly string[],
  options: Pick<ProgramRunOptions, "home" | "server">,
): Promise<{ command: string; args: string[]; env: Record<string, string>; warmUpArgs: string[] }> {
  const entry = await programBundle();
  return {
    command: Deno.execPath(),
    args: productionRunArgs(entry, [...args]),
    env: {
      VIAM_HOME: options.home,
      VIAM_API_KEY_ID: options.server.apiKeyId,
      VIAM_API_KEY: options.server.apiKey,
    },
    // The command's `--help` loads its modules, as a compiled binary would have them in its one
    // file, and touches no data (see `settlePageCache`).
    warmUpArgs: productionRunArgs(entry, [args[0], "--help"]),
  };
}

/** The last line of `stdout` as JSON, or undefined when it is none. */
export function lastJsonDocument<T>(stdout: string): T | undefined {
  try {
    return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as T;
  } catch {
    return undefined;
  }
}
