/**
 * A counting semaphore: at most `permits` holders at once, the others waiting in order. A wait
 * can be given up through an abort signal, and a permit never leaks to a waiter that gave up.
 *
 * @example
 * ```ts
 * const buffers = new Semaphore(4);
 * await buffers.acquire(signal);
 * try {
 *   // use one of four buffers
 * } finally {
 *   buffers.release();
 * }
 * ```
 *
 * @module
 */

/** Holders at most `permits` at once; see the module's notes. */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  /** A semaphore of `permits` (at least 1). */
  constructor(permits: number) {
    this.#free = Math.max(1, Math.floor(permits));
  }

  /** Permits free now. */
  get free(): number {
    return this.#free;
  }

  /**
   * Resolves once a permit is held (at once when one is free). Rejects with the signal's reason
   * when it aborts first; the permit is then not taken.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const granted = () => {
        signal?.removeEventListener("abort", gaveUp);
        resolve();
      };
      const gaveUp = () => {
        const at = this.#waiting.indexOf(granted);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", gaveUp, { once: true });
      this.#waiting.push(granted);
    });
  }

  /** Gives a permit back: to the first waiter, else to the free ones. */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
