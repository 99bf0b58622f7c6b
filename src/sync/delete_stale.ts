import { setImmediate } from "node:timers/promises";
import type { MirrorDir } from "../fs/mirror_dir.ts";
import type { Logger } from "../logger.ts";
import { describeError } from "../remote/errors.ts";

/**
 * Deletes between two turns of the event loop. Each is a synchronous `lstat` and `unlink` (tens of
 * microseconds), so a few hundred keep a module's gRPC answers and the progress line going during a
 * large delete.
 */
const _DELETES_PER_TURN = 256;

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
 * The delete stage: removes the planned stale files one after another (a failure is logged and the
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
  for (const [i, path] of deletes.entries()) {
    if (i % _DELETES_PER_TURN === 0) await setImmediate();
    options.signal?.throwIfAborted();
    try {
      if (mirror.remove(path)) {
        result.deleted++;
        options.logger.info(`deleted ${path}`);
      }
    } catch (error) {
      result.failed++;
      options.logger.error(`failed to delete ${path}`, { error: describeError(error) });
    }
  }
  options.signal?.throwIfAborted();
  const pruned = await mirror.prune(options.protectedDirs);
  for (const dir of pruned) options.logger.debug(`removed empty directory ${dir}`);
  result.pruned = pruned.length;
  return result;
}
