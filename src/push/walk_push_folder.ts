/**
 * The walk of a push folder: every regular file below it, recursively, with its identity. Nothing
 * is followed through a symlink: symlinks (to files or folders) are reported as skipped, as are
 * fifos, sockets and devices. The program's state dir `.data-mirror` is skipped, and so is any
 * folder holding one (another mirror or push folder: reported as skipped, never walked). A name that
 * is not valid UTF-8 reaches Deno with U+FFFD in place of its bad bytes, so it cannot be opened by
 * the name it gets: it is reported as skipped, and so are names two entries share that way (one of
 * them may be openable, but which file it is cannot be told).
 *
 * @example
 * ```ts
 * for await (const entry of walkPushFolder("/home/pi/.viam/outbox")) {
 *   if (entry.kind === "file") console.log(entry.path, entry.identity.size);
 * }
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { isMountPointSync, lstatIfThereSync, swappedFolder } from "../fs/_util.ts";
import { isFileSystemFolderName, isStateDirPath, STATE_DIR_NAME } from "../paths.ts";
import { type FileIdentity, identityOf } from "./file_identity.ts";

/** A regular file found by the walk. */
export interface WalkedFile {
  kind: "file";
  /** Its path below the push folder, `/`-separated. */
  path: string;
  /** Its identity when walked (`lstat`). */
  identity: FileIdentity;
}

/** Something below the push folder that is not pushed, with why. */
export interface WalkedSkip {
  kind: "skipped";
  /** Its path below the push folder. */
  path: string;
  /** Why it is not pushed. */
  reason: WalkSkipReason;
  /** The error, for a folder that could not be read. */
  detail?: string;
}

/** Why the walk passes something by. */
export type WalkSkipReason =
  | "symlink"
  | "not a regular file"
  | "name not valid UTF-8"
  | "holds another mirror or push folder"
  | "folder not readable"
  | "not readable";

/** Options of {@linkcode walkPushFolder}. */
export interface WalkOptions {
  /** Stops the walk. */
  signal?: AbortSignal;
}

/**
 * Walks `root` (absolute; the caller checked it is a real directory). A folder removed while the
 * walk runs is skipped; one below the root that cannot be read (a `lost+found` of root's on a disk
 * of its own, a folder swapped for a file) is reported as skipped with the error, and the walk goes
 * on; the root itself unreadable fails the walk with an error naming it. When a file system is
 * mounted at `root` or a folder below it, its `lost+found` (and the folders Windows makes on a
 * stick) are passed by without a word.
 */
