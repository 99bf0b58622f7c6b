/**
 * This process's peak resident memory so far (`VmHWM`), in bytes: what a test compares before and
 * after a step that must not read a huge file into memory (the current RSS drops again once the
 * buffer is collected, and would not tell).
 *
 * @module
 */

/** The peak resident memory of this process so far, in bytes. */
export function peakMemoryBytes(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error("no VmHWM in /proc/self/status");
  return Number(kib) * 1024;
}
