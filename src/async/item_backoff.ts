/**
 * The per-item retry delays of a mirror's loop: an item that keeps failing waits longer each pass
 * while the rest of the mirror goes on.
 *
 * @example
 * ```ts
 * const backoff = new ItemBackoff({ minMs: 60_000, maxMs: 3_600_000 });
 * backoff.failed("org/loc/id");
 * backoff.isDue("org/loc/id"); // false for the next 30-60 s (jittered)
 * ```
 *
 * @module
 */
import { backoffDelay } from "./backoff.ts";

/** Options of {@linkcode ItemBackoff}. */
export interface ItemBackoffOptions {
  /** Delay after an item's first failure, in milliseconds. */
  minMs: number;
  /** The delay never grows past this, in milliseconds. */
  maxMs: number;
  /** Randomness for the jitter (tests pass a fixed one). */
  random?: () => number;
  /** The clock, in epoch milliseconds (tests pass their own). */
  now?: () => number;
}

/**
 * Which items failed lately and when each may be tried again, so that one broken file (a 404, a path
 * held by a local directory) is retried on its own growing delay, up to the cap, instead of slowing
 * every pass of the whole mirror.
 */
export class ItemBackoff {
  readonly #entries = new Map<string, { failures: number; retryAt: number; error?: string }>();
  readonly #options: ItemBackoffOptions;

  /** Creates an empty record. */
  constructor(options: ItemBackoffOptions) {
    this.#options = options;
  }

  /**
   * True when the item may be tried now: it never failed, or its delay has run out. A retry time
   * further ahead than the longest delay means the clock stepped back since: the item is due.
   */
  isDue(binaryDataId: string): boolean {
    const entry = this.#entries.get(binaryDataId);
    if (entry === undefined) return true;
    const now = this.#now();
    return entry.retryAt <= now || entry.retryAt - now > this.#options.maxMs;
  }

  /** Records a failure (and why, when told): the next try waits longer than the last. */
  failed(binaryDataId: string, error?: string): void {
    const failures = (this.#entries.get(binaryDataId)?.failures ?? 0) + 1;
    const delay = backoffDelay(failures, this.#options);
    this.#entries.set(binaryDataId, { failures, retryAt: this.#now() + delay, error });
  }

  /**
   * Why a failing item last failed, when its failure was told: said for an item that waits, which
   * a pass counts as failed without trying it.
   */
  lastError(binaryDataId: string): string | undefined {
    return this.#entries.get(binaryDataId)?.error;
  }

  /** Forgets an item that succeeded. */
  succeeded(binaryDataId: string): void {
    this.#entries.delete(binaryDataId);
  }

  /** Forgets every item not in `listed` (no longer on the platform, or no longer matching). */
  retain(listed: Set<string>): void {
    for (const id of this.#entries.keys()) if (!listed.has(id)) this.#entries.delete(id);
  }

  /** How many items are failing. */
  get size(): number {
    return this.#entries.size;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
