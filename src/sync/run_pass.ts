import type { MirrorConfig } from "../config.ts";
import { acquireMirrorLock } from "../fs/mirror_lock.ts";
import { listLocalFiles } from "../fs/local_files.ts";
import { StagingArea } from "../fs/staging.ts";
import type { Logger } from "../logger.ts";
import type { DryRunReport } from "../mirror_controller.ts";
import type { ItemBackoff } from "../async/item_backoff.ts";
import { type Download, type Plan, planPass } from "./plan.ts";
import type { ListFilter, RemoteSource } from "../remote/remote_source.ts";
import { classifyError, describeError } from "../remote/errors.ts";
import { emptySummary, type Summary } from "./summary.ts";
import { deleteStale } from "./delete_stale.ts";
import { type ListingResult, listRemote } from "./list_remote.ts";
import { type TransferDeps, transferFiles, type TransferProgress } from "./transfer_files.ts";

/** How many paths a dry run, or failures a pass, lists by name; counts stay exact. */
const _LIST_CAP = 1000;

/** Options of {@linkcode runPass}. */
export interface PassOptions {
  /** Where the pass reports what it does. */
  logger: Logger;
  /** Cancels the pass; files in flight stay in staging, never under a final name. */
  signal?: AbortSignal;
  /** Names this process in the mirror lock, for the message another one gets. */
  owner?: string;
  /** Called as the transfer advances. */
  onProgress?: (progress: TransferProgress) => void;
  /** Overrides of the transfer's side effects (free space), for tests. */
  transfer?: Partial<Pick<TransferDeps, "space">>;
  /** Tries per listing page and per file (defaults 5 and 4). */
  attempts?: { page?: number; file?: number };
  /** Delay before the first retry, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /** A download body that sends nothing for this long is retried, in milliseconds (default 60 s). */
  idleTimeoutMs?: number;
  /**
   * Items that failed in earlier passes and when each may be tried again (the loop keeps one);
   * without it every planned item is tried.
   */
  itemBackoff?: ItemBackoff;
}

/** What one pass did. */
export interface PassResult {
  /** The counts. */
  summary: Summary;
  /** True when the listing completed without error. */
  listingComplete: boolean;
  /** Why the pass as a whole failed (listing cut short), if it did. */
  error?: string;
  /** A safety guard that held work back (empty listing with delete, free-space reserve). */
  guard?: string;
  /** Files that failed, with why (capped). */
  failures: { path: string; error: string }[];
}

/**
 * One sync pass, as visible stages: list the platform, walk the mirror, plan, transfer, delete.
 * Runs under the mirror's lock, so a CLI run and a module never write one mirror at once.
 */
