import type { MirrorDir } from "../fs/mirror_dir.ts";
import type { Logger } from "../logger.ts";
import { runPool } from "../async/run_pool.ts";
import { describeError } from "../remote/errors.ts";

/** Unlinks in flight at once. */
const _DELETES_IN_FLIGHT = 8;

/** Options of {@linkcode deleteStale}. */
export interface DeleteStaleOptions {
  /** Directories never pruned (normalised, relative). */
  protectedDirs: string[];
  /** Where each deletion and failure is reported. */
  logger: Logger;
  /** Stops between deletions. */
  signal?: AbortSignal;
}

/** The outcome of the delete stage. */
export interface DeleteResult {
  /** Files removed. */
  deleted: number;
  /** Files that could not be removed. */
  failed: number;
  /** Empty directories pruned. */
  pruned: number;
}

/**
 * The delete stage: removes the planned stale files, a few at a time (a failure is logged and the
 * rest go on), then prunes empty directories, never the root, the state dir or a protected dir.
 * The caller runs it only after a listing proved whole and past the plan's guards. Nothing here
 * writes a byte, so it runs on a full disk too.
 */
export async function deleteStale(
  mirror: MirrorDir,
  deletes: string[],
  options: DeleteStaleOptions,
): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: 0, failed: 0, pruned: 0 };
  // A few at a time: each unlink is a trip through the thread pool and a permission check.
  await runPool(
    deletes.map((path) => async () => {
      try {
        if (await mirror.remove(path)) {
          result.deleted++;
          options.logger.info(`deleted ${path}`);
        }
      } catch (error) {
        result.failed++;
        options.logger.error(`failed to delete ${path}`, { error: describeError(error) });
      }
    }),
    { concurrency: _DELETES_IN_FLIGHT, signal: options.signal },
  );
  options.signal?.throwIfAborted();
  const pruned = await mirror.prune(options.protectedDirs);
  for (const dir of pruned) options.logger.debug(`removed empty directory ${dir}`);
  result.pruned = pruned.length;
  return result;
}
