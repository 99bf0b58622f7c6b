/**
 * The system calls of one run of a command, every thread of it and every child it starts
 * (`strace -f -c`): issue 8 asks at most 15 a small file, which the benchmark counts, in a run of
 * its own, untimed (strace slows a run several times over), instead of leaving it to a person.
 *
 * @example
 * ```ts
 * const strace = await findStrace();
 * if (strace !== undefined) {
 *   const run = await countSystemCalls({ command: "true", args: [], timeoutMs: 10_000 }, strace);
 *   console.log(run.systemCalls);
 * }
 * ```
 *
 * @module
 */

import { findOnPath, killChildrenOf } from "./process_usage.ts";

/** A command whose system calls are counted. */
export interface CountedCommand {
  /** The program. */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Variables set on top of this process's environment. */
  env?: Record<string, string>;
  /** The command is killed (SIGKILL) after this long; strace then reports and exits. */
  timeoutMs: number;
}

/** A counted run. */
export interface CountedRun {
  /** The command's exit code (strace exits with it); 137 when killed. */
  code: number;
  /** Every system call of the command and its children, failed ones included. */
  systemCalls: number;
  /** The same by the call's name (`readlink`, `openat`, ...), as strace's rows give them. */
  byName: Record<string, number>;
  /** The command's standard output. */
  stdout: string;
  /** The command's standard error (the last 4,000 characters). */
  stderr: string;
}

/** The strace executable on `$PATH`, or undefined when there is none. */
export function findStrace(): Promise<string | undefined> {
  return findOnPath("strace");
}

/** Runs `cmd` under `strace -f -c` and counts its system calls. */
export async function countSystemCalls(cmd: CountedCommand, strace: string): Promise<CountedRun> {
  const report = await Deno.makeTempFile({ prefix: "bench-strace-" });
  try {
    const child = new Deno.Command(strace, {
      args: ["-f", "-c", "-o", report, "--", cmd.command, ...cmd.args],
      env: cmd.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The command is killed, not strace: a killed strace (6.1) would let it run on, untraced.
    const timer = setTimeout(() => void killChildrenOf(child.pid), cmd.timeoutMs);
    const output = await child.output();
    clearTimeout(timer);
    const decoder = new TextDecoder();
    const summary = await Deno.readTextFile(report);
    return {
      code: output.code,
      systemCalls: totalSystemCalls(summary),
      byName: systemCallsByName(summary),
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr).slice(-4000),
    };
  } finally {
    await Deno.remove(report);
  }
}

/**
 * The calls of a `strace -c` summary: its `total` line's count (the column before the errors).
 * Throws when the summary has no such line (strace killed before it wrote one).
 */
export function totalSystemCalls(summary: string): number {
  const total = _rows(summary).find((row) => row.name === "total");
  if (total === undefined) throw new Error(`strace wrote no total line:\n${summary.slice(-400)}`);
  return total.calls;
}

/**
 * The calls of a `strace -c` summary by name, one entry per row (the `total` line left out): what
 * a count is made of, e.g. the `readlink`s of Deno's permission check.
 */
export function systemCallsByName(summary: string): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const row of _rows(summary)) {
    if (row.name !== "total") byName[row.name] = row.calls;
  }
  return byName;
}

/** The rows of a `strace -c` summary: each call's name and count, and the `total` line's. */
function _rows(summary: string): { name: string; calls: number }[] {
  const rows: { name: string; calls: number }[] = [];
  for (const line of summary.split("\n")) {
    // "  2.43    0.933506           7    131079    131076 readlink": % time, seconds, usecs/call,
    // calls, errors (left blank when none), then the name.
    const fields = line.trim().split(/\s+/);
    const numbers = fields.slice(0, -1).map(Number);
    const name = fields.at(-1);
    if (name === undefined || !/^[a-z_0-9]+$/.test(name)) continue;
    if (numbers.length < 4 || numbers.length > 5 || !numbers.every(Number.isFinite)) continue;
    rows.push({ name, calls: numbers[3] });
  }
  return rows;
}
