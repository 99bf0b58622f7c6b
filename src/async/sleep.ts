/** Options of {@linkcode sleep}. */
export interface SleepOptions {
  /** Ends the sleep early by rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/** Resolves after `ms` milliseconds; rejects at once when the signal aborts. */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
