/**
 * A fixed list of tasks run with bounded concurrency (the delete stage, the push pass's files), pulled
 * lazily so a long queue never becomes an array of promises.
 *
 * @example
 * ```ts
 * const paths = ["a", "b", "c"];
 * await runPool(paths.map((p) => () => Deno.remove(p).catch(() => {})), { concurrency: 2 });
 * ```
 *
 * @module
 */
/** Options of {@linkcode runPool}. */
export interface PoolOptions {
  /** How many tasks run at once (at least 1). */
  concurrency: number;
  /** When aborted, no further task starts; running ones are left to finish or observe the signal. */
  signal?: AbortSignal;
  /** Checked before each task starts: when it returns false, no further task starts. */
  shouldContinue?: () => boolean;
}

/**
 * Runs tasks with bounded concurrency, pulling them lazily from the iterable so a long queue is
 * never materialised as promises. Each task handles its own errors; a task that throws stops the pool
 * and the error is rethrown after the running tasks settle.
 */
export async function runPool(
  tasks: Iterable<() => Promise<void>>,
  options: PoolOptions,
): Promise<void> {
  const iterator = tasks[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && !options.signal?.aborted && (options.shouldContinue?.() ?? true)) {
      const next = iterator.next();
      if (next.done) return;
      try {
        await next.value();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, options.concurrency) }, worker);
  await Promise.all(workers);
  if (failure) throw failure.error;
}