export async function* walkPushFolder(
  root: string,
  options: WalkOptions = {},
): AsyncGenerator<WalkedFile | WalkedSkip> {
  const pending: string[] = [""];
  // A disk mounted at the push folder: its `lost+found` holds what fsck recovered (fragments of
  // any file of the disk), the file system's, not the push's. Run as root (viam-server's modules
  // are), a pass sent them to the platform and deleted them. Passed by without a word.
  // So does one mounted at a folder below it (a stick at `outbox/usb`): the devices of the folders
  // walked tell (a reviewer, before 2026-12-07: as root, `usb/lost+found/#1234` and the stick's
  // `System Volume Information` were sent and deleted).
  const atMountPoint = isMountPointSync(root);
  const devices = new Map<string, number>();
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    options.signal?.throwIfAborted();
    // Read twice, streamed, never held whole: a folder of a million captures (a robot offline for
    // days) as an array of entries took more than the heap (some 470 bytes an entry). The first
    // read keeps only what decides how the folder is walked.
    let scan: { holdsState: boolean; shared: Set<string> };
    try {
      scan = await _scanDir(join(root, dir));
    } catch (error) {
      if (dir === "") throw error;
      yield {
        kind: "skipped",
        path: dir,
        reason: "folder not readable",
        detail: (error as Error).message,
      };
      continue;
    }
    // A folder swapped for a symlink since its parent was listed was read through the link: what
    // it lists lies outside the push folder (and, were it "/", the walk would go through it all).
    if (dir !== "" && swappedFolder(root, dir) !== undefined) {
      yield { kind: "skipped", path: dir, reason: "symlink" };
      continue;
    }
    // The folder as it is now, checked: each file's `lstat` below goes through its path again, and
    // a folder on the way swapped for a link since then would have a file outside the push folder
    // walked under its name (then opened, its identity matching, sent and moved aside).
    let folder: Deno.FileInfo;
    try {
      folder = Deno.lstatSync(join(root, dir));
    } catch {
      continue; // gone since it was read
    }
    devices.set(dir, folder.dev);
    const mountedHere = dir === ""
      ? atMountPoint
      : folder.dev !== devices.get(dir.slice(0, Math.max(dir.lastIndexOf("/"), 0)));
    if (dir !== "" && scan.holdsState) {
      yield { kind: "skipped", path: dir, reason: "holds another mirror or push folder" };
      continue;
    }
    const shared = scan.shared;
    // The subfolders this read queues: dropped again if the folder turns out to be another's.
    const queued = pending.length;
    for await (const entry of _untilError(_sortedIfSmall(join(root, dir)))) {
      if (entry instanceof Error) {
        // Readable a moment ago (swapped for a file since, made unreadable, an I/O error mid-way):
        // skipped as a folder whose first read failed, the walk goes on.
        if (dir === "") throw entry;
        yield { kind: "skipped", path: dir, reason: "folder not readable", detail: entry.message };
        break;
      }
      if (isStateDirPath(entry.name)) {
        // At the top only the program's own folder is passed by: another spelling (a user's
        // `.DATA-MIRROR/` or `.data-mirror.` on ext4) goes on, to be kept and named as a name no
        // mirror writes; passed by too, it was kept without a word, pass after pass.
        if (dir === "") {
          if (_isOwnStateDir(root, entry.name)) continue;
        } else if (entry.isDirectory) {
          // Made since the scan: the folder is another mirror's or push folder's now. Beyond
          // _SORTED_UP_TO entries it may come after subfolders already queued: they are its too.
          pending.length = queued;
          yield { kind: "skipped", path: dir, reason: "holds another mirror or push folder" };
          break;
        }
      }
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (mountedHere && isFileSystemFolderName(entry.name) && entry.isDirectory) {
        continue;
      }
      if (shared.has(entry.name) || (entry.isDirectory && _lossyAndGone(root, path))) {
        yield { kind: "skipped", path, reason: "name not valid UTF-8" };
      } else if (entry.isSymlink) yield { kind: "skipped", path, reason: "symlink" };
      else if (entry.isDirectory) pending.push(path);
      else if (!entry.isFile) yield { kind: "skipped", path, reason: "not a regular file" };
      else {
        let info: Deno.FileInfo;
        try {
          // Synchronous: one file after the other anyway, and a local lstat takes microseconds,
          // less than a round trip through a worker thread.
          info = Deno.lstatSync(join(root, path));
        } catch (error) {
          if (error instanceof Deno.errors.PermissionDenied && dir !== "") {
            // Listed but not searchable (read without execute permission): none of its files can
            // be looked at, nor its subfolders: it is passed by as a folder that cannot be read.
            pending.length = queued;
            yield {
              kind: "skipped",
              path: dir,
              reason: "folder not readable",
              detail: (error as Error).message,
            };
            break;
          }
          if (!(error instanceof Deno.errors.NotFound)) {
            // One file the walk cannot look at (its path past PATH_MAX: ENAMETOOLONG) is kept and
            // named; thrown, it failed every pass before any other file of the folder was sent.
            yield {
              kind: "skipped",
              path,
              reason: "not readable",
              detail: (error as Error).message,
            };
            continue;
          }
          // Removed meanwhile, or known to Deno only by a name that is not its own.
          if (_maybeLossy(entry.name)) {
            yield { kind: "skipped", path, reason: "name not valid UTF-8" };
          }
          continue;
        }
        if (_swappedSince(root, dir, folder)) {
          // Looked at through a folder no longer the one read: passed by, as a symlink is.
          pending.length = queued;
          yield { kind: "skipped", path: dir === "" ? "." : dir, reason: "symlink" };
          break;
        }
        if (info.isSymlink) yield { kind: "skipped", path, reason: "symlink" };
        else if (!info.isFile) yield { kind: "skipped", path, reason: "not a regular file" };
        else yield { kind: "file", path, identity: identityOf(info) };
      }
    }
  }
}

