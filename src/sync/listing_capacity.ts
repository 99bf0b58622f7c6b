/**
 * How many listed items one pass can hold within the V8 heap the program runs with.
 *
 * A pass keeps every listed item (its path, its id, what fetching it needs) until the listing is
 * proved whole, because nothing may be deleted before. That is some hundreds of bytes an item, and
 * the heap is capped (`src/permissions.ts`): past the cap V8 ends the whole process with a fatal
 * out-of-memory error, in the middle of the pass, pass after pass. The list stage refuses a listing
 * counted (or grown) past this capacity instead, with an error that says what to change.
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
