/**
 * The folders a pass with `delete` removes once they are empty (after a listing proved whole), never
 * the root, the state folder, a protected folder or its ancestors, or anything reached through a
 * symlink.
 *
 * @module
 */
import { rmdirSync } from "node:fs";
import { join, posix } from "node:path";
import { foldCase, isStateDirPath } from "../paths.ts";
import { assertAbsoluteRoot, assertRelativePath } from "./_util.ts";

/** Options of {@linkcode pruneEmptyDirs}. */
export interface PruneEmptyDirsOptions {
  /**
   * Directories (relative to the root) to keep even when empty, with every folder below them.
   * Normalised before use, so `models`, `./models` and `models/` are the same dir. Their ancestors
   * are kept too, since removing an ancestor would remove them.
   */
  protectedDirs: readonly string[];
  /**
   * The directories (relative posix paths from a walk of the root) that may be empty: the ones the
   * walk found empty and the folders of the files removed since. Only these are tried, and the
   * parent of each one removed. The rest of the tree is not read again.
   */
  candidates: Iterable<string>;
  /**
   * Told of a folder that could not be removed for another reason than being in use or no longer
   * empty (no permission, a read-only file system): it is kept, and the rest go on. Pruning is
   * housekeeping; it never fails a pass.
   */
  onKept?: (dir: string, error: Error) => void;
}

/**
 * Removes the empty directories among `candidates` under the mirror `root` (absolute), bottom-up, so
 * a directory left empty by the removal of its children goes too. Never removes the root, the
 * state dir `<root>/.data-mirror` or anything inside it, a protected dir, a folder below one, or an
 * ancestor of one.
 * Returns the removed directories as relative posix paths, deepest first.
 *
 * Each removal is a plain `rmdir`, which the OS refuses on a directory that is not empty (a
 * candidate that gained an entry since the walk is kept) and on a symlink (never followed); a
 * candidate below a folder that is no longer a real directory (swapped for a symlink since the
 * walk) is not tried. A mirror nested in this one holds its own `.data-mirror`, so its root is
 * never empty; its own folders are never candidates, since the walk does not descend into it.
 *
 * @example
 * ```ts
 * await pruneEmptyDirs("/home/pi/.viam/data_mirror", {
 *   protectedDirs: ["models/current"],
 *   candidates: ["images/old"],
 * });
 * ```
 */
export async function pruneEmptyDirs(
  root: string,
  options: PruneEmptyDirsOptions,
): Promise<string[]> {
  assertAbsoluteRoot(root);
  const removable = prunableDirs(options.protectedDirs);
  // Candidates by depth, deepest first: a folder is tried after every candidate below it.
  const byDepth: Set<string>[] = [];
  const add = (dir: string) => {
    if (!removable(dir)) return;
    const depth = dir.split("/").length;
    (byDepth[depth] ??= new Set()).add(dir);
  };
  for (const dir of options.candidates) {
    if (dir === "") continue; // the root, which is never removed
    assertRelativePath(dir);
    add(dir);
  }
  const removed: string[] = [];
  let tried = 0;
  for (let depth = byDepth.length - 1; depth > 0; depth--) {
    for (const dir of byDepth[depth] ?? []) {
      // Each removal is synchronous (below): the event loop gets a turn between batches of them.
      if (++tried % _TRIED_PER_TURN === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      // Checked, then removed, in one turn: an `rmdir` a thread-pool hop after the check went
      // through a folder swapped for a link meanwhile, and removed another tree's empty folder of
      // the same name. A folder on the way found missing is no pass either: it is a link a moment
      // later when a local program swaps it (moved away, then the link made).
      if (!_realFoldersSync(root, dir)) continue; // not followed out of the mirror
      if (!removeEmptyDirSync(join(root, dir), (error) => options.onKept?.(dir, error))) {
        continue;
      }
      removed.push(dir);
      const slash = dir.lastIndexOf("/");
      if (slash > 0) add(dir.slice(0, slash));
    }
  }
  return removed;
}

/**
 * The rule of which folders (relative to the mirror) a pass with `delete` may remove once they are
 * empty: not the root, nor the state folder or anything in it, nor a protected dir, a folder below
 * one or an ancestor of one (removing it would remove the protected dir). Compared with letter
 * case and Unicode form folded: on a case-insensitive file system `Models` is the folder `models`.
 * Throws `RangeError` for a protected dir that leaves the mirror.
 *
 * @example
 * ```ts
 * const removable = prunableDirs(["models/current"]);
 * removable("images/old"); // true
 * removable("models"); // false: it holds a protected dir
 * ```
 */
export function prunableDirs(protectedDirs: readonly string[]): (relDir: string) => boolean {
  const folded = protectedDirs.map(_normaliseDir).filter((dir) => dir !== "").map(foldCase);
  const kept = new Set<string>([""]);
  for (const dir of folded) {
    // every prefix of a protected dir, itself included: "a/b" keeps "a" and "a/b"
    const segments = dir.split("/");
    for (let i = 1; i <= segments.length; i++) kept.add(segments.slice(0, i).join("/"));
  }
  return (relDir) => {
    const dir = foldCase(relDir);
    return !kept.has(dir) && !isStateDirPath(relDir) &&
      !folded.some((p) => dir.startsWith(`${p}/`));
  };
}

/**
 * Whether every folder from `root` down to `relDir` itself is there and a real folder (no symlink):
 * `lstat`s, never followed.
 */
function _realFoldersSync(root: string, relDir: string): boolean {
  let path = root;
  for (const name of ["", ...relDir.split("/")]) {
    path = name === "" ? root : join(path, name);
    try {
      if (!Deno.lstatSync(path).isDirectory) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Folders a prune tries between two turns of the event loop (an `rmdir` takes microseconds). */
const _TRIED_PER_TURN = 256;

/** Normalises a protected dir to a relative posix path; refuses one that leaves the mirror. */
function _normaliseDir(dir: string): string {
  const normal = posix.normalize(dir).replace(/\/+$/, "");
  if (normal === "" || normal === ".") return ""; // the root, which is never removed anyway
  if (normal.startsWith("/") || normal === ".." || normal.startsWith("../")) {
    throw new RangeError(`protected dir "${dir}" is not a relative path inside the mirror`);
  }
  return normal;
}

/**
 * rmdir(2), which removes nothing but an empty directory (unlike `Deno.remove`, which would unlink a
 * file that replaced the directory meanwhile): true when removed, false when it is no longer an
 * empty directory, is gone, or is in use (`EBUSY`: a mount point, as an empty USB stick mounted in
 * the mirror is, or a process's working directory). Any other refusal is told to `onKept`.
 */
export function removeEmptyDirSync(path: string, onKept: (error: Error) => void): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT" && code !== "ENOTDIR" &&
      code !== "EBUSY"
    ) {
      onKept(error as Error);
    }
    return false;
  }
}
