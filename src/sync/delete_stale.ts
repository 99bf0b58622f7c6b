import { runPool } from "../async/run_pool.ts";
import type { MirrorDir } from "../fs/mirror_dir.ts";
import type { Logger } from "../logger.ts";
import { describeError } from "../remote/errors.ts";

/**
 * Deletes in flight at once: each `unlink` waits for the device in the thread pool (see
 * `MirrorDir.remove`), and a few at once overlap those waits.
 */
const _DELETES_AT_ONCE = 8;

/** Options of {@linkcode deleteStale}. */
export interface DeleteStaleOptions {
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
}

/**
 * The delete stage: removes the planned stale files, {@linkcode _DELETES_AT_ONCE} at a time (a
 * failure is logged and the rest go on). The caller runs it only after a listing proved whole and
 * past the plan's guards, and prunes the emptied folders once no download is in flight (`prune`:
 * a folder may be about to receive one). Nothing here writes a byte, so it runs on a full disk too.
 */
export async function deleteStale(
  mirror: MirrorDir,
  deletes: string[],
  options: DeleteStaleOptions,
): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: 0, failed: 0 };
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
    { concurrency: _DELETES_AT_ONCE, signal: options.signal },
  );
  options.signal?.throwIfAborted();
  return result;
}
