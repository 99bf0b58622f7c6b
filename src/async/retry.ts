/**
 * Retries of one call with growing, jittered delays ({@linkcode retry}), the schedule every call of a
 * pass uses ({@linkcode CALL_RETRY}), and an abortable sleep.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";
import { backoffDelay } from "./backoff.ts";

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Delay before the first retry, in milliseconds. */
  minDelayMs: number;
  /** Cap of the delay between tries, in milliseconds. */
  maxDelayMs: number;
  /**
   * Tries in all once they end by timing out (`isTimeout`), each having waited out its call's
   * whole timeout: default `attempts`.
   */
  timeoutAttempts?: number;
  /** Whether a failure is the call's timeout (no answer, or none for that long). */
  isTimeout?: (error: unknown) => boolean;
  /** Whether a failure is worth another try (a dropped connection is; a refused key is not). */
  isRetriable: (error: unknown) => boolean;
  /** Stops waiting and retrying: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called before each retry, with the error that caused it and the delay chosen. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** A source of randomness for the jitter (tests pass a fixed one). */
  random?: () => number;
}

/**
 * The retry schedule of a pass's calls to the platform (listing pages, counts, inline batches,
 * downloads): 8 tries, the delays growing from 500 ms and held at 4 s, so a call is given up about
 * 10-20 s after it first failed (it was 4-8 s). With 5 tries, a platform refusing 30% of calls at
 * random made one call in 400 fail five times running: a pass of a few dozen calls failed now and
 * then (fault row 4, seed 200266417: its listing gave up), one of 250 calls about half the time.
 * 8 tries leave one call in 15,000 failing; rclone retries each call 10 times. But a call that
 * times out twice (60 s each without an answer, or without a byte once its answer began) is given
 * up: a platform that takes the connection and never answers (a firewall, a proxy, a half-open
 * link) made a pass or a push take 8 minutes to fail, saying one word, before 2026-12-07. A
 * dropped connection is no timeout: a large download resumes through its 8 tries.
 */
export const CALL_RETRY: Readonly<
  Pick<RetryOptions, "attempts" | "minDelayMs" | "maxDelayMs" | "timeoutAttempts">
> = Object.freeze({ attempts: 8, minDelayMs: 500, maxDelayMs: 4_000, timeoutAttempts: 2 });

/** Where {@linkcode logRetries} tells of retries (a `Logger`'s two levels it uses). */
export interface RetryLog {
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/**
 * An `onRetry` that tells of a call's first retry as a warning and of later ones at debug (the
 * caller reports a final failure itself): a platform down for a while says so once a call, not
 * once a try (some 20 warnings in 12 s when it was unreachable). `describe` words the error.
 */
export function logRetries(
  log: RetryLog,
  what: string,
  describe: (error: unknown) => string,
): NonNullable<RetryOptions["onRetry"]> {
  return (error, attempt, delayMs) => {
    const message = `${what} failed, retrying in ${delayMs} ms`;
    const fields = { attempt, error: describe(error) };
    if (attempt === 1) log.warn(message, fields);
    else log.debug(message, fields);
  };
}

/**
 * Runs `fn` until it succeeds, retrying the failures `isRetriable` accepts with exponential backoff
 * and jitter ({@linkcode backoffDelay}); any other failure is thrown at once.
 *
 * @example
 * ```ts
 * const page = await retry(() => remote.listPage(filter, last), {
 *   attempts: 5, minDelayMs: 500, maxDelayMs: 30_000,
 *   isRetriable: (error) => remote.classify(error) === "transient",
 * });
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  let timeouts = 0;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isRetriable(error)) throw error;
      if (options.isTimeout?.(error) && ++timeouts >= (options.timeoutAttempts ?? Infinity)) {
        throw error;
      }
      options.signal?.throwIfAborted();
      const ms = backoffDelay(attempt, {
        minMs: options.minDelayMs,
        maxMs: options.maxDelayMs,
        random: options.random,
      });
      options.onRetry?.(error, attempt, ms);
      await abortableDelay(ms, options.signal);
    }
  }
}

/**
 * Resolves after `ms` milliseconds; rejects with the signal's own reason (not a generic
 * `AbortError`) as soon as it aborts, so that callers see why they were stopped.
 */
export async function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  // A timer longer than 2^31 - 1 ms fires after 1 ms instead (with a warning): a bandwidth limit of
  // 1 byte a second, booking a 3 MiB batch, limited nothing. A longer wait goes in parts.
  for (let left = ms;;) {
    const part = Math.min(left, _LONGEST_TIMER_MS);
    try {
      await delay(part, undefined, { signal });
    } catch (error) {
      signal?.throwIfAborted();
      throw error;
    }
    left -= part;
    if (left <= 0) return;
  }
}

/** The longest delay a timer keeps (a signed 32-bit count of milliseconds). */
const _LONGEST_TIMER_MS = 2 ** 31 - 1;
