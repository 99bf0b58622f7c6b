/**
 * The program run under the production permission flags (`src/permissions.ts`), the same flags
 * the compiled binary bakes in: the `deno run` arguments, and a runner that passes stop signals on,
 * for the demo, the benchmarks and the tests that run the real program (its bundle,
 * `scripts/program_bundle.ts`).
 *
 * `deno task mirror` itself is one `deno run` line in deno.json, with no process of this script in
 * between (it cost every run about 0.2 s and a second Deno), after its `bundle` dependency (a
 * process of its own that ends before the program starts: 35 ms when the bundle is current); a
 * test holds that line to {@linkcode productionRunArgs}, and `deno task` passes SIGINT and SIGTERM
 * on and exits with the program's code.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { PRODUCTION_FLAGS } from "../src/permissions.ts";
import { STOP_SIGNALS } from "../src/stop_signal.ts";

/** The signals passed on to the program, so that it can stop cleanly. */
const _FORWARDED_SIGNALS: readonly Deno.Signal[] = STOP_SIGNALS;

/**
 * How long a signal waits before it is passed on. Ctrl-C reaches every process of the job at once,
 * the program included: a copy sent right behind it could land after the program has finished
 * stopping and dropped its handler, and end it with 130 instead of its own exit code. Passed on
 * later, the copy reaches only a program that did not get the signal itself (or is still stopping,
 * and ignores it).
 */
const _FORWARD_DELAY_MS = 250;

/**
 * The arguments of `deno run` that start `entry` under the production flags, with this project's
 * deno.json (its import map): what `deno task mirror` (for the bundle's `main.js`,
 * `scripts/program_bundle.ts`), the demo, the benchmarks and the end-to-end tests all run.
 */
export function productionRunArgs(entry: URL, args: readonly string[]): string[] {
  return [
    "run",
    ...PRODUCTION_FLAGS,
    "--config",
    fileURLToPath(new URL("../deno.json", import.meta.url)),
    fileURLToPath(entry),
    ...args,
  ];
}

/**
 * Runs `deno run <production flags> <entry> <args>` as a child process with this process's stdio and
 * environment, passes SIGINT and SIGTERM on to it (after {@linkcode _FORWARD_DELAY_MS}), and
 * resolves to its exit code (128 + the signal number when a signal ended it).
 */
export async function runWithProductionFlags(entry: URL, args: readonly string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: productionRunArgs(entry, args),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  const forwarders = _FORWARDED_SIGNALS.map((signal) => {
    const forward = () => {
      setTimeout(() => {
        if (!exited) _kill(child, signal);
      }, _FORWARD_DELAY_MS);
    };
    Deno.addSignalListener(signal, forward);
    return () => Deno.removeSignalListener(signal, forward);
  });
  try {
    return (await child.status).code;
  } finally {
    exited = true;
    for (const remove of forwarders) remove();
  }
}

/** Passes `signal` on, unless the child has already exited (then there is nobody to tell). */
function _kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
}
