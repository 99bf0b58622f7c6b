/**
 * The walk of the mirror: every file below the root, by relative path, without following a symlink,
 * passing by the program's state folder and any nested mirror.
 *
 * @module
 */
import { join } from "node:path";
import { runPool } from "../async/run_pool.ts";
import { isFileSystemFolderName, isStateDirPath, quoteName } from "../paths.ts";
import { assertAbsoluteRoot, isMountPointSync, probeMount } from "./_util.ts";

/**
 * A file found in the mirror (its path is the key it is listed under). One of the two shared
 * values {@linkcode REGULAR_FILE} and {@linkcode _SYMLINK}: at 100,000 files an object per file,
 * holding its path a second time, was some 4 MB of heap.
 */
export interface LocalFile {
  /**
   * True for a symlink (to a file, to a directory, or dangling). It is listed so that the path counts
   * as present and is never downloaded over; it must never be deleted as stale either, because it
   * was not written by the mirror (which only writes regular files).
   */
  readonly symlink: boolean;
}

/** A regular file. */
export const REGULAR_FILE: LocalFile = Object.freeze({ symlink: false });

/** A symlink, whatever it points at. */
const _SYMLINK: LocalFile = Object.freeze({ symlink: true });

/**
 * Folders read at once by {@linkcode listLocalFiles}. One at a time, a pass's walk of 10,020 files
 * in 100 folders took 500-700 ms beside the listing (each read's answer waited for an event-loop
 * turn the listing's pages kept busy), and no download could start before it ended. Four rather
 * than 16: the walk runs beside the sign-in, the counts and the first pages, on the same thread,
 * and with 16 reads' entries coming back at once each of their answers waited behind a whole
 * turn of them: the sign-in took 110-140 ms instead of a round trip, and the counts came back
 * 290 ms into the Worker, 235 with four (marks in a no-op pass). Alternated pairs on the
 * bench's main set: the no-op pass 0.05 s quicker (-0.055 and -0.052 s, 7 of 10 and 9 of 12
 * pairs), the churn the same (-0.025 and -0.003 s).
 */
const _READS_AT_ONCE = 4;

/** Options of {@linkcode listLocalFiles}. */
export interface ListLocalFilesOptions {
  /** Told of each folder below the root found empty (relative posix path): what a prune may take. */
  onEmptyDir?: (relDir: string) => void;
  /**
   * Told of each folder below the root the walk passes by whole (nothing in it is listed, deleted,
   * pruned or written): one holding another mirror, one on another file system than the root (a
   * USB stick or a disk mounted in the mirror, a btrfs subvolume), one this user may not read
   * (root's `lost+found` on a disk mounted at the mirror; also said through `warn`), and the
   * `lost+found` of a file system mounted at the mirror itself, told of without a word.
   */
  onPassedBy?: (relDir: string) => void;
  /** Where a folder passed by as unreadable is told of. */
  warn?: (message: string) => void;
}

/**
 * Lists the files under the mirror `root` (absolute), keyed by relative posix path: regular files,
 * and symlinks as flagged entries (see {@linkcode LocalFile.symlink}). Symlinked directories are
 * not followed, other kinds (fifos, sockets, devices) are left out, and a missing root gives an empty
 * map. The directory entries' own types are enough: no file is stat'ed, which keeps a walk of
 * 100,000 files to one `readDir` per directory.
 *
 * Never listed, so never deleted: the state dir `.data-mirror`, and any directory below the root that
 * holds one, with all it contains: that is another mirror nested in this one (two resources with
 * `mirror_path`s `shared` and `shared/faces`), whose files are its own. Nor a directory on another
 * file system than the root's (a USB stick or a disk mounted in the mirror): the walk does not
 * cross a mount, as it follows no symlink. Nor, when a file system is mounted at the root itself,
 * its `lost+found` (fsck's, not the mirror's).
 *
 * A directory that cannot be read makes the whole call fail rather than return a partial listing:
 * the caller deletes what the listing holds and the remote lacks, and an incomplete local listing
 * must not be mistaken for a complete one. Except a folder below the root this user may not read
 * (EACCES): passed by whole, as a nested mirror is, so none of its files is deleted. A directory
 * removed while the walk runs is skipped.
 *
 * @example
 * ```ts
 * const files = await listLocalFiles("/home/pi/.viam/data_mirror");
 * files.get("images/a.jpg"); // { symlink: false }
 * ```
 */
