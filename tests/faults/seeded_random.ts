/**
 * A seeded random generator (mulberry32), so that a failing randomized row can be replayed with
 * its seed.
 *
 * @module
 */

/** Uniform draws in [0, 1), integers and picks, from one seed. */
export class SeededRandom {
  #state: number;

  /** @param seed Any integer; the same seed gives the same draws. */
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A draw in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

/** A seed from the environment (`FAULTS_SEED`) or the clock, printed by the rows that use it. */
export function defaultSeed(): number {
  const fromEnv = Number(Deno.env.get("FAULTS_SEED"));
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : Date.now() % 1_000_000_007;
}
