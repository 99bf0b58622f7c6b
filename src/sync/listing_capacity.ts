/**
 * How many listed items one pass can hold within the V8 heap the program runs with.
 *
 * A pass keeps every listed item (its path, its id, what fetching it needs) until the listing is
 * proved whole, because nothing may be deleted before. That is some hundreds of bytes an item, and
 * the heap is capped (`src/permissions.ts`): past the cap V8 ends the whole process with a fatal
 * out-of-memory error, in the middle of the pass, pass after pass. The list stage refuses a listing
 * counted (or grown) past this capacity instead, with an error that says what to change. The count
 * is measured on short names; what it cannot foresee (long names, a mirror holding many more files
 * than it lists) is caught by the pass stopping itself ({@linkcode passHeapCeiling},
 * {@linkcode assertHeapRoom}, {@linkcode PassHeapError}).
 *
 * @example
 * ```ts
 * import { listingCapacity } from "./listing_capacity.ts";
 *
 * listingCapacity(259 * 1024 * 1024); // what a 256 MB old space (1 MB semi-spaces) holds
 * ```
 *
 * @module
 */
import { getHeapStatistics } from "node:v8";
import { collectGarbageNow } from "../async/heap_guard.ts";

/**
 * Heap bytes allowed per listed item, with a margin. Measured with the production flags (the
 * fresh copy needs the most: every item is also a queued download), items of 16 bytes in 100
 * folders: 300,000 ran out of memory with a 128 MB old space (heap limit 131 MiB, 112 MB still
 * live after V8's last-resort collections); with 256 MB (259 MiB) 400,000 ran to the end and
 * 600,000 ran out (222 MB live): some 370 bytes an item, and V8 gives up short of its limit. 640
 * bytes leave room for longer ids and paths than the benchmark's.
 */
const _HEAP_BYTES_PER_ITEM = 640;

/**
 * The most distinct items one pass may list within a heap of `heapLimitBytes` (by default this
 * isolate's `heap_size_limit`, which the `--max-old-space-size` flag sets).
 */
export function listingCapacity(
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
): number {
  return Math.floor(heapLimitBytes / _HEAP_BYTES_PER_ITEM);
}

/**
 * The live heap past which a pass stops itself (see `startHeapGuard`'s `ceiling`): four fifths of
 * the isolate's limit. The count of items above is measured on short names; long ones (200
 * characters, 7 folders deep), or a mirror holding many more files than it lists, take more a file,
 * and a pass of 300,000 such files ran the heap out at its churn, the whole process with it (every
 * mirror of a module), pass after pass. Above four fifths V8 still collects well enough to end the
 * pass cleanly.
 */
export function passHeapCeiling(
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
): number {
  return Math.floor(heapLimitBytes * 0.8);
}

/**
 * A pass stopped at {@linkcode passHeapCeiling}, or before a stage it had no room for: it would have
 * ended the process out of memory.
 */
export class PassHeapError extends Error {
  /**
   * @param bytes The heap the pass held, or would have needed.
   * @param limitBytes The isolate's heap limit.
   * @param others The other passes running in the process then (a module's mirrors share it).
   */
  constructor(readonly bytes: number, readonly limitBytes: number, others = 0) {
    const mb = (bytes: number) => Math.round(bytes / 1e6);
    const shared = others === 0
      ? ""
      : `, shared with ${others} other pass${
        others === 1 ? "" : "es"
      } of this process's mirrors, the largest of which this is`;
    super(
      "the pass stopped itself: it needs more memory than this program's heap holds (about " +
        `${mb(bytes)} MB of ${mb(limitBytes)} MB${shared}): too many files, or names too long, ` +
        "for one pass: narrow the filter (tags, labels, dataset_id, mime_types, start/end, " +
        "max_age) or split it across several mirrors",
    );
    this.name = "PassHeapError";
  }
}

/**
 * Throws {@linkcode PassHeapError} when the heap has no room left for the stages after the listing,
 * which fold each of the mirror's `local` paths into new strings at once, in turns no timer looks
 * into (so the guard's ceiling cannot stop them): 330,000 local files of 226-character names took
 * the heap from 180 MB to V8's limit there, and the process ended out of memory, pass after pass.
 * Room for each path's characters and 64 bytes a file is asked, under nine tenths of the limit;
 * the heap is collected first only when what it holds, garbage included, leaves too little.
 *
 * `others` (the other passes running in the process) is only told in the error.
 *
 * @example
 * ```ts
 * assertHeapRoom(new Map([["a.jpg", {}]])); // enough room: returns
 * ```
 */
export function assertHeapRoom(
  local: ReadonlyMap<string, unknown>,
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
  others = 0,
): void {
  let need = 0;
  for (const path of local.keys()) need += path.length + 64;
  const room = heapLimitBytes * 0.9;
  let used = getHeapStatistics().used_heap_size;
  if (used + need <= room) return;
  collectGarbageNow();
  used = getHeapStatistics().used_heap_size;
  if (used + need > room) throw new PassHeapError(used + need, heapLimitBytes, others);
}
