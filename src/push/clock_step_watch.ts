/**
 * Notices the wall clock stepping forward, so that push's settle time is not fooled by it. The
 * settle time is a file's age on the wall clock (its modification time against now): when NTP puts
 * right the clock of a robot without a real-time clock, soon after it boots, a file still being
 * written looks as old as the step, and was uploaded and deleted under its writer. A step shows as
 * a jump in the difference between the wall clock and the monotonic one; a file last changed
 * before a step then counts as settled only once it has stayed so for the settle time of real
 * (monotonic) time since the step was seen. A process that started after the step cannot tell: a
 * long-running one (the module, `sync --watch`) keeps one watch for all its passes.
 *
 * @example
 * ```ts
 * const steps = new ClockStepWatch();
 * // before deciding a file is settled:
 * if (!steps.settled(file.mtimeMs, 60_000)) console.log("still settling");
 * ```
 *
 * @module
 */

/** Options of {@linkcode ClockStepWatch}. */
export interface ClockStepWatchOptions {
  /** A jump of the wall clock ahead of the monotonic one larger than this is a step (default 5 s). */
  toleranceMs?: number;
  /** The wall clock, epoch ms (tests). */
  wall?: () => number;
  /** The monotonic clock, ms (tests). */
  monotonic?: () => number;
}

/** Default {@linkcode ClockStepWatchOptions.toleranceMs}: far above NTP's slewing between passes. */
const _TOLERANCE_MS = 5_000;

/** Forward steps of the wall clock, seen across the passes of one process. */
export class ClockStepWatch {
  readonly #wall: () => number;
  readonly #monotonic: () => number;
  readonly #toleranceMs: number;
  #offsetMs: number;
  /** The last forward step seen: the wall and monotonic times when it was seen. */
  #step: { wallMs: number; monotonicMs: number } | undefined;

  constructor(options: ClockStepWatchOptions = {}) {
    this.#wall = options.wall ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#toleranceMs = options.toleranceMs ?? _TOLERANCE_MS;
    this.#offsetMs = this.#wall() - this.#monotonic();
  }

  /**
   * Whether a file last changed at `lastChangeMs` (wall clock) has been unchanged for `minAgeMs`
   * of real time, as far as steps go: false for a change made before a forward step seen less than
   * `minAgeMs` ago. (Its wall-clock age is the caller's check.)
   */
  settled(lastChangeMs: number, minAgeMs: number): boolean {
    this.#look();
    const step = this.#step;
    if (step === undefined || lastChangeMs >= step.wallMs) return true;
    return this.#monotonic() - step.monotonicMs >= minAgeMs;
  }

  /** Notes a forward step since the last look (a step back, or slewing, only moves the offset). */
  #look(): void {
    const wall = this.#wall();
    const monotonic = this.#monotonic();
    const offset = wall - monotonic;
    if (offset - this.#offsetMs > this.#toleranceMs) {
      this.#step = { wallMs: wall, monotonicMs: monotonic };
    }
    this.#offsetMs = offset;
  }
}
