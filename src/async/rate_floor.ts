/**
 * The slowest a stream may move, averaged over windows of a given length: the trickle guard beside
 * an idle watchdog (`idle_watchdog.ts`). A server sending a byte every 20 s never goes a
 * minute without one, yet holds a download (and the pass, and every pass after it) for as long as
 * it likes.
 *
 * @example
 * ```ts
 * const floor = new RateFloor({ windowMs: 60_000, minBytesPerSecond: 16 });
 * for await (const chunk of body) {
 *   const slow = floor.add(chunk.length);
 *   if (slow !== undefined) throw new Error(slow);
 * }
 * ```
 *
 * @module
 */
/** Options of {@linkcode RateFloor}. */
export interface RateFloorOptions {
  /** The window the rate is averaged over, in milliseconds. */
  windowMs: number;
  /** The least a window must average. */
  minBytesPerSecond: number;
  /** When the first window starts (`performance.now()`); by default, with the first bytes. */
  startMs?: number;
}

/** Counts a stream's bytes by window and tells when a window ended below the floor. */
export class RateFloor {
  readonly #windowMs: number;
  readonly #minBytes: number;
  #startMs: number | undefined;
  #bytes = 0;

  constructor(options: RateFloorOptions) {
    this.#windowMs = options.windowMs;
    this.#minBytes = options.minBytesPerSecond * options.windowMs / 1000;
    this.#startMs = options.startMs;
  }

  /**
   * Leaves `ms` just spent out of the window (a bandwidth limiter's wait, during which the stream is
   * not read: its slowness is the reader's, not the sender's).
   */
  exclude(ms: number): void {
    if (this.#startMs !== undefined && ms > 0) this.#startMs += ms;
  }

  /** Counts `bytes` come now: what fell short when a window ended below the floor, else undefined. */
  add(bytes: number): string | undefined {
    const now = performance.now();
    this.#startMs ??= now;
    this.#bytes += bytes;
    if (now - this.#startMs < this.#windowMs) return undefined;
    const came = this.#bytes;
    this.#startMs = now;
    this.#bytes = 0;
    return came < this.#minBytes ? `${came} bytes in ${this.#windowMs} ms: too slow` : undefined;
  }
}
