/**
 * The walk of a push folder: every regular file below it, recursively, with its identity. Nothing
 * is followed through a symlink: symlinks (to files or folders) are reported as skipped, as are
 * fifos, sockets and devices. The program's state dir `.data-mirror` is skipped, and so is any
 * folder holding one (another mirror's or push folder's own area).
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
import { isStateDirPath } from "../paths.ts";
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
  reason: "symlink" | "not a regular file";
}

/** Options of {@linkcode walkPushFolder}. */
export interface WalkOptions {
  /** Stops the walk. */
  signal?: AbortSignal;
}

/**
 * Walks `root` (absolute; the caller checked it is a real directory). A folder removed while the
 * walk runs is skipped; a folder that cannot be read fails the walk with an error naming it.
 */
export async function* walkPushFolder(
  root: string,
  options: WalkOptions = {},
): AsyncGenerator<WalkedFile | WalkedSkip> {
  const pending: string[] = [""];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    options.signal?.throwIfAborted();
    const entries = await _readDir(join(root, dir));
    if (dir !== "" && entries.some((entry) => isStateDirPath(entry.name))) continue;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (isStateDirPath(entry.name)) continue;
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isSymlink) yield { kind: "skipped", path, reason: "symlink" };
      else if (entry.isDirectory) pending.push(path);
      else if (!entry.isFile) yield { kind: "skipped", path, reason: "not a regular file" };
      else {
        let info: Deno.FileInfo;
        try {
          // Synchronous: one file after the other anyway, and a local lstat takes microseconds,
          // less than a round trip through a worker thread.
          info = Deno.lstatSync(join(root, path));
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) continue; // removed meanwhile
          throw error;
        }
        if (info.isSymlink) yield { kind: "skipped", path, reason: "symlink" };
        else if (!info.isFile) yield { kind: "skipped", path, reason: "not a regular file" };
        else yield { kind: "file", path, identity: identityOf(info) };
      }
    }
  }
}

async function _readDir(path: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
