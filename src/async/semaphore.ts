/**
 * A counting semaphore: at most `permits` holders at once, the others waiting in order; a holder
 * may take several permits (a share of a budget). A wait can be given up through an abort signal,
 * and a permit never leaks to a waiter that gave up.
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
  readonly #permits: number;
  #free: number;
  readonly #waiting: { permits: number; granted: () => void }[] = [];

  /** A semaphore of `permits` (at least 1). */
  constructor(permits: number) {
    this.#permits = Math.max(1, Math.floor(permits));
    this.#free = this.#permits;
  }

  /** Permits free now. */
  get free(): number {
    return this.#free;
  }

  /** Holders waiting for their permits. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves once `permits` are held (at once when they are free and no one waits before; more
   * than the semaphore has are taken as all of them). Rejects with the signal's reason when it
   * aborts first; the permits are then not taken, and the waiters after it that fit go in.
   */
  acquire(signal?: AbortSignal, permits = 1): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const wanted = this.#share(permits);
    if (this.#waiting.length === 0 && this.#free >= wanted) {
      this.#free -= wanted;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        permits: wanted,
        granted: () => {
          signal?.removeEventListener("abort", gaveUp);
          resolve();
        },
      };
      const gaveUp = () => {
        const at = this.#waiting.indexOf(entry);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal!.reason);
        this.#grant();
      };
      signal?.addEventListener("abort", gaveUp, { once: true });
      this.#waiting.push(entry);
    });
  }

  /**
   * Gives `permits` back (as many as were asked for: more than the semaphore has are all of it), to
   * the waiters in order, as they fit.
   */
  release(permits = 1): void {
    this.#free += this.#share(permits);
    this.#grant();
  }

  /** What an acquire of `permits` takes: at least one, at most all. */
  #share(permits: number): number {
    return Math.min(this.#permits, Math.max(1, Math.floor(permits)));
  }

  #grant(): void {
    while (this.#waiting.length > 0 && this.#free >= this.#waiting[0].permits) {
      const next = this.#waiting.shift()!;
      this.#free -= next.permits;
      next.granted();
    }
  }
}
