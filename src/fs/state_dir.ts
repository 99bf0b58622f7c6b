/**
 * The program's own folder inside a mirror or a push folder: `.data-mirror`, holding the lock, the
 * partial downloads and the push journal.
 *
 * @module
 */
import { join } from "node:path";
import { STATE_DIR_NAME } from "../paths.ts";

/** Mode of the state folders. */
const _DIR_MODE = 0o755;

/**
 * Creates (as needed) the state dir `<root>/.data-mirror` (`root` real), or a sub dir of it, and
 * returns its path.
 *
 * @example
 * ```ts
 * const partial = await ensureStateDir("/home/pi/.viam/data_mirror", "partial");
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
      const info = await Deno.lstat(dir);
      if (!info.isDirectory) {
        throw new Deno.errors.NotADirectory(
          `state dir ${dir} must be a plain directory (found a ${
            info.isSymlink ? "symlink" : "file"
          }): remove it`,
        );
      }
    }
  }
  return dir;
}
