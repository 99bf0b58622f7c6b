/**
 * "The limit": how fast a pass could be if only the network counted (the per-request latency and
 * the loopback bandwidth), with no CPU cost at all. Two floors:
 *
 * - {@linkcode callFloorSeconds}, from the calls a run actually made: the calls that must come one
 *   after another (`Authenticate`, every `BinaryDataByFilter` page including `count_only`, dataset
 *   look-ups) in sequence, the transfer calls (`BinaryDataByIDs`, signed URLs, downloads) spread
 *   over the concurrency, then the bytes at loopback speed. It says what this run's call pattern
 *   allows; an engine that lists in parallel can beat it.
 * - {@linkcode idealFloorSeconds}, from the change alone: one `Authenticate`, one `count_only`, the
 *   listing pages (100 items each) spread over the concurrency, small files in batches of up to
 *   4 MiB (what one call may carry) and each large file in one download, spread over the
 *   concurrency, then the bytes. Stages are not overlapped, so an engine can come close to it but
 *   hardly below.
 *
 * @example
 * ```ts
 * const network = { latencyMs: 20, concurrency: 8, bytesPerSecond: 2e9 };
 * callFloorSeconds({ calls: platformCalls, bytes: 495e6 }, network);
 * idealFloorSeconds({ listed: 10_020, smallFiles: 10_000, smallBytes: 327e6, largeFiles: 20 }, network);
 * ```
 *
 * @module
 */

/** What the network allows. */
export interface Network {
  /** Latency added to every request, in milliseconds. */
  latencyMs: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Loopback bandwidth. */
  bytesPerSecond: number;
}

/** Calls that one pass makes one after another (a paged listing follows its cursor). */
const _SERIAL_CALLS = new Set([
  "Authenticate",
  "BinaryDataByFilter",
  "ListDatasetsByIDs",
  "ListDatasetsByOrganizationID",
]);

/** Items per listing page (the platform's maximum). */
const _PAGE_ITEMS = 100;
/** Bytes one `BinaryDataByIDs` call may carry (gRPC's default message limit). */
const _BATCH_BYTES = 4 * 1024 * 1024;

/** The floor of a run's own call pattern, in seconds. */
export function callFloorSeconds(
  run: { calls: Readonly<Record<string, number>>; bytes: number },
  network: Network,
): number {
  let serial = 0;
  let spread = 0;
  for (const [name, count] of Object.entries(run.calls)) {
    if (_SERIAL_CALLS.has(name)) serial += count;
    else spread += count;
  }
  const rounds = serial + Math.ceil(spread / network.concurrency);
  return (rounds * network.latencyMs) / 1000 + run.bytes / network.bytesPerSecond;
}

/** What a pass has to do: list, and fetch what is missing. */
export interface Change {
  /** Items the listing returns. */
  listed: number;
  /** Small files (inline-sized) to fetch. */
  smallFiles: number;
  /** Their total size. */
  smallBytes: number;
  /** Large files to fetch (one download each). */
  largeFiles: number;
  /** Total bytes to fetch (small and large). */
  bytes: number;
}

/** The floor of the best call pattern for a change, in seconds. */
export function idealFloorSeconds(change: Change, network: Network): number {
  const pages = Math.max(1, Math.ceil(change.listed / _PAGE_ITEMS));
  const batches = change.smallFiles === 0 ? 0 : Math.ceil(change.smallBytes / _BATCH_BYTES);
  const rounds = 2 + Math.ceil(pages / network.concurrency) +
    Math.ceil((batches + change.largeFiles) / network.concurrency);
  return (rounds * network.latencyMs) / 1000 + change.bytes / network.bytesPerSecond;
}
