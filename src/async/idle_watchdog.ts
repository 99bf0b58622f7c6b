/**
 * Calls back when nothing progressed for a while: the stall guard of a stream (a download body, an
 * upload). Progress costs an assignment, not a timer: the one timer, when it fires early, sleeps
 * again for what is left (re-arming a timer per chunk took a tenth of a large transfer's CPU).
 *
 * @example
 * ```ts
 * const watchdog = new IdleWatchdog((what, ms) => controller.abort(new Error(`${what}: ${ms} ms`)));
 * watchdog.watch(60_000, "download body");
 * for await (const chunk of body) watchdog.progress();
 * watchdog.stop();
 * ```
 *
 * @module
 */

/** A stall guard with one lazy timer. */
export class IdleWatchdog {
  readonly #onIdle: (what: string, ms: number) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #watched: { ms: number; what: string } | undefined;
  #lastMs = 0;
  #paused = false;

  /** `onIdle` is called once, with what was watched and for how long, when it went quiet. */
  constructor(onIdle: (what: string, ms: number) => void) {
    this.#onIdle = onIdle;
  }

  /** From now on, `what` may go `ms` without progress. */
  watch(ms: number, what: string): void {
    this.#watched = { ms, what };
    this.progress();
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#check(), ms);
  }

  /** Something moved: the wait starts again. */
  progress(): void {
    this.#lastMs = performance.now();
    this.#paused = false;
  }

  /** Until the next `progress`, waiting is not a stall (a bandwidth limiter's wait). */
  pause(): void {
    this.#paused = true;
  }

  /** Watches no more. */
  stop(): void {
    this.#watched = undefined;
    clearTimeout(this.#timer);
  }

  #check(): void {
    const watched = this.#watched;
    if (watched === undefined) return;
    const idle = performance.now() - this.#lastMs;
    if (!this.#paused && idle >= watched.ms) {
      this.#watched = undefined;
      this.#onIdle(watched.what, watched.ms);
      return;
    }
    this.#timer = setTimeout(() => this.#check(), this.#paused ? watched.ms : watched.ms - idle);
  }
}
