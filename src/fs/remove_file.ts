import { basename, join } from "node:path";
import { isStateDirPath } from "../paths.ts";
import { assertRelativePath, realParent, resolveRoot } from "./_util.ts";

/**
 * Removes the file at `relPath` (normalised relative posix path) under the mirror `root` (absolute):
 * a regular file, or a symlink itself (never its target). Resolves to true when it removed it, false
 * when nothing was there (already gone is not an error: deletes are retried across passes).
 *
 * Refuses, with an error naming the path, the root itself, anything in the state dir
 * `<root>/.data-mirror`, a path whose parent resolves (through symlinks) outside the mirror or into
 * the state dir, and a directory or other non-file.
 *
 * @example
 * ```ts
 * await removeMirrorFile("/home/pi/.viam/data_mirror", "images/old.jpg");
 * ```
 */
export async function removeMirrorFile(root: string, relPath: string): Promise<boolean> {
  assertRelativePath(relPath); // also refuses "" and ".", the root itself
  if (isStateDirPath(relPath)) {
    throw new Deno.errors.PermissionDenied(`refusing to remove ${relPath}: inside the state dir`);
  }
  let path: string;
  try {
    path = join(await realParent(await resolveRoot(root), relPath), basename(relPath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false; // root or parent dir already gone
    throw error;
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  if (!info.isFile && !info.isSymlink) {
    throw new Deno.errors.IsADirectory(
      `refusing to remove ${relPath}: not a file (${info.isDirectory ? "a directory" : "special"})`,
    );
  }
  try {
    // A symlink goes, its target stays. (Deno has no strict unlink: were a file swapped for a
    // directory since the lstat above, an empty one would go, a non-empty one is refused.)
    await Deno.remove(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  return true;
}
