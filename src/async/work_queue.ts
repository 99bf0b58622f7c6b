/**
 * A pool that takes tasks while it runs: what lets a pass download the files of a listing page while
 * the next pages are still coming.
 *
 * @module
 */
/** Options of {@linkcode WorkQueue}. */
export interface WorkQueueOptions {
  /**
   * How many tasks run at once (at least 1). A function is asked again before each start, for a
   * limit that moves with other work; call {@linkcode WorkQueue.wake} when it may have grown.
   */
  concurrency: number | (() => number);
  /** When aborted, no further task starts; running ones are left to finish or observe the signal. */
  signal?: AbortSignal;
  /** Checked before each task starts: when it returns false, no further task starts. */
  shouldContinue?: () => boolean;
  /**
   * Called when the last running task settles with nothing left to start: a producer holding back
   * a partial batch (waiting for more work to fill it) hands it over now rather than leave the
   * queue idle. It may push.
   */
  onIdle?: () => void;
  /**
   * Called each time a task settles, once the queue has started what that allowed: for another
   * queue whose limit moves with this one's running tasks ({@linkcode WorkQueue.wake}).
   */
  onSettled?: () => void;
}

/**
 * A pool that takes tasks while it runs: a producer (a listing delivering page after page) pushes
 * work as it finds it, up to `concurrency` tasks run at once, and {@linkcode WorkQueue.finish}
 * waits for the rest once the producer is done. Each task handles its own errors; a task that
 * throws stops the queue, and {@linkcode WorkQueue.finish} rethrows that error once the running
 * tasks settle. Tasks not started when the queue stops (signal, `shouldContinue`, a thrown error)
 * are dropped; {@linkcode WorkQueue.dropped} counts them.
 *
 * @example
 * ```ts
 * const queue = new WorkQueue({ concurrency: 8 });
 * for await (const page of pages) for (const item of page) queue.push(() => fetchOne(item));
 * await queue.finish();
 * ```
 */
export class WorkQueue {
  readonly #options: WorkQueueOptions;
  readonly #pending: (() => Promise<void>)[] = [];
  #head = 0;
  #running = 0;
  #failure?: { error: unknown };
  #halted = false;
  #idle = Promise.withResolvers<void>();

  constructor(options: WorkQueueOptions) {
    this.#options = options;
  }

  /** Adds a task; it starts at once when fewer than `concurrency` tasks run. */
  push(task: () => Promise<void>): void {
    this.#pending.push(task);
    this.#pump();
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks that were pushed but will never run because the queue stopped. */
  get dropped(): number {
    return this.#stopped() ? this.#pending.length - this.#head : 0;
  }

  /**
   * Starts the tasks waiting that the limit now allows: for a `concurrency` function whose answer
   * grew without a task of this queue settling.
   */
  wake(): void {
    this.#pump();
  }

  /** Starts no further task: those pushed and not started are dropped; running ones go on. */
  stop(): void {
    this.#halted = true;
  }

  /** Resolves once every task pushed so far has run (or the queue stopped and the running ones settled). */
  async finish(): Promise<void> {
    this.#pump();
    while (this.#running > 0 || (!this.#stopped() && this.#head < this.#pending.length)) {
      await this.#idle.promise;
    }
    if (this.#failure) throw this.#failure.error;
  }

  #stopped(): boolean {
    return this.#halted || this.#failure !== undefined || this.#options.signal?.aborted === true ||
      !(this.#options.shouldContinue?.() ?? true);
  }

  #limit(): number {
    const { concurrency } = this.#options;
    return Math.max(1, typeof concurrency === "number" ? concurrency : concurrency());
  }

  #pump(): void {
    while (this.#running < this.#limit() && this.#head < this.#pending.length && !this.#stopped()) {
      const task = this.#pending[this.#head];
      this.#pending[this.#head++] = _done; // let the closure go
      if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
        this.#pending.splice(0, this.#head);
        this.#head = 0;
      }
      this.#running++;
      task().catch((error) => {
        this.#failure ??= { error };
      }).finally(() => {
        this.#running--;
        this.#pump();
        if (this.#running === 0 && this.#head >= this.#pending.length && !this.#stopped()) {
          this.#options.onIdle?.();
        }
        this.#options.onSettled?.();
        if (this.#running === 0) {
          const idle = this.#idle;
          this.#idle = Promise.withResolvers<void>();
          idle.resolve();
        }
      });
    }
  }
}

const _done = () => Promise.resolve();
