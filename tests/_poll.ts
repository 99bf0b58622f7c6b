/**
 * Waits until `condition` holds, checking every `intervalMs`; fails after `limitMs` (default 30 s)
 * with a message naming what was awaited, so a broken program fails its test instead of hanging
 * the suite (Deno has no per-test timeout).
 */
export async function pollUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: { intervalMs?: number; limitMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.limitMs ?? 30_000);
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}
