/**
 * The Worker entry that `main.ts` starts with the narrowed permissions: checks that they really are
 * narrow, then runs the program ({@linkcode runApp}) with the process arguments and posts its exit
 * code to the bootstrap ({@linkcode WorkerExit}).
 *
 * The program is imported statically, so that Deno loads the whole module graph when the Worker
 * starts, under the bootstrap's read permission (a dynamic import would be loaded again, under the
 * Worker's narrowed read, whenever a source file changed since the start: `deno run` from a tree
 * being edited). Its modules' top-level code therefore runs before the check below; none of it
 * touches files, and the program itself does not start unless the check passes.
 *
 * @module
 */
import type { WorkerExit } from "../main.ts";
import { runApp } from "./app.ts";
import { assertNarrowed } from "./permissions.ts";

/** The Worker's side of its message port (this file runs only as a Worker). */
const _port = globalThis as unknown as { postMessage(message: WorkerExit): void };

_port.postMessage({ exitCode: await _run(Deno.args) });

async function _run(args: string[]): Promise<number> {
  try {
    assertNarrowed();
  } catch (error) {
    console.error(`data-mirror: ${(error as Error).message}`);
    return 1;
  }
  return await runApp(args);
}
