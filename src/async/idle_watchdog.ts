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
  /** When the timer is due (`performance.now()`). */
  #dueMs = 0;
  /** Whether a late timer gave this wait its one grace already (see `#check`). */
  #graced = false;

  /** `onIdle` is called once, with what was watched and for how long, when it went quiet. */
  constructor(onIdle: (what: string, ms: number) => void) {
    this.#onIdle = onIdle;
  }

  /** From now on, `what` may go `ms` without progress. */
  watch(ms: number, what: string): void {
    this.#watched = { ms, what };
    this.progress();
    this.#arm(ms);
  }

  /** Something moved: the wait starts again. */
  progress(): void {
    this.#lastMs = performance.now();
    this.#paused = false;
    this.#graced = false;
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

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#dueMs = performance.now() + ms;
    this.#timer = setTimeout(() => this.#check(), ms);
  }

  #check(): void {
    const watched = this.#watched;
    if (watched === undefined) return;
    // A timer that fires far past its time means the process did not run (stopped by SIGSTOP,
    // starved, swapped out): what arrived meanwhile waits unread in the socket, and this timer ran
    // first. It is let in (a second, at most half the wait) before the stream is called stalled;
    // once a wait, so that a process starved for good still finds a dead stream.
    const slack = Math.min(1_000, watched.ms / 2);
    if (!this.#graced && performance.now() - this.#dueMs > slack) {
      this.#graced = true;
      this.#arm(slack);
      return;
    }
    const idle = performance.now() - this.#lastMs;
    if (!this.#paused && idle >= watched.ms) {
      this.#watched = undefined;
      this.#onIdle(watched.what, watched.ms);
      return;
    }
    this.#arm(this.#paused ? watched.ms : watched.ms - idle);
  }
}
