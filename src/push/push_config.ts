/**
 * The push attributes, as `parseConfig` in `src/config.ts` will produce them (the cli helper adds
 * them there with exactly this shape; until that lands this file holds the interface, and then it
 * becomes a type re-export).
 *
 * @example
 * ```ts
 * const push: PushConfig = {
 *   pushPath: "outbox",
 *   pushRoot: "/home/pi/.viam/outbox",
 *   tags: ["fleet"],
 *   datasetIds: [],
 *   keep: false,
 *   minAgeSeconds: 10,
 * };
 * ```
 *
 * @module
 */

/** What to push and how. */
export interface PushConfig {
  /** The push folder as configured, relative to the Viam home (for messages). */
  pushPath: string;
  /** The push folder: absolute, under the Viam home. */
  pushRoot: string;
  /** Tags every uploaded file gets. */
  tags: string[];
  /** Datasets every uploaded file is added to. */
  datasetIds: string[];
  /** Keep files after upload (and remember them) instead of deleting them. */
  keep: boolean;
  /** Files modified less than this many seconds ago are left for a later pass (settle time). */
  minAgeSeconds: number;
}
