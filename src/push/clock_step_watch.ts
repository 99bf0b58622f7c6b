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

/**
 * How often the process's watch ({@linkcode processClockSteps}) reads the clocks, and the jump it
 * takes for a step then: chrony slews at most 83 ms a second, and steps offsets above 1 s at boot
 * (`makestep 1 3`). Read only at the passes, a step of up to 5 s went unseen (slewing between
 * passes a minute apart reaches that): a 4 s step aged every file by 4 s, and a file its writer
 * wrote 7 s before was sent and deleted under it.
 */
const _SAMPLE_MS = 1_000;
const _SAMPLED_TOLERANCE_MS = 500;

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

  /**
   * Reads the clocks every `everyMs` from now on (a timer that keeps no process alive), so that a
   * step shows apart from slewing: with a tolerance below what slewing moves the clock in that time.
   */
  sample(everyMs: number): void {
    this.#look();
    Deno.unrefTimer(setInterval(() => this.#look(), everyMs));
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

/** The process's one watch (see {@linkcode processClockSteps}). */
let _processWatch: ClockStepWatch | undefined;

/**
 * The one watch of the process, made at the first call: the module calls it as it starts, before
 * its engine loads with the first resource, so that a step between the start and the first push
 * folder configured (the cloud's config arriving as NTP sets the clock) is seen too.
 */
export function processClockSteps(): ClockStepWatch {
  if (_processWatch === undefined) {
    _processWatch = new ClockStepWatch({ toleranceMs: _SAMPLED_TOLERANCE_MS });
    _processWatch.sample(_SAMPLE_MS);
  }
  return _processWatch;
}
