// Helpers shared by the files of src/fs/: path checks and the small I/O steps of durable writes.
import { isAbsolute, join } from "node:path";
import { STATE_DIR_NAME } from "../paths.ts";

/** Mode of the directories the mirror creates. */
const _DIR_MODE = 0o755;
/** Mode of the files the mirror creates. */
export const FILE_MODE = 0o644;

/** Throws unless `root` is an absolute path: a relative root would depend on the working directory. */
export function assertAbsoluteRoot(root: string): void {
  if (!isAbsolute(root)) {
    throw new RangeError(`mirror root must be an absolute path, got "${root}"`);
  }
}

/**
 * Throws unless `relPath` is a normalised relative posix path naming something below the root:
 * no leading `/`, no empty, `.` or `..` segment, no NUL.
 */
export function assertRelativePath(relPath: string): void {
  const bad = relPath === "" || relPath.includes("\0") || relPath.startsWith("/") ||
    relPath.split("/").some((segment) => segment === "" || segment === "." || segment === "..");
  if (bad) {
    throw new RangeError(`"${relPath}" is not a normalised relative path inside the mirror`);
  }
}

/**
 * Creates (as needed) the state dir `<root>/.data-mirror` (`root` real), or a sub dir of it, and
 * returns its path. Refuses when one of them exists as a symlink or a non-directory: the state dir
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

/** fsyncs a directory so a rename, link or unlink in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}

/** Writes every byte of `bytes` (a single `write` may write fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
