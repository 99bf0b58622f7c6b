/**
 * Runs of a task one at a time, where every request made while one runs is served by one more run
 * that starts after it: a group commit. A caller always waits for a run that started after its
 * request, so what it did before asking is covered, and a burst of requests costs two runs, not
 * one each. The push journal's appends and the mirror's file-system syncs are written this way.
 *
 * With `minIntervalMs`, a run also starts no sooner than that after the one before it started:
 * requests arriving meanwhile wait and share it, so a steady stream of requests costs one run per
 * interval rather than one per run's duration (the mirror's syncs: each starts a process).
 * {@linkcode CoalescedRuns.hasten} lets the waiting run start without the rest of the wait, for a
 * caller that will ask for no more (the last batch of a transfer).
 *
 * @example
 * ```ts
 * const syncs = new CoalescedRuns({ minIntervalMs: 100 });
 * await syncs.request(() => syncEverything()); // shares a run with whoever asks meanwhile
 * ```
 *
 * @module
 */
/** Options of {@linkcode CoalescedRuns}. */
export interface CoalescedRunsOptions {
  /** The least time between the starts of two runs, in milliseconds (default 0). */
  minIntervalMs?: number;
}

/** One run at a time; requests made during a run share the next one. */
export class CoalescedRuns {
  readonly #minIntervalMs: number;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #lastStart = -Infinity;
  /** Set by `hasten`: the queued run starts as soon as the one before it has ended. */
  #hastened = false;
  /** Ends the queued run's wait for the interval, while it waits. */
  #endWait: (() => void) | undefined;

  constructor(options: CoalescedRunsOptions = {}) {
    this.#minIntervalMs = options.minIntervalMs ?? 0;
  }

  /**
   * Resolves (or rejects) with a run that starts after this call: now when nothing runs, else the
   * next one, shared by every request made until it starts. The next run is of the `task` of the
   * request that queued it; it starts whether the one before succeeded or failed.
   */
  request(task: () => Promise<void>): Promise<void> {
    if (this.#next !== undefined) return this.#next; // not started yet: it starts after this call
    if (this.#running === undefined && this.#untilDue() <= 0) return this.#start(task);
    this.#next = (async () => {
      await this.#running?.catch(() => {});
      const wait = this.#hastened ? 0 : this.#untilDue();
      if (wait > 0) {
        const waited = Promise.withResolvers<void>();
        const timer = setTimeout(waited.resolve, wait);
        this.#endWait = waited.resolve;
        await waited.promise;
        clearTimeout(timer);
        this.#endWait = undefined;
      }
      this.#next = undefined;
      return this.#start(task);
    })();
    return this.#next;
  }

  /**
   * Lets the queued run (if any) start as soon as the run before it has ended, without waiting out
   * the rest of `minIntervalMs`.
   */
  hasten(): void {
    if (this.#next === undefined) return;
    this.#hastened = true;
    this.#endWait?.();
  }

  /** The run going on now, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** Resolves once no run goes on or waits (whether they succeeded or not). */
  async idle(): Promise<void> {
    while (this.#running !== undefined || this.#next !== undefined) {
      await (this.#next ?? this.#running)!.catch(() => {});
    }
  }

  /** Milliseconds until the interval since the last start has passed. */
  #untilDue(): number {
    return this.#lastStart + this.#minIntervalMs - performance.now();
  }

  #start(task: () => Promise<void>): Promise<void> {
    this.#lastStart = performance.now();
    this.#hastened = false;
    const run = task().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}
