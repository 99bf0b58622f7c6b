import { join } from "node:path";
import { isStateDirPath } from "../paths.ts";
import { assertAbsoluteRoot } from "./_util.ts";

/** A file found in the mirror. */
export interface LocalFile {
  /** Relative posix path from the mirror root, e.g. `images/a.jpg`. */
  path: string;
  /**
   * Size in bytes. For a symlink: the size of its target when that is a regular file, else 0.
   */
  size: number;
  /**
   * True for a symlink (to a file, to a directory, or dangling). It is listed so that the path counts
   * as present and is never downloaded over; it must never be deleted as stale either, because it
   * was not written by the mirror (which only writes regular files).
   */
  symlink: boolean;
}

// How many lstat calls run at once within one directory: enough to overlap the file system's
// latency on a slow SD card, small enough to keep memory flat in a directory of 100,000 files.
const _STAT_BATCH = 32;

/**
 * Lists the files under the mirror `root` (absolute), keyed by relative posix path: regular files,
 * and symlinks as flagged entries (see {@linkcode LocalFile.symlink}). Symlinked directories are
 * not followed, the state dir `<root>/.data-mirror` is skipped entirely, other kinds (fifos,
 * sockets, devices) are left out. A missing root gives an empty map.
 *
 * A directory that cannot be read makes the whole call fail rather than return a partial listing:
 * the caller deletes what the listing holds and the remote lacks, and an incomplete local listing
 * must not be mistaken for a complete one. A directory removed while the walk runs is skipped.
 *
 * @example
 * ```ts
 * const files = await listLocalFiles("/home/pi/.viam/data_mirror");
 * files.get("images/a.jpg"); // { path: "images/a.jpg", size: 1234, symlink: false }
 * ```
 */
export async function listLocalFiles(root: string): Promise<Map<string, LocalFile>> {
  assertAbsoluteRoot(root);
  const files = new Map<string, LocalFile>();
  const pending: string[] = [""]; // relative dirs still to read; "" is the root
  for (let relDir = pending.pop(); relDir !== undefined; relDir = pending.pop()) {
    const entries = await readDirOrSkip(join(root, relDir), relDir === "");
    const candidates: string[] = [];
    for (const entry of entries) {
      const relPath = relDir === "" ? entry.name : `${relDir}/${entry.name}`;
      if (relDir === "" && isStateDirPath(entry.name)) continue;
      if (entry.isDirectory) pending.push(relPath);
      else if (entry.isFile || entry.isSymlink) candidates.push(relPath);
    }
    for (let i = 0; i < candidates.length; i += _STAT_BATCH) {
      const batch = candidates.slice(i, i + _STAT_BATCH);
      for (const file of await Promise.all(batch.map((relPath) => describe(root, relPath)))) {
        if (file !== undefined) files.set(file.path, file);
      }
    }
  }
  return files;
}

/** Reads a directory; a missing one (the root on a fresh machine, or removed meanwhile) is empty. */
async function readDirOrSkip(path: string, isRoot: boolean): Promise<Deno.DirEntry[]> {
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

/** Stats one entry; undefined when it vanished or turned into something that is not listed. */
async function describe(root: string, relPath: string): Promise<LocalFile | undefined> {
  const path = join(root, relPath);
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (info.isFile) return { path: relPath, size: info.size, symlink: false };
  if (!info.isSymlink) return undefined;
  const target = await Deno.stat(path).catch(() => undefined); // dangling or unreadable target
  return { path: relPath, size: target?.isFile ? target.size : 0, symlink: true };
}
