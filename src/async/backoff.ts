/**
 * The delay before a retry: exponential growth with equal jitter, shared by the retry of one call
 * ({@linkcode retry}) and the growing delay of one failing item (`ItemBackoff`).
 *
 * @example
 * ```ts
 * const ms = backoffDelay(3, { minMs: 500, maxMs: 4_000 }); // between 1,000 and 2,000
 * ```
 *
 * @module
 */
/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. */
  minMs: number;
  /** The delay never grows past this, in milliseconds. */
  maxMs: number;
  /** A source of randomness in [0, 1); `Math.random` by default (tests pass a fixed one). */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): exponential growth from `minMs`,
 * capped at `maxMs`, with "equal jitter" (half fixed, half random) so a fleet that failed together
 * does not retry together, while the delay still grows steadily.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}
