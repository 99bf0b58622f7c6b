/**
 * The Levenshtein distance between two words, for the "did you mean" of a misspelt command,
 * option or attribute.
 *
 * @example
 * ```ts
 * editDistance("synk", "sync"); // 1
 * ```
 *
 * @module
 */

/** How many one-letter insertions, deletions or substitutions turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}
