/**
 * strace as the wrapper of the real program in crash tests: a SIGKILL or a hold at an exact system
 * call (`-e inject`), optionally only on one path (`-P`), and the kill of the program it holds.
 *
 * @example
 * ```ts
 * // Killed on entering its first rename of `staged`: that rename never runs.
 * const traced = spawnProgram(args, {
 *   viamHome,
 *   wrapper: straceWrapper({ calls: "rename,renameat,renameat2", tamper: "signal=KILL", path: staged }),
 * });
 * ```
 *
 * @module
 */
import { pollUntil } from "../_poll.ts";
import type { RunningProgram } from "../_program.ts";

/** Options of {@linkcode straceWrapper}. */
export interface StraceOptions {
  /** The system calls tampered with (and traced), comma-separated: `link,linkat`. */
  calls: string;
  /**
   * strace's `inject` action and its condition: `signal=KILL` (on entry: the call never runs),
   * `signal=KILL:when=3` (the third call), `delay_exit=60000000` (held a minute after the call).
   */
  tamper: string;
  /** Only the calls on this path (strace's `-P`); every call when unset. */
  path?: string;
}

/** The command line prefix running a program under strace as `options` say (output discarded). */
export function straceWrapper(options: StraceOptions): string[] {
  return [
    "strace",
    "-f",
    "-qq",
    "-o",
    "/dev/null",
    ...(options.path === undefined ? [] : ["-P", options.path]),
    "-e",
    `trace=${options.calls}`,
    "-e",
    `inject=${options.calls}:${options.tamper}`,
  ];
}

/**
 * SIGKILLs the program strace runs (held at a call, say), then strace once the program is dead:
 * strace killed first would let its tracee run on, and left alone it waits out its delay.
 */
export async function killTracee(tracer: RunningProgram): Promise<void> {
  const children = await Deno.readTextFile(`/proc/${tracer.pid}/task/${tracer.pid}/children`)
    .catch(() => "");
  const [pid] = children.trim().split(/\s+/).map(Number);
  if (pid > 0) {
    Deno.kill(pid, "SIGKILL");
    await pollUntil(`the program (${pid}) died`, async () => {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      return stat === "" || /^\d+ \(.*\) [ZX] /s.test(stat);
    });
  }
  try {
    tracer.kill("SIGKILL");
  } catch {
    // strace ended with its tracee
  }
  await tracer.done;
}