export async function runPass(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
): Promise<PassResult> {
  const started = performance.now();
  const { logger, signal } = options;
  const lock = await acquireMirrorLock(config.mirrorRoot, { owner: options.owner });
  try {
    const { plan, listing } = await _listAndPlan(config, remote, options);
    const summary: Summary = {
      ...emptySummary(),
      listed: listing.index.listed,
      skipped: plan.skipped,
      duplicate: listing.index.duplicates,
      rejected: listing.index.rejected,
    };
    for (const { binaryDataId, reason } of listing.index.rejections) {
      logger.warn(`not writing ${binaryDataId}: ${reason}`);
    }
    for (const conflict of plan.conflicts) {
      logger.error(`cannot write ${conflict.path}: ${conflict.reason}`);
    }

    const staging = await StagingArea.open(config.mirrorRoot);
    if (listing.complete) {
      await staging.discardStale(new Set(plan.downloads.map((d) => d.item.binaryDataId)));
    }
    const backoff = options.itemBackoff;
    const due = backoff
      ? plan.downloads.filter((d) => backoff.isDue(d.item.binaryDataId))
      : plan.downloads;
    const waiting = plan.downloads.length - due.length;
    if (waiting > 0) logger.info(`${waiting} failing item(s) wait for their next retry`);
    const transfer = await transferFiles(due, {
      remote,
      staging,
      ...options.transfer,
    }, {
      root: config.mirrorRoot,
      concurrency: config.concurrency,
      reservePercent: config.freeSpaceReservePercent,
      logger,
      signal,
      onProgress: options.onProgress,
      attempts: options.attempts?.file,
      minRetryDelayMs: options.minRetryDelayMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    summary.downloaded = transfer.downloaded;
    summary.skipped += transfer.skipped;
    summary.bytes = transfer.bytes;
    // Items still waiting to be retried are not mirrored either: they count as failed.
    summary.failed = transfer.failures.length + plan.conflicts.length + waiting;
    if (backoff) _recordItems(backoff, due, transfer.failures, listing);

    if (config.delete && plan.deletes.length > 0 && !plan.deleteBlocked) {
      const deleted = await deleteStale(config.mirrorRoot, plan.deletes, {
        protectedDirs: config.protectedDirs,
        logger,
        signal,
      });
      summary.deleted = deleted.deleted;
      summary.failed += deleted.failed;
    }
    if (plan.deleteBlocked) logger.warn(`not deleting: ${plan.deleteBlocked}`);
    summary.durationMs = Math.round(performance.now() - started);
    const guard = transfer.spaceGuard ?? (config.delete ? plan.deleteBlocked : undefined);
    return {
      summary,
      listingComplete: listing.complete,
      error: listing.error,
      guard,
      failures: [
        ...plan.conflicts.map((c) => ({ path: c.path, error: c.reason })),
        ...transfer.failures.map((f) => ({ path: f.path, error: f.error })),
      ].slice(0, _LIST_CAP),
    };
  } finally {
    await lock.release();
  }
}

/** Lists and plans without changing anything: what a pass would download and delete. */
export async function dryRunPass(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
): Promise<DryRunReport> {
  const { plan, listing } = await _listAndPlan(config, remote, options);
  const deleteBlocked = listing.error
    ? `the listing did not complete (${listing.error})`
    : plan.deleteBlocked;
  const deletes = config.delete && !deleteBlocked ? plan.deletes : [];
  return {
    listed: listing.index.listed,
    skipped: plan.skipped,
    duplicate: listing.index.duplicates,
    rejected: listing.index.rejected,
    downloadCount: plan.downloads.length,
    downloadBytes: plan.downloads.reduce((sum, d) => sum + (d.item.sizeBytes ?? 0), 0),
    deleteCount: deletes.length,
    downloads: plan.downloads.slice(0, _LIST_CAP).map((d) => d.path),
    deletes: deletes.slice(0, _LIST_CAP),
    deleteBlocked: config.delete ? deleteBlocked : undefined,
    error: listing.error,
  };
}

function _recordItems(
  backoff: ItemBackoff,
  tried: Download[],
  failures: { binaryDataId: string }[],
  listing: ListingResult,
): void {
  const failed = new Set(failures.map((f) => f.binaryDataId));
  for (const { item } of tried) {
    if (failed.has(item.binaryDataId)) backoff.failed(item.binaryDataId);
    else backoff.succeeded(item.binaryDataId);
  }
  if (listing.complete) {
    backoff.retain(new Set([...listing.index.entries().values()].map((i) => i.binaryDataId)));
  }
}

async function _listAndPlan(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
): Promise<{ plan: Plan; listing: ListingResult }> {
  const filter = { tags: config.tags, labels: config.labels, datasetId: config.datasetId };
  const listing = await listRemote(remote, filter, {
    logger: options.logger,
    signal: options.signal,
    attemptsPerPage: options.attempts?.page,
    minRetryDelayMs: options.minRetryDelayMs,
  });
  if (listing.error) options.logger.error(`listing incomplete: ${listing.error}`);
  const local = await listLocalFiles(config.mirrorRoot);
  const plan = planPass({
    remote: listing.index.entries(),
    local,
    listingComplete: listing.complete,
    deleteEnabled: config.delete,
    allowDeleteAll: config.allowDeleteAll,
    protectedDirs: config.protectedDirs,
  });
  if (plan.deletes.length === 0) return { plan, listing };
  const shortfall = await _listingShortfall(remote, filter, listing.index.listed, options);
  if (shortfall === undefined) return { plan, listing };
  return { plan: { ...plan, deletes: [], deleteBlocked: shortfall }, listing };
}

/**
 * Before anything is deleted, asks the platform how many items the filter matches: a listing that
 * ended early on an empty page looks complete, and would otherwise delete whatever it missed.
 * Returns why deletion must wait, or undefined when the listing holds everything.
 */
async function _listingShortfall(
  remote: RemoteSource,
  filter: ListFilter,
  listed: number,
  options: PassOptions,
): Promise<string | undefined> {
  let count: number;
  try {
    count = await remote.count(filter, { signal: options.signal });
  } catch (error) {
    if (classifyError(error) === "aborted") throw error;
    return `could not confirm the listing is whole (${describeError(error)})`;
  }
  return count > listed
    ? `the listing returned ${listed} items but the platform counts ${count}: not deleting until ` +
      `a pass lists them all`
    : undefined;
}
