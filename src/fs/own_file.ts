/**
 * Opening the program's own files (its locks, journals, records, staged downloads) without following
 * a symlink planted under their name. (Both handles are close-on-exec: Deno and libuv open every
 * file with O_CLOEXEC.)
 *
 * Deno.open always follows symlinks and has no O_NOFOLLOW. node:fs does pass O_NOFOLLOW through
 * (Deno 2.9.6), but its handles cannot be locked with flock. So a file is opened twice: once by
 * node:fs with O_NOFOLLOW (which fails with ELOOP on a symlink), once by Deno.open, and the two
 * handles must name the same inode. A symlink swapped in between would give another inode and is
 * refused; one pointing at this very inode changes nothing.
 *
 * @example
 * ```ts
 * const { file, size } = await openOwnFile(`${stateDir}/journal`, { mode: 0o600 });
 * ```
 *
 * @module
 */
import { constants, openSync, promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";

/** A file opened by {@linkcode openOwnFile}. */
export interface OwnFile {
  /** Read-write handle on the regular file at the path. */
  file: Deno.FsFile;
  /** Its size when opened. */
  size: number;
}

/** Options of {@linkcode openOwnFile}. */
export interface OpenOwnFileOptions {
  /** Mode of a new file (before the umask). */
  mode: number;
  /** Told about an entry that was not a plain file of our own and was replaced. */
  onReplaced?: (message: string) => void;
  /**
   * Throws when the folder holding the file (or one above it) is no longer where it was (swapped
   * for a symlink): called in the same turn as each unlink of a planted entry, and after the open,
   * when the file opened must also be the one the name holds. Without it, the folders are trusted.
   */
  assertInPlace?: () => void;
}

/**
 * Opens (creating it when missing) one of the program's own files in its state folder for reading
 * and writing, never through a symlink and never a file with other names (a hard link planted from
 * outside, or a partial already given its final name by a pass killed before it removed the
 * staging name): such an entry is unlinked, which leaves its target alone, and a fresh file made in
 * its place. Writing into a shared inode would change a file outside the state folder.
 *
 * @example
 * ```ts
 * const { file } = await openOwnFile("/home/pi/.viam/data_mirror/.data-mirror/lock", { mode: 0o644 });
 * ```
 */
export async function openOwnFile(path: string, options: OpenOwnFileOptions): Promise<OwnFile> {
  for (let attempt = 1;; attempt++) {
    // Looked at first without following it: opening a symlink to a place outside the granted tree
    // would fail on the permission check (which follows links) before O_NOFOLLOW could refuse it.
    const planted = await _plantedKind(path);
    const opened = planted === undefined ? await _tryOpen(path, options.mode) : undefined;
    if (opened !== undefined) {
      try {
        _assertOpenedInPlace(path, opened.file, options.assertInPlace);
      } catch (error) {
        opened.file.close();
        throw error;
      }
      return opened;
    }
    // A symlink, a shared inode or a non-file: not ours to write. Unlink the name and start afresh.
    if (attempt === 3) {
      throw new Deno.errors.PermissionDenied(`${path} keeps being replaced by a link; not opened`);
    }
    options.onReplaced?.(
      `replaced ${planted ?? "a link"} planted at ${path}: it was not written through`,
    );
    if (options.assertInPlace === undefined) await _unlinkName(path);
    else _unlinkPlantedSync(path, options.assertInPlace);
  }
}

/**
 * Throws unless the folder is in place (`assertInPlace`) and `path` names the file `file` has open:
 * the open resolved the path again, a thread-pool hop after any check, and a folder swapped for a
 * link meanwhile had it open (or make) a file where the link leads.
 */
function _assertOpenedInPlace(
  path: string,
  file: Deno.FsFile,
  assertInPlace: (() => void) | undefined,
): void {
  if (assertInPlace === undefined) return;
  assertInPlace();
  const opened = file.statSync();
  const named = Deno.lstatSync(path);
  if (named.ino === opened.ino && named.dev === opened.dev) return;
  throw new Deno.errors.PermissionDenied(
    `${path} was opened through a folder swapped for a symlink since it was checked (not written)`,
  );
}

/**
 * Unlinks the entry planted at `path`, in the same turn as the folder's check and a second look at
 * it: a plain file of one name there now (the folder swapped for a link to another folder's own
 * file since the first look) is left alone, for the next attempt to judge.
 */
function _unlinkPlantedSync(path: string, assertInPlace: () => void): void {
  assertInPlace();
  try {
    const info = Deno.lstatSync(path);
    if (info.isFile && info.nlink === 1) return;
    Deno.removeSync(path); // a symlink or a file name goes; an empty dir too; never a target
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** What is at `path` when it is not a plain, singly linked file (or nothing), else undefined. */
async function _plantedKind(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (info.isSymlink) return "a symlink";
  if (!info.isFile) return "a non-file";
  if (info.nlink !== 1) return "a file with another name (a hard link)";
  return undefined;
}

/** The open file, or undefined when the name is not a plain, singly linked regular file. */
async function _tryOpen(path: string, mode: number): Promise<OwnFile | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(
      path,
      constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW,
      mode,
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ELOOP" || code === "EISDIR" || code === "ENXIO") return undefined;
    // Swapped for a link to a place outside the granted tree since it was looked at.
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.nlink !== 1) return undefined;
    const file = await Deno.open(path, { read: true, write: true });
    const same = await file.stat().then((deno) => deno.ino === info.ino && deno.dev === info.dev);
    if (!same) {
      file.close();
      return undefined;
    }
    return { file, size: info.size };
  } finally {
    await handle.close();
  }
}

async function _unlinkName(path: string): Promise<void> {
  try {
    await Deno.remove(path); // a symlink or a file name goes; an empty dir too; never a target
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** A new log of our own: created here (never one found), appended to, never through a link. */
const _NEW_LOG_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL |
  constants.O_APPEND | constants.O_NOFOLLOW;

/**
 * Creates a new append-only log of the program's own at `path`: whatever has the name is unlinked
 * first (a log found there may end in a torn record, a symlink is not written through), then the
 * file is created with `O_EXCL | O_NOFOLLOW`, so the handle is on a file this call made.
 */
export async function createOwnLog(path: string, mode: number): Promise<FileHandle> {
  await _unlinkName(path).catch(() => {}); // a folder there makes the open below fail
  return await fsp.open(path, _NEW_LOG_FLAGS, mode);
}

/** {@linkcode createOwnLog}, synchronously: a file descriptor. */
export function createOwnLogSync(path: string, mode: number): number {
  try {
    Deno.removeSync(path); // a name (a symlink too, never its target), or an empty folder
  } catch {
    // nothing there, or a folder with something in it: the open below fails
  }
  return openSync(path, _NEW_LOG_FLAGS, mode);
}
