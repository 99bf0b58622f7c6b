/**
 * Where a push sends its files, as one short key the push journal keeps beside every upload it
 * records (sent, in flight, refused). What the journal says of a file holds for that destination
 * only: a file kept after an upload to one platform, part or set of tags was deleted by a later run
 * pointed elsewhere ("the platform has it"), though the new destination never received it, and a
 * refusal for a dataset id since corrected kept the file waiting for a change of its own.
 *
 * @example
 * ```ts
 * const to = pushDestination({ appUrl: "https://app.viam.com", partId: "p1", tags: ["b", "a"], datasetIds: [] });
 * isSameDestination(to, pushDestination({ appUrl: "https://app.viam.com", partId: "p1", tags: ["a", "b"], datasetIds: [] })); // true
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/** What decides where an upload lands and which mirrors it reaches. */
export interface PushTarget {
  /** The platform (`app_url`). */
  appUrl: string;
  /** The machine part the uploads belong to (and so the organization and location). */
  partId: string;
  /** `push_tags`: what a mirror filters on. */
  tags: readonly string[];
  /** `push_dataset_ids`. */
  datasetIds: readonly string[];
}

/**
 * The destination's key: 16 hex digits of a SHA-256 over the platform, the part, and the tags and
 * datasets as sets (their order changes nothing). Short because every journal entry holds one (a
 * kept folder of 100,000 files), and a digest rather than the values, which need not be read back.
 */
export function pushDestination(target: PushTarget): string {
  const set = (values: readonly string[]) => [...new Set(values)].sort();
  const text = JSON.stringify([
    target.appUrl,
    target.partId,
    set(target.tags),
    set(target.datasetIds),
  ]);
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * Whether a journal record (`recorded`: its destination key) speaks for uploads to `current`. A
 * record without one was written before destinations were kept, by the configuration of that time:
 * it counts as this one's (sending a kept folder again on an upgrade would duplicate every file).
 */
export function isSameDestination(recorded: string | undefined, current: string): boolean {
  return recorded === undefined || recorded === current;
}