/**
 * Whether the folder `dir`, `then` when it was read, is no longer that folder: not a real folder
 * now, on another device, or another inode reached through a link on the way. Another inode number
 * alone proves no swap: exfat-fuse numbers a folder anew each time the kernel forgot it (memory
 * pressure, `echo 2 > /proc/sys/vm/drop_caches`), and whole folders of a push were passed by as
 * links.
 */
function _swappedSince(root: string, dir: string, then: Deno.FileInfo): boolean {
  const now = lstatIfThereSync(join(root, dir));
  if (now === undefined || !now.isDirectory) return true;
  // Another device is another file system mounted there since: never the folder read.
  if (now.dev !== then.dev) return true;
  return now.ino !== then.ino && swappedFolder(root, dir) !== undefined;
}

/**
 * One read of a folder: whether it holds a state dir (a folder), and the names (as Deno gives them)
 * that more than one entry shares (not valid UTF-8). Only names with U+FFFD are kept.
 */
async function _scanDir(path: string): Promise<{ holdsState: boolean; shared: Set<string> }> {
  const seen = new Set<string>();
  const shared = new Set<string>();
  let holdsState = false;
  for await (const { name, isDirectory } of _entries(path)) {
    // A folder only: a file of that name (`.Data-Mirror `) held its folder's files back for good,
    // said to be another push folder or mirror.
    if (isDirectory && isStateDirPath(name)) holdsState = true;
    if (!_maybeLossy(name)) continue;
    if (seen.has(name)) shared.add(name);
    seen.add(name);
  }
  return { holdsState, shared };
}

/**
 * Whether the entry `name` at the top of the push folder is the program's own state folder: that
 * name, or the spelling a file system that folds names (exFAT, FAT: case, trailing dots) keeps it
 * under, where `.data-mirror` reaches it but is not listed. Not told by inode: exfat-fuse gives
 * one folder reached under two spellings two inode numbers.
 */
function _isOwnStateDir(root: string, name: string): boolean {
  if (name === STATE_DIR_NAME) return true;
  try {
    Deno.lstatSync(join(root, STATE_DIR_NAME));
    for (const entry of Deno.readDirSync(root)) if (entry.name === STATE_DIR_NAME) return false;
    return true;
  } catch {
    return false;
  }
}

/** Whether `name` may stand for bytes that are not UTF-8 (Deno put U+FFFD in their place). */
function _maybeLossy(name: string): boolean {
  return name.includes("\uFFFD");
}

/** Whether a folder's name may be lossy and nothing answers to it. */
function _lossyAndGone(root: string, path: string): boolean {
  if (!_maybeLossy(path)) return false;
  try {
    Deno.lstatSync(join(root, path));
    return false;
  } catch {
    return true;
  }
}

/** Entries of a folder sorted by name while it holds at most this many; beyond, as read. */
const _SORTED_UP_TO = 10_000;

/** A folder's entries, sorted by name when it is small (a stable order), else streamed. */
async function* _sortedIfSmall(path: string): AsyncGenerator<Deno.DirEntry> {
  const head: Deno.DirEntry[] = [];
  const stream = _entries(path);
  for await (const entry of stream) {
    head.push(entry);
    if (head.length > _SORTED_UP_TO) {
      yield* head;
      yield* stream;
      return;
    }
  }
  // A state dir first: a folder that holds one is left before any of its files is given.
  head.sort((a, b) =>
    Number(isStateDirPath(b.name)) - Number(isStateDirPath(a.name)) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  yield* head;
}

/** `entries`, then the error that ended them, if one did (given, not thrown). */
async function* _untilError<T>(entries: AsyncGenerator<T>): AsyncGenerator<T | Error> {
  try {
    yield* entries;
  } catch (error) {
    yield error instanceof Error ? error : new Error(String(error));
  }
}

/** The entries of a folder, streamed; none when it is gone. */
async function* _entries(path: string): AsyncGenerator<Deno.DirEntry> {
  try {
    yield* Deno.readDir(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
