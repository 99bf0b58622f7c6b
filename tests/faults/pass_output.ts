/**
 * Reading a finished run from outside: its `--json` summary (the stable contract: counts, `error`,
 * `guard`) and a short tail of its output for problem lines.
 *
 * @module
 */
import type { ProgramOutput } from "../_program.ts";

/** The `--json` summary on the last line of stdout, or an empty object when there is none. */
export function summaryOf(output: ProgramOutput): Record<string, unknown> {
  const lines = output.stdout.trimEnd().split("\n");
  try {
    const value = JSON.parse(lines[lines.length - 1]);
    return typeof value === "object" && value !== null ? value : {};
  } catch {
    return {};
  }
}

/** A summary count, or NaN when absent. */
export function countOf(output: ProgramOutput, key: string): number {
  const value = summaryOf(output)[key];
  return typeof value === "number" ? value : NaN;
}

/** The exit code and the end of both streams, for a problem line. */
export function outputTail(output: ProgramOutput): string {
  const stdout = output.stdout.trim().split("\n").slice(-3).join(" | ");
  const stderr = output.stderr.trim().split("\n").slice(-4).join(" | ");
  return `exit ${output.code}; stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-700)}`;
}