export async function listLocalFiles(
  root: string,
  options: ListLocalFilesOptions = {},
): Promise<Map<string, LocalFile>> {
  assertAbsoluteRoot(root);
  const files = new Map<string, LocalFile>();
  const rootDev = await _deviceOf(root);
  // A disk mounted at the mirror (as the README advises for a mirror on another disk): its own
  // `lost+found`, where fsck puts what it recovers, is the file system's, not the mirror's. Run as
  // root (viam-server's modules are), a pass with delete removed the files fsck had put there as
  // stale, and then the folder itself as empty.
  const atMountPoint = isMountPointSync(root);
  // Level by level, several folders at once: each read is a trip through the thread pool, and its
  // answer waits for the event loop, which the listing keeps busy meanwhile.
  for (let level = [""]; level.length > 0;) {
    const below: string[] = [];
    await runPool(
      level.map((relDir) => async () => {
        const path = join(root, relDir);
        let entries: Deno.DirEntry[];
        try {
          // In a folder this user may list but not enter (mode 744), the lstat fails as the read
          // would: passed by alike.
          const device = relDir === "" ? rootDev : await _deviceOf(path);
          if (device !== undefined && device !== rootDev) {
            return void options.onPassedBy?.(relDir);
          }
          // A folder of the root's own disk bound in (`mount --bind ~/Pictures mirror/pics`, a
          // container's volume): the root's device, but a mount of its own, the user's. Walked, its
          // files counted against max_delete every pass (a large one held every delete back, for
          // good) and were listed as `would delete`, and its empty folders (the user's, outside the
          // mirror) were pruned.
          if (relDir !== "") {
            const mount = probeMount(path, root);
            if (mount === "other") return void options.onPassedBy?.(relDir);
            // The probe's lookup in the folder refused (EACCES): one this user may list but not
            // enter cannot be told from a folder bound in (a user's, mode 744 of another user, the
            // program a service user), whose files then held every delete back for good. Nothing
            // in it can be deleted, written or looked at: passed by whole, as an unreadable one.
            if (mount instanceof Deno.errors.PermissionDenied) {
              throw new Deno.errors.PermissionDenied("it may be listed but not entered");
            }
          }
          entries = await _readDirOrSkip(path, relDir === "");
        } catch (error) {
          // A path longer than the system takes (a tree made deeper than PATH_MAX with relative
          // paths) is passed by alike: failing the walk failed every pass until it was removed.
          if (relDir === "" || !_passable(error)) throw error;
          options.warn?.(_unreadableFolderWarning(relDir, error));
          return void options.onPassedBy?.(relDir);
        }
        const holdsState = entries.some((entry) => isStateDirPath(entry.name));
        if (relDir !== "" && holdsState) return void options.onPassedBy?.(relDir);
        if (relDir !== "" && entries.length === 0) options.onEmptyDir?.(relDir);
        for (const entry of entries) {
          if (isStateDirPath(entry.name)) continue;
          const relPath = relDir === "" ? entry.name : `${relDir}/${entry.name}`;
          if (
            atMountPoint && relDir === "" && isFileSystemFolderName(entry.name) && entry.isDirectory
          ) {
            options.onPassedBy?.(relPath);
            continue;
          }
          if (entry.name.includes("\uFFFD") && !(await _addressable(join(root, relPath)))) continue;
          if (entry.isDirectory) below.push(relPath);
          else if (entry.isFile || entry.isSymlink) {
            files.set(relPath, entry.isSymlink ? _SYMLINK : REGULAR_FILE);
          }
        }
      }),
      { concurrency: _READS_AT_ONCE },
    );
    level = below;
  }
  return files;
}

/** Whether a folder's read failed for that folder alone: no permission, or a path too long. */
function _passable(error: unknown): error is Error {
  return error instanceof Deno.errors.PermissionDenied ||
    (error as { code?: unknown } | null)?.code === "ENAMETOOLONG";
}

/** The warning for a folder {@linkcode listLocalFiles} passed by as unreadable. */
function _unreadableFolderWarning(relDir: string, error: Error): string {
  const name = quoteName(relDir);
  const why = error instanceof Deno.errors.PermissionDenied
    ? "which this user cannot read"
    : "whose path is longer than the system takes";
  return `passed by the folder ${name}, ${why} (${error.message}): nothing in it is deleted or ` +
    "written";
}

/**
 * Whether a name the walk was given with a U+FFFD in it is the file's real name. A name that is not
 * valid UTF-8 reaches the program with U+FFFD in place of its bad bytes: a path the program cannot
 * open, remove or tell from a listed name of those characters. Such a file is left out of the walk
 * (never matched, never deleted), as a file the program cannot address.
 */
async function _addressable(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The device of the folder at `path` (not followed), or undefined when it is gone. */
async function _deviceOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.lstat(path)).dev;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/**
 * Reads a directory; a missing one (the root on a fresh machine, or removed meanwhile) is empty.
 * Asynchronously, though that takes a trip through the thread pool per entry (35 ms of CPU for 100
 * folders of 100 files, against 14 ms for `Deno.readDirSync`): the synchronous read drops the
 * errors met while reading, so a damaged folder (EBADMSG, a zeroed directory block on a failing SD
 * card) reads as empty instead of failing the walk (checked with Deno 2.9.6).
 */
async function _readDirOrSkip(path: string, isRoot: boolean): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    if (isRoot && error instanceof Deno.errors.NotADirectory) {
      throw new Deno.errors.NotADirectory(`mirror root ${path} is not a directory`);
    }
    throw error;
  }
}
