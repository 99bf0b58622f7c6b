/**
 * The delete stage: the stale files a pass decided on, removed a few at a time through the mirror
 * (never through a symlink), each deletion and failure logged and counted.
 *
 * @module
 */
import { runPool } from "../async/run_pool.ts";
import type { MirrorDir } from "../fs/mirror_dir.ts";
import type { Logger } from "../logger.ts";
import { describeError } from "../remote/errors.ts";

/**
 * Deletes in flight at once: each `unlink` waits for the device in the thread pool (see
 * `MirrorDir.remove`), and several at once overlap those waits, also while the program's thread is
 * busy with the transfer's last files and the manifest. Measured on this project's VM (disk mounted
 * with `discard`): 1,000 unlinks alone took 350-390 ms one at a time, 170-188 ms eight at a time,
 * 148-150 ms 32 at a time; in a churn pass (1,000 deletes, page cache dropped, eight pairs
 * alternated over two series) the delete stage ended 266-455 ms after the listing at 8 (median
 * 374), 194-398 ms at 32 (median 299, shorter in every pair), and 284-333 ms at 64 (four rounds).
 * The pool's threads are started as needed and end when idle. Since each file is first moved
 * into the state folder on the program's thread (`MirrorDir.remove`), 1,000 deletes at 32 took
 * 94-159 ms against 38-59 (2026-12-05, page cache dropped, six alternated pairs); with a folder's
 * files checked together (`_FILES_PER_LOOK`), 64-127 ms (median 90) against 139-161 (median 146)
 * one by one (10 deletes in each of 100 folders, page cache dropped, eight alternated pairs).
 */
const _DELETES_AT_ONCE = 32;

/**
 * Files of one folder moved into the state folder together (see `MirrorDir.removeAll`): one pair of
 * looks at the folders on their way for all of them, not one per file. Bounded so that the run of
 * renames after those looks stays short (see `MirrorDir`'s `#moveAsideAll` for why its length
 * matters). Each look is an `lstat` of every folder from the root down (`node:fs`, for the change
 * time in ns: ~14 µs each here, against ~2.5 µs for `Deno.lstat`).
 */
const _FILES_PER_LOOK = 16;

/**
 * `deletes` in groups of at most {@linkcode _FILES_PER_LOOK} files of one folder each, the folders in
 * the order their first file comes, and the files of each in their order.
 */
function _folderGroups(deletes: readonly string[]): string[][] {
  const byFolder = new Map<string, string[]>();
  for (const path of deletes) {
    const slash = path.lastIndexOf("/");
    const folder = slash < 0 ? "" : path.slice(0, slash);
    const files = byFolder.get(folder);
    if (files === undefined) byFolder.set(folder, [path]);
    else files.push(path);
  }
  const groups: string[][] = [];
  for (const files of byFolder.values()) {
    for (let i = 0; i < files.length; i += _FILES_PER_LOOK) {
      groups.push(files.slice(i, i + _FILES_PER_LOOK));
    }
  }
  return groups;
}

/** Options of {@linkcode deleteStale}. */
export interface DeleteStaleOptions {
  /** Where each deletion and failure is reported. */
  logger: Logger;
  /** Stops between deletions. */
  signal?: AbortSignal;
  /** How many failures are kept by name (default 1,000); `failed` counts them all. */
  maxListed?: number;
  /** Counts into this result (so a pass that fails or is cut off still knows what went). */
  into?: DeleteResult;
  /**
   * Each path whose file is gone (removed, or gone already) is added here as it goes: what the
   * pass's record forgets, also when it is cut off part way (the files not reached yet stay in it).
   */
  gone?: Set<string>;
}

/** The outcome of the delete stage. */
export interface DeleteResult {
  /** Files removed. */
  deleted: number;
  /** Files that could not be removed. */
  failed: number;
  /** The first of them (up to `maxListed`), with the error. */
  failures: { path: string; error: string }[];
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
  const result: DeleteResult = options.into ?? { deleted: 0, failed: 0, failures: [] };
  const maxListed = options.maxListed ?? 1000;
  const onOwnMount: string[] = [];
  const removeOne = async (path: string, remove: () => Promise<boolean>) => {
    try {
      if (await remove()) {
        result.deleted++;
        options.logger.info(`deleted ${path}`);
      }
      options.gone?.add(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "EBUSY") {
        // A mount point (a file bind-mounted into the mirror, as a container's volume is): not
        // the mirror's file, kept without a word, as an empty folder that is one. It failed
        // every pass (exit 1, forever).
        options.logger.debug(`kept ${path}: something is mounted on it`);
        return;
      }
      if (code === "EXDEV") {
        // On a mount of its own (a folder bind-mounted in): not the mirror's, kept; told once a
        // pass (a user's folder bound in holds many), not a failure.
        onOwnMount.push(path);
        options.logger.debug(`kept ${path}: on a mount of its own`);
        return;
      }
      result.failed++;
      const message = describeError(error);
      if (result.failures.length < maxListed) result.failures.push({ path, error: message });
      options.logger.error(`failed to delete ${path}`, { error: message });
    }
  };
  // A group's files are moved into the state folder when its first one's turn comes; the rest wait
  // there for theirs (and are unlinked whatever happens: moved, they are gone from the mirror).
  const waiting = new Set<{ path: string; remove: () => Promise<boolean> }>();
  try {
    await runPool(
      _folderGroups(deletes).flatMap((group) => {
        let removals: { path: string; remove: () => Promise<boolean> }[] = [];
        return group.map((_, index) => async () => {
          if (index === 0) {
            removals = mirror.removeAll(group).map((remove, i) => ({ path: group[i], remove }));
            for (const removal of removals) waiting.add(removal);
          }
          const removal = removals[index];
          waiting.delete(removal);
          await removeOne(removal.path, removal.remove);
        });
      }),
      { concurrency: _DELETES_AT_ONCE, signal: options.signal },
    );
  } finally {
    // Stopped (aborted) within a group: its files already moved are removed all the same.
    await Promise.all([...waiting].map((removal) => removeOne(removal.path, removal.remove)));
  }
  options.signal?.throwIfAborted();
  if (onOwnMount.length > 0) {
    const [first] = onOwnMount.sort();
    options.logger.warn(
      `kept ${onOwnMount.length} unlisted file(s) on a mount of their own inside the mirror ` +
        `(a bind mount), not the mirror's: nothing is deleted there (${first} the first)`,
    );
  }
  return result;
}
