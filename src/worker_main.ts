/**
 * The Worker entry that `main.ts` starts with the narrowed permissions: checks that they really are
 * narrow, then runs the program ({@linkcode runProgram}) with the process arguments and posts its exit
 * code to the bootstrap ({@linkcode WorkerExit}).
 *
 * The program is imported statically (and it imports each mode's code with literal dynamic imports),
 * so that Deno loads the whole module graph when the Worker starts, under the bootstrap's read
 * permission (a computed import would be loaded later, under the Worker's narrowed read). The
 * top-level code of its static imports therefore runs before the check below; none of it touches
 * files, and the program itself does not start unless the check passes.
 *
 * @module
 */
import type { WorkerExit, WorkerStop } from "../main.ts";
import { runProgram } from "./program.ts";
import { assertNarrowed } from "./permissions.ts";
import { deliverStop, STOP_SIGNALS, stopListened } from "./stop_signal.ts";

/** The Worker's side of its message port (this file runs only as a Worker). */
const _port = globalThis as unknown as {
  postMessage(message: WorkerExit): void;
  onmessage: ((event: MessageEvent<WorkerStop>) => void) | null;
};

// A stop signal the bootstrap caught (perhaps while this Worker was loading, before the program
// listened itself): the program's listener gets it, as if it had caught it.
_port.onmessage = (event) => {
  const signal = event.data?.stop;
  if (STOP_SIGNALS.includes(signal)) deliverStop(signal);
};

_port.postMessage({ exitCode: await _run(Deno.args), stopListened: stopListened() });

async function _run(args: string[]): Promise<number> {
  try {
    assertNarrowed();
  } catch (error) {
    console.error(`data-mirror: ${(error as Error).message}`);
    return 1;
  }
  return await runProgram(args);
}
