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
