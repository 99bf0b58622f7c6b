import { rmdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { isStateDirPath } from "../paths.ts";
import { assertAbsoluteRoot } from "./_util.ts";

/** Options of {@linkcode pruneEmptyDirs}. */
export interface PruneEmptyDirsOptions {
  /**
   * Directories (relative to the root) to keep even when empty. Normalised before use, so
   * `models`, `./models` and `models/` are the same dir. Their ancestors are kept too, since
   * removing an ancestor would remove them; their descendants are not protected.
   */
  protectedDirs: string[];
}

/**
 * Removes the empty directories under the mirror `root` (absolute), bottom-up, so a directory left
 * empty by the removal of its empty children goes too. Never removes the root, the state dir
 * `<root>/.data-mirror` or anything inside it, a protected dir or an ancestor of one, nor anything in
 * a mirror nested in this one (a directory holding its own `.data-mirror`). Symlinks are
 * not followed (a symlink counts as content of its directory). Returns the removed directories as
 * relative posix paths, deepest first. A missing root gives `[]`.
 *
 * A directory that gains an entry between the walk and its removal is kept: the removal is a plain
 * `rmdir`, which the OS refuses on a non-empty directory.
 *
 * @example
 * ```ts
 * await pruneEmptyDirs("/home/pi/.viam/data_mirror", { protectedDirs: ["models/current"] });
 * ```
 */
export async function pruneEmptyDirs(
  root: string,
  options: PruneEmptyDirsOptions,
): Promise<string[]> {
  assertAbsoluteRoot(root);
  const kept = new Set<string>();
  for (const dir of options.protectedDirs) {
    // every prefix of a protected dir, itself included: "a/b" keeps "a" and "a/b"
    const segments = normaliseDir(dir).split("/");
    for (let i = 1; i <= segments.length; i++) kept.add(segments.slice(0, i).join("/"));
  }
  const removed: string[] = [];
  await pruneBelow(root, "", kept, removed);
  return removed;
}

/** Normalises a protected dir to a relative posix path; refuses one that leaves the mirror. */
function normaliseDir(dir: string): string {
  const normal = posix.normalize(dir).replace(/\/+$/, "");
  if (normal === "" || normal === ".") return ""; // the root, which is never removed anyway
  if (normal.startsWith("/") || normal === ".." || normal.startsWith("../")) {
    throw new RangeError(`protected dir "${dir}" is not a relative path inside the mirror`);
  }
  return normal;
}

/**
 * Prunes the empty dirs below `relDir` (not `relDir` itself) and tells whether `relDir` is empty
 * now, i.e. every entry it had was a directory that this call removed.
 */
async function pruneBelow(
  root: string,
  relDir: string,
  kept: Set<string>,
  removed: string[],
): Promise<boolean> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(join(root, relDir)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false; // gone meanwhile: nothing to do
    throw error;
  }
  // A directory holding a state dir (below the root) is another mirror's root: left whole.
  if (relDir !== "" && entries.some((entry) => isStateDirPath(entry.name))) return false;
  let empty = true;
  for (const entry of entries) {
    const relPath = relDir === "" ? entry.name : `${relDir}/${entry.name}`;
    // Files, symlinks (even to dirs) and state dirs stay, ours or a nested mirror's, whose root (the
    // dir holding it) is therefore never empty; nothing inside a state dir is looked at.
    if (!entry.isDirectory || isStateDirPath(entry.name)) {
      empty = false;
      continue;
    }
    const childEmpty = await pruneBelow(root, relPath, kept, removed);
    if (childEmpty && !kept.has(relPath) && await removeIfEmpty(join(root, relPath))) {
      removed.push(relPath);
    } else {
      empty = false;
    }
  }
  return empty;
}

/**
 * rmdir(2), which removes nothing but an empty directory (unlike `Deno.remove`, which would unlink a
 * file that replaced the directory meanwhile): true when removed, false when it is no longer an
 * empty directory or is gone.
 */
async function removeIfEmpty(path: string): Promise<boolean> {
  try {
    await rmdir(path);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOENT" || code === "ENOTDIR") {
      return false;
    }
    throw error;
  }
}
