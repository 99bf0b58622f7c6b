/**
 * A bounded wait for a promise, for shutdown paths that must not hang on a stuck call.
 *
 * @example
 * ```ts
 * const settled = await withDeadline(new Promise((r) => setTimeout(r, 10)), 1_000); // true
 * ```
 *
 * @module
 */
/**
 * Waits for `work` to settle, but at most `ms` milliseconds. Resolves true when it settled in time
 * (whether it resolved or rejected), false when the deadline came first. Never leaves a timer behind.
 */
export async function withDeadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([work.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
