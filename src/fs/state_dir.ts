/**
 * The program's own folder inside a mirror or a push folder: `.data-mirror`, holding the lock, and
 * for a mirror its partial downloads, placed record, held deletes and manifest
 * (`src/sync/manifest_writer.ts` names its files), for a push folder its journal and the files
 * being deleted. The names below are those files'.
 *
 * @module
 */
import { join } from "node:path";
import { STATE_DIR_NAME } from "../paths.ts";

/** Mode of the state folders. */
const _DIR_MODE = 0o755;

/** The lock of a mirror or a push folder (see `src/fs/mirror_lock.ts`). */
export const LOCK_NAME = "lock";
/** A mirror's partial downloads, a folder of its state dir (made on every pass). */
export const PARTIAL_DIR_NAME = "partial";
/** A mirror's record of which item each file came from (see `src/sync/placed_record.ts`). */
export const PLACED_RECORD_NAME = "placed";
/** What a mirror placed since its record was last saved (see `src/sync/placed_record.ts`). */
export const PLACED_LOG_NAME = "placed.log";
/** A mirror's file count when `max_delete` held deletes back (see `src/sync/held_deletes.ts`). */
export const HELD_DELETES_NAME = "held-deletes";
/** A push folder's journal snapshot (see `src/push/push_journal.ts`). */
export const PUSH_JOURNAL_NAME = "push-journal.json";
/** A push folder's journal log (absent right after a compaction). */
export const PUSH_JOURNAL_LOG_NAME = "push-journal.log";
/** Where a push moves a sent file aside before it removes it (see `src/push/push_file.ts`). */
export const DELETING_DIR_NAME = "deleting";

/**
 * The state dir under `root` holds state of a mirror (`"mirror"`: its partial downloads' folder or
 * its placed record) or of a push folder (`"push"`: its journal): the first such entry found, or
 * undefined. A mirror's sync with delete in a push folder would delete the files waiting to go;
 * a push of a mirror would upload what it downloads, again every pass. One entry is enough: an
 * emptied `partial` folder swept away by a cleanup leaves the record.
 *
 * @example
 * ```ts
 * await stateOf("/home/pi/.viam/outbox", "push"); // "/home/pi/.viam/outbox/.data-mirror/push-journal.json"
 * ```
 */
export async function stateOf(root: string, kind: "mirror" | "push"): Promise<string | undefined> {
  const names = kind === "mirror"
    ? [PARTIAL_DIR_NAME, PLACED_RECORD_NAME, PLACED_LOG_NAME]
    : [PUSH_JOURNAL_NAME, PUSH_JOURNAL_LOG_NAME];
  for (const name of names) {
    const path = join(root, STATE_DIR_NAME, name);
    if ((await Deno.lstat(path).catch(() => undefined)) !== undefined) return path;
  }
  return undefined;
}

/**
 * Creates (as needed) the state dir `<root>/.data-mirror` (`root` real), or a sub dir of it, and
 * returns its path.
 *
 * @example
 * ```ts
 * const partial = await ensureStateDir("/home/pi/.viam/data_mirror", PARTIAL_DIR_NAME);
 * ```
 * Refuses when one of them exists as a symlink or a non-directory: the state dir
 * holds the lock and the partial downloads, which must stay on the mirror's own file system.
 */
export async function ensureStateDir(root: string, sub?: string): Promise<string> {
  let dir = root;
  for (const name of sub === undefined ? [STATE_DIR_NAME] : [STATE_DIR_NAME, sub]) {
    dir = join(dir, name);
    try {
      await Deno.mkdir(dir, { mode: _DIR_MODE });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      _assertPlainDir(dir, await Deno.lstat(dir));
    }
  }
  return dir;
}

/** {@linkcode ensureStateDir}, synchronous (for a step that must not yield, as a push's delete). */
export function ensureStateDirSync(root: string, sub?: string): string {
  let dir = root;
  for (const name of sub === undefined ? [STATE_DIR_NAME] : [STATE_DIR_NAME, sub]) {
    dir = join(dir, name);
    try {
      Deno.mkdirSync(dir, { mode: _DIR_MODE });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      _assertPlainDir(dir, Deno.lstatSync(dir));
    }
  }
  return dir;
}

function _assertPlainDir(dir: string, info: Deno.FileInfo): void {
  if (info.isDirectory) return;
  throw new Deno.errors.NotADirectory(
    `state dir ${dir} must be a plain directory (found a ${
      info.isSymlink ? "symlink" : "file"
    }): remove it`,
  );
}
