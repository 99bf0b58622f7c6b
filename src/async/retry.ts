import { backoffDelay } from "./backoff.ts";
import { classifyError } from "../remote/errors.ts";
import { sleep } from "./sleep.ts";

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Delay before the first retry, in milliseconds. */
  minDelayMs: number;
  /** Cap of the delay between tries, in milliseconds. */
  maxDelayMs: number;
  /** Stops waiting and retrying. */
  signal?: AbortSignal;
  /** Called before each retry, with the error that caused it and the delay chosen. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** A source of randomness for the jitter (tests pass a fixed one). */
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, retrying only transient failures (see `classifyError`) with
 * exponential backoff and jitter. Auth, fatal and abort errors are thrown at once.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || classifyError(error) !== "transient") throw error;
      options.signal?.throwIfAborted();
      const delay = backoffDelay(attempt, {
        minMs: options.minDelayMs,
        maxMs: options.maxDelayMs,
        random: options.random,
      });
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, { signal: options.signal });
    }
  }
}
