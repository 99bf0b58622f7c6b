/**
 * The `bandwidth_limit` attribute and `--bwlimit` flag at work: one pacer that every transfer of a
 * pass (listing pages, inline batches, uri downloads, uploads) reports its bytes to.
 *
 * @module
 */
import type { MirrorConfig } from "../config.ts";
import { abortableDelay } from "./retry.ts";

/**
 * Paces transfers to a number of bytes per second, shared by everything in flight (robots on LTE
 * share one link). Each transfer reports its bytes as they move ({@linkcode BandwidthLimit.take});
 * the limit books them on a single timeline and makes the caller wait until the link would have
 * carried them at the set rate. Waiting in the reader of a response body stops reading, and TCP
 * back-pressure then slows the sender: the limit holds for streamed bodies as for whole messages.
 *
 * A short burst (a quarter second's worth) is allowed, so that small transfers are not delayed one
 * by one and the average rate still holds over any longer span.
 *
 * @example
 * ```ts
 * const limit = new BandwidthLimit(512 * 1024);
 * for await (const chunk of body) {
 *   await limit.take(chunk.length, signal);
 *   await file.write(chunk);
 * }
 * ```
 */
export class BandwidthLimit {
  readonly #bytesPerMs: number;
  readonly #burstMs = 250;
  /** When the bytes booked so far will have gone through at the set rate (performance.now()). */
  #freeAt = 0;

  /** @param bytesPerSecond The rate, above 0. */
  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(`bandwidth limit must be a positive number, got ${bytesPerSecond}`);
    }
    this.#bytesPerMs = bytesPerSecond / 1000;
  }

  /** Books `bytes` on the link and resolves when the caller may go on. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    this.#freeAt = Math.max(this.#freeAt, now - this.#burstMs) + bytes / this.#bytesPerMs;
    const wait = this.#freeAt - now;
    return wait > 0 ? abortableDelay(Math.ceil(wait), signal) : Promise.resolve();
  }

  /**
   * Books `bytes` that have already moved, without waiting: the transfers after them wait for
   * them. For what is known only once it has come (an inline answer's metadata beside the files'
   * bytes booked ahead).
   */
  bookMoved(bytes: number): void {
    if (!(bytes > 0)) return;
    this.#freeAt = Math.max(this.#freeAt, performance.now() - this.#burstMs) +
      bytes / this.#bytesPerMs;
  }

  /**
   * Gives back `bytes` booked by a `take` that never moved them (a call refused before its answer
   * came), so that they are not counted again when they go another way: the link stays at the set
   * rate, not below it.
   */
  giveBack(bytes: number): void {
    this.#freeAt -= bytes / this.#bytesPerMs;
  }
}

/**
 * The limiter `bandwidth_limit` asks for, if any (0: none). Here, not in the sync pass, so that
 * `push` and the loop get it without loading the sync engine.
 */
export function bandwidthLimitOf(
  config: Pick<MirrorConfig, "bandwidthLimit">,
): BandwidthLimit | undefined {
  return config.bandwidthLimit > 0 ? new BandwidthLimit(config.bandwidthLimit) : undefined;
}
